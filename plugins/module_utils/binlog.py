# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which transactions of a node its primary never got, read from the node's binary log.

A node of the pair that wrote while it was cut off (or a primary that crashed with commits its
standby had not yet received) holds transactions outside the new primary's history. Rebuilding
the node from the primary would drop them; these helpers find them, so they can be kept first.

MariaDB names every transaction by a GTID, domain-server-sequence. With gtid_strict_mode (the
pair's setting) sequence numbers only grow within a domain, so a node holds a transaction
D-S-N of server S when its highest sequence of server S in domain D is at least N. The primary's
highest sequences come from its binary log state and, for the server it last replicated from
before its own binary log was reset (a reseed), from its replica position.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

# mariadb-binlog's header line of a GTID event: "#261203 21:07:55 server id 1  end_log_pos 560
# CRC32 0x...\tGTID 0-1-57 trans" (also "cid=..." or "ddl" after the GTID).
# Anchored on the event header's checksum field: a table name on a Table_map line cannot pose as one.
_GTID_EVENT = re.compile(r"^#(\d{6}\s+\d{1,2}:\d\d:\d\d)\s+server id \d+\s+end_log_pos \d+\s+"
                         r"CRC32 0x[0-9a-f]{8}\s+GTID (\d+-\d+-\d+)\b(.*)$")
# A row event decoded with --verbose: "### INSERT INTO `portal`.`jos_content`".
_ROW = re.compile(r"^### (INSERT INTO|UPDATE|DELETE FROM) `((?:[^`]|``)*)`\.`((?:[^`]|``)*)`")
# Lines of a statement event that are the client's bookkeeping, not what the transaction did.
_BOOKKEEPING = re.compile(r"^(#|/\*|SET |BEGIN|START TRANSACTION|COMMIT|ROLLBACK|XA |DELIMITER|use |BINLOG '|'/\*!\*/;|$)")


def parse_gtids(text: str) -> list[tuple[int, int, int]]:
    """'0-1-100,0-2-130' (a GTID position or state) as (domain, server, sequence) triples."""
    found = []
    for item in (text or "").replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"not a GTID: {item!r}")
        found.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return found


def highest(*positions: str) -> dict[tuple[int, int], int]:
    """The highest sequence per (domain, server) over GTID states and positions."""
    known: dict[tuple[int, int], int] = {}
    for text in positions:
        for domain, server, sequence in parse_gtids(text):
            known[(domain, server)] = max(sequence, known.get((domain, server), 0))
    return known


def outside(gtid: str, known: dict[tuple[int, int], int]) -> bool:
    """Whether the transaction gtid lies beyond what known (from highest()) holds."""
    ((domain, server, sequence),) = parse_gtids(gtid)
    return sequence > known.get((domain, server), 0)


def beyond(state: str, known: dict[tuple[int, int], int]) -> bool:
    """Whether a node with GTID state `state` holds any transaction beyond known."""
    return any(sequence > known.get((domain, server), 0) for domain, server, sequence in parse_gtids(state))


@dataclass
class Transaction:
    gtid: str
    when: str
    lines: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        """What it did, without the values: 'INSERT INTO portal.jos_content: 2 rows', and the
        first line of each statement it ran (DDL, or DML logged as a statement)."""
        rows: Counter[str] = Counter()
        statements: list[str] = []
        inside = False
        for line in self.lines:
            row = _ROW.match(line)
            if row:
                operation, database, table = row.groups()
                rows[f"{operation} {database.replace('``', '`')}.{table.replace('``', '`')}"] += 1
            elif inside:
                inside = not line.rstrip().endswith("/*!*/;")
            elif not line.startswith("###") and not _BOOKKEEPING.match(line.strip()):
                statements.append(line.strip()[:80])
                inside = not line.rstrip().endswith("/*!*/;")
        return [f"{what}: {count} row{'s' if count != 1 else ''}" for what, count in rows.items()] + statements

    def summary(self) -> str:
        return f"{self.gtid} at {self.when}: {'; '.join(self.changes) or 'no change of data'}"


def _when(stamp: str) -> str:
    """mariadb-binlog's '261203 21:07:55' (the server's clock) as '2026-12-03 21:07:55'."""
    try:
        return datetime.strptime(" ".join(stamp.split()), "%y%m%d %H:%M:%S").strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return stamp


def transactions(lines, keep=lambda gtid: True) -> list[Transaction]:
    """The transactions in mariadb-binlog --verbose output whose GTID keep() accepts, each with
    its lines up to its COMMIT (a DDL's: up to its statement's end). Read as a stream: the lines
    of the others are not held in memory."""
    found: list[Transaction] = []
    current: Transaction | None = None
    ddl = False
    for line in lines:
        line = line.rstrip("\n")
        event = _GTID_EVENT.match(line)
        if event:
            current = Transaction(gtid=event.group(2), when=_when(event.group(1)))
            ddl = "ddl" in event.group(3).split()
            if keep(current.gtid):
                found.append(current)
            else:
                current = None
        if current is None:
            continue
        current.lines.append(line)
        ended = line.startswith(("COMMIT", "ROLLBACK")) if not ddl else (
            line.strip() == "/*!*/;" or line.rstrip().endswith("/*!*/;") and not _BOOKKEEPING.match(line))
        if ended:
            current = None
    return found


def stranded(lines, known: dict[tuple[int, int], int],
             upto: dict[tuple[int, int], int] | None = None) -> list[Transaction]:
    """The transactions in the decoded binary log that lie beyond what the primary holds (and,
    given `upto`, the node's state read before the primary's, within it: what a still
    replicating node receives meanwhile is the primary's, not its own)."""
    return transactions(lines, keep=lambda gtid: outside(gtid, known) and (upto is None or not outside(gtid, upto)))
