"""Applying a release's SQL scripts: the parts that need no database, so they can be tested alone."""

from __future__ import annotations

import hashlib
import re

from ansible_collections.otap.street.plugins.module_utils.release_policy import split_statements

HISTORY = "otap_schema_history"
RELEASES = "otap_release_history"
SNAPSHOTS = "otap_snapshots"

_READ_ONLY = re.compile(r"^(SELECT|SET|SHOW|DESCRIBE|DESC|EXPLAIN|DO)\b", re.I)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"")


def replace_prefix(statement: str, prefix: str) -> str:
    """Replace Joomla's `#__` with the table prefix everywhere except inside string literals."""
    out, last = [], 0
    for match in _QUOTED.finditer(statement):
        out.append(statement[last:match.start()].replace("#__", prefix))
        out.append(match.group(0))
        last = match.end()
    out.append(statement[last:].replace("#__", prefix))
    return "".join(out)


def statements(sql: str, prefix: str) -> list[tuple[int, str]]:
    return [(line, replace_prefix(text, prefix)) for line, text in split_statements(sql)]


def touched_tables(sql: str) -> list[str]:
    """Tables (with `#__`) a script may change, conservatively: every table named outside string
    literals by a statement that is not a plain read."""
    found: list[str] = []
    for _, text in split_statements(sql):
        if _READ_ONLY.match(text):
            continue
        bare = _QUOTED.sub("''", text)
        for name in re.findall(r"#__[A-Za-z0-9_$]+", bare):
            if name not in found:
                found.append(name)
    return found


def snapshot_name(prefix: str, release: int, table: str) -> str:
    """Name of the copy of `table` (with prefix) taken before release `release` changes it; <= 64 chars."""
    name = f"{prefix}otap_snap{release}_{table[len(prefix):]}"
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:12]
    return f"{prefix}otap_snap{release}_{digest}"[:64]


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
