from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.module_utils import binlog

# What mariadb-binlog 10.11 (--base64-output=decode-rows --verbose) printed for two binary log
# files of a server (id 1) that got 0-2-98..100 from its peer (a database, a table, two rows),
# then wrote 0-1-101 (a row inserted, two updated) and 0-1-102 (ALTER TABLE) on its own.
DECODED = (Path(__file__).parent / "fixtures" / "stray-binlog.txt").read_text()


def test_gtid_states_and_positions_are_read_per_domain_and_server():
    assert binlog.highest("0-1-100,0-2-130", "0-2-131", "1-5-7") == {(0, 1): 100, (0, 2): 131, (1, 5): 7}
    assert binlog.highest("", " ") == {}


@pytest.mark.parametrize("text", ["0-1", "0-1-x", "a-b-c", "0-1-2-3", "0-1-2;DROP"])
def test_what_is_not_a_gtid_is_refused(text):
    with pytest.raises(ValueError, match="not a GTID"):
        binlog.parse_gtids(text)


def test_a_transaction_is_outside_when_the_primary_has_a_lower_sequence_of_its_server():
    known = binlog.highest("0-1-100,0-2-130")
    assert binlog.outside("0-1-101", known) and not binlog.outside("0-1-100", known)
    # 0-1-101 was never the primary's, though the primary's own sequence went past it.
    assert binlog.outside("0-1-101", binlog.highest("0-2-130"))
    assert binlog.outside("1-1-1", known)
    assert binlog.beyond("0-1-101,0-2-130", known) and not binlog.beyond("0-1-99,0-2-120", known)


def test_the_primarys_replica_position_counts_after_its_binary_log_was_reset():
    # Rebuilt from this node's dump at 0-1-100, it has those transactions though its binary log does not.
    known = binlog.highest("0-2-140", "0-1-100")
    assert not binlog.beyond("0-1-100", known)


def test_the_transactions_beyond_the_primary_are_kept_with_their_rows_and_summarized_without_values():
    found = binlog.stranded(DECODED.splitlines(), binlog.highest("0-1-100,0-2-130"))
    assert [t.gtid for t in found] == ["0-1-101", "0-1-102"]
    insert, ddl = found
    assert insert.changes == ["INSERT INTO portal.jos_content: 1 row", "UPDATE portal.jos_content: 2 rows"]
    assert "Written on the stray" in "\n".join(insert.lines)
    assert "Written on the stray" not in insert.summary()
    assert insert.summary().startswith("0-1-101 at 2026-12-03 21:03:27: INSERT INTO")
    assert ddl.changes == ["ALTER TABLE jos_content ADD COLUMN stray_note VARCHAR(20)"]
    # Each ends with its own end: the next binary log file's opening is not the DDL's.
    assert insert.lines[-1] == "COMMIT/*!*/;" and ddl.lines[-1] == "/*!*/;"


def test_nothing_is_kept_of_what_the_primary_has():
    assert binlog.stranded(DECODED.splitlines(), binlog.highest("0-1-102,0-2-130")) == []


def test_a_table_named_like_a_gtid_event_does_not_start_a_transaction():
    table_map = ("#261203 21:03:27 server id 1  end_log_pos 1361 CRC32 0xfd5198f9 \tTable_map: "
                 "`portal`.`x GTID 0-1-999 trans` mapped to number 18")
    lines = DECODED.replace(
        "#261203 21:03:27 server id 1  end_log_pos 1361 CRC32 0xfd5198f9 \tTable_map: `portal`.`jos_content` "
        "mapped to number 18", table_map).splitlines()
    assert table_map in lines
    found = binlog.stranded(lines, binlog.highest("0-1-100,0-2-130"))
    assert [t.gtid for t in found] == ["0-1-101", "0-1-102"]
    assert found[0].changes[0] == "INSERT INTO portal.jos_content: 1 row"


def test_what_a_replicating_node_receives_after_its_state_was_read_is_not_its_own():
    # Read at 0-1-101 (its own write), then the primary's state, then 0-1-102 arrived: not counted.
    found = binlog.stranded(DECODED.splitlines(), binlog.highest("0-1-100,0-2-130"), upto=binlog.highest("0-1-101"))
    assert [t.gtid for t in found] == ["0-1-101"]
