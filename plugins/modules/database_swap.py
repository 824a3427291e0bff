#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Swap a staging database in for a live one in one atomic rename, or fingerprint a database."""

from __future__ import annotations

DOCUMENTATION = r"""
module: database_swap
author: otap.street maintainers (!UNKNOWN)
version_added: 0.3.0
short_description: Swap a staging MariaDB database in for the live one, atomically
description:
  - With O(state=swapped), moves every table of I(database) into I(aside) and every table of
    I(staging) into I(database) in one C(RENAME TABLE) statement, which MariaDB applies
    atomically, then drops I(aside) and the emptied I(staging). A client of I(database) sees the
    old tables or the new ones, never a mixture and never none.
  - With O(state=read), changes nothing and only returns the fingerprint of I(database).
  - The fingerprint is a digest of C(CHECKSUM TABLE) over the database's tables, leaving out
    I(volatile) ones (Joomla's sessions change with every visit); equal fingerprints mean equal
    data.
  - Views and triggers cannot move between databases; a staging database holding one is refused
    before anything is renamed.
options:
  database:
    description: The live database (its name and its users' grants stay).
    type: str
    required: true
  staging:
    description: The database to swap in (required with O(state=swapped)).
    type: str
  aside:
    description: Where the live tables go until they are dropped; defaults to I(database) + C(_old).
    type: str
  state:
    description: C(swapped) swaps I(staging) in; C(read) only fingerprints I(database).
    type: str
    choices: [swapped, read]
    default: swapped
  volatile:
    description: Tables left out of the fingerprint, by full name.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
attributes:
  check_mode:
    support: full
    details: Reports the swap, renames nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Swap the scrubbed copy in
  otap.street.database_swap:
    database: portal
    staging: portal_sync
    volatile: [jos_session]
"""

RETURN = r"""
tables:
  description: The tables of I(database) after the call.
  type: list
  elements: str
  returned: always
fingerprint:
  description: Digest of the checksums of I(database)'s tables after the call (I(volatile) left out).
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import mariadb
from ansible_collections.otap.street.plugins.module_utils.swap import (
    SwapError,
    fingerprint,
    quoted,
    rename_statement,
)


def tables_of(cursor, database: str, kind: str = "BASE TABLE") -> list[str]:
    cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = %s",
                   (database, kind))
    return sorted(row[0] for row in cursor.fetchall())


def checksum(cursor, database: str, volatile: list[str]) -> str:
    tables = tables_of(cursor, database)
    if not tables:
        return fingerprint({}, volatile)
    cursor.execute("CHECKSUM TABLE " + ", ".join(f"{quoted(database)}.{quoted(t)}" for t in tables))
    return fingerprint({row[0].split(".", 1)[1]: row[1] for row in cursor.fetchall()}, volatile)


def swap(module, cursor, p: dict) -> bool:
    staging, live = p["staging"], p["database"]
    aside = p["aside"] or f"{live}_old"
    for kind in ("VIEW", "SYSTEM VIEW"):
        if tables_of(cursor, staging, kind):
            module.fail_json(msg=f"{staging} holds views, which cannot move between databases; nothing was swapped")
    cursor.execute("SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = %s", (staging,))
    if cursor.fetchone()[0]:
        module.fail_json(msg=f"{staging} holds triggers, which cannot move between databases; nothing was swapped")
    statement = rename_statement(live, staging, aside, tables_of(cursor, live), tables_of(cursor, staging))
    if module.check_mode:
        return True
    cursor.execute(f"DROP DATABASE IF EXISTS {quoted(aside)}")
    cursor.execute(f"CREATE DATABASE {quoted(aside)}")
    cursor.execute(statement)
    cursor.execute(f"DROP DATABASE {quoted(aside)}")
    cursor.execute(f"DROP DATABASE {quoted(staging)}")
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "database": {"type": "str", "required": True},
            "staging": {"type": "str"},
            "aside": {"type": "str"},
            "state": {"type": "str", "choices": ["swapped", "read"], "default": "swapped"},
            "volatile": {"type": "list", "elements": "str", "default": []},
            **mariadb.argument_spec(),
        },
        required_if=[("state", "swapped", ["staging"])],
        supports_check_mode=True,
    )
    p = module.params
    connection = mariadb.connect(module)
    with connection, connection.cursor() as cursor:
        try:
            changed = swap(module, cursor, p) if p["state"] == "swapped" else False
            module.exit_json(changed=changed, tables=tables_of(cursor, p["database"]),
                             fingerprint=checksum(cursor, p["database"], p["volatile"]))
        except SwapError as error:
            module.fail_json(msg=f"{error}; nothing was swapped")
        except mariadb.Error as error:
            module.fail_json(msg=f"swapping {p['staging']} in for {p['database']} failed: {error}")


if __name__ == "__main__":
    main()
