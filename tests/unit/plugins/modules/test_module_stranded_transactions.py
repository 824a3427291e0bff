"""The module's own part: where it reads, what it writes and removes; the binary log as a real
server printed it (the fixture of test_binlog), the server's answers given."""

from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.modules import stranded_transactions

FIXTURE = Path(__file__).parents[1] / "module_utils" / "fixtures" / "stray-binlog.txt"


def binlog_reader(path: Path, decoded: Path) -> str:
    """A stand-in for mariadb-binlog at `path` that writes `decoded` to its --result-file."""
    path.write_text("#!/bin/sh\nfor arg; do case $arg in --result-file=*) out=${arg#--result-file=};; esac; done\n"
                    f"cat '{decoded}' > \"$out\"\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def node(monkeypatch, tmp_path):
    """A node whose server reports state `0-2-100,0-1-102` and one binary log file."""
    monkeypatch.setattr(stranded_transactions, "read_server",
                        lambda module: ("0-2-100,0-1-102", [str(tmp_path / "mysql-bin.000001")]))
    return {"binlog_command": binlog_reader(tmp_path / "mariadb-binlog", FIXTURE), "dest": str(tmp_path / "stranded.txt")}


def test_what_the_primary_lacks_is_written_for_people_and_summarized_without_values(run_module, node):
    result = run_module(stranded_transactions, primary_state="0-2-100,0-1-100", primary_position="0-2-100", **node)
    assert result["changed"] and result["diverged"] and result["count"] == 2
    assert [t["gtid"] for t in result["transactions"]] == ["0-1-101", "0-1-102"]
    assert "Written on the stray" not in str(result)
    written = Path(node["dest"])
    assert "'Written on the stray'" in written.read_text() and written.stat().st_mode & 0o777 == 0o600
    again = run_module(stranded_transactions, primary_state="0-2-100,0-1-100", **node)
    assert not again["changed"] and again["count"] == 2


def test_check_mode_writes_nothing(run_module, node):
    result = run_module(stranded_transactions, primary_state="0-2-100,0-1-100", _ansible_check_mode=True, **node)
    assert result["changed"] and result["count"] == 2 and not Path(node["dest"]).exists()


def test_a_node_the_primary_is_level_with_keeps_nothing_and_an_old_copy_goes(run_module, node):
    Path(node["dest"]).write_text("an earlier reseed's copy")
    result = run_module(stranded_transactions, primary_state="0-2-130,0-1-102", **node)
    assert result["changed"] and not result["diverged"] and result["count"] == 0
    assert not Path(node["dest"]).exists()


def test_a_state_beyond_the_primary_whose_log_is_gone_is_still_diverged(run_module, node, monkeypatch):
    monkeypatch.setattr(stranded_transactions, "read_server", lambda module: ("0-1-102", []))
    result = run_module(stranded_transactions, primary_state="0-1-100", **node)
    assert result["diverged"] and result["count"] == 0 and "cannot be shown" in result["summary"][0]


def test_a_primary_state_that_is_not_gtids_is_refused(run_module, node):
    result = run_module(stranded_transactions, primary_state="0-1-100; DROP TABLE x", **node)
    assert result["failed"] and "cannot be read" in result["msg"]


def test_a_reader_that_fails_fails_the_module(run_module, node, tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho 'Could not read file' >&2\nexit 1\n")
    broken.chmod(0o755)
    result = run_module(stranded_transactions, primary_state="0-1-100", **(node | {"binlog_command": str(broken)}))
    assert result["failed"] and "Could not read file" in result["msg"]


def test_values_that_are_not_utf8_are_kept_byte_for_byte(run_module, node, tmp_path):
    raw = tmp_path / "latin1.txt"
    raw.write_bytes(FIXTURE.read_bytes().replace(b"'Written on the stray'", b"'caf\xe9 on the stray'"))
    binlog_reader(Path(node["binlog_command"]), raw)
    result = run_module(stranded_transactions, primary_state="0-2-100,0-1-100", **node)
    assert result["count"] == 2 and b"'caf\xe9 on the stray'" in Path(node["dest"]).read_bytes()


def test_only_transactions_within_the_node_state_read_first_count(run_module, node):
    result = run_module(stranded_transactions, primary_state="0-2-100,0-1-100", node_state="0-2-100,0-1-101", **node)
    assert [t["gtid"] for t in result["transactions"]] == ["0-1-101"]
