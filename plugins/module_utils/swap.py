# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Swapping a staging database in for a live one, all tables at once.

MariaDB renames any number of tables in one RENAME TABLE statement atomically: a client sees the
old set of tables or the new one, never a mixture. Moving the live tables aside into a third
database (instead of dropping them first) keeps the live name populated throughout.
"""

from __future__ import annotations

import hashlib
import re

_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class SwapError(ValueError):
    """A database name that is not an identifier, or databases that cannot be swapped."""


def quoted(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SwapError(f"not a database or table name: {name!r}")
    return f"`{name}`"


def rename_statement(live: str, staging: str, aside: str, live_tables: list[str], staging_tables: list[str]) -> str:
    """One RENAME TABLE: every live table to `aside`, then every staging table to `live`."""
    if len({live, staging, aside}) != 3:
        raise SwapError(f"the live, staging and aside databases must differ: {live}, {staging}, {aside}")
    if not staging_tables:
        raise SwapError(f"staging database {staging} holds no tables: nothing to swap in")
    moves = [f"{quoted(live)}.{quoted(t)} TO {quoted(aside)}.{quoted(t)}" for t in sorted(live_tables)]
    moves += [f"{quoted(staging)}.{quoted(t)} TO {quoted(live)}.{quoted(t)}" for t in sorted(staging_tables)]
    return "RENAME TABLE " + ", ".join(moves)


def fingerprint(checksums: dict[str, int | None], volatile: list[str]) -> str:
    """A digest of CHECKSUM TABLE's results, leaving out tables that change by themselves."""
    digest = hashlib.sha256()
    for table in sorted(checksums):
        if table not in volatile:
            digest.update(f"{table}={checksums[table]}\n".encode())
    return digest.hexdigest()
