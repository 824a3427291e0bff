#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace the personal data in a Joomla database with deterministic fake values."""

from __future__ import annotations

DOCUMENTATION = r"""
module: joomla_scrub
author: otap.street maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Scrub the personal data out of a Joomla database
description:
  - Rewrites or deletes the personal data of a Joomla 4/5 database (by default the users' names,
    usernames, emails, passwords and second factors, profiles, notes, keys, sessions, action
    logs, privacy requests and consents, contacts, messages, banner clients, user and contact
    fields, search logs, history snapshots of users and contacts, voters' and referrers'
    addresses), in one transaction.
  - Usernames and emails become unique fakes keyed on each row (C(user42), C(user42@example.invalid)),
    every account gets the same known password (I(password_hash)), so the site stays usable.
  - I(extra_rules) extends the list with a site's own tables (forms, custom components); a rule is
    C(table) (without prefix), C(action) (update or delete), C(set) (column to value, C({id})
    standing for the row's C(key) column, C(@password) for the hash, null for NULL), C(where).
  - Joomla's tables kept under another prefix in the same database (C(bak_) from an install that kept
    the old tables, a migration's) are scrubbed by I(rules) as the site's are - a prefix counts when
    two of the rules' tables carry it.
  - Tables of I(rules) the site does not have are skipped and reported, as are columns a table lacks
    (Joomla's versions differ). A table or column of I(extra_rules) the database lacks fails the
    module, changing nothing - a site's own rule that scrubs nothing must not pass for one that
    worked. Column names are matched regardless of case, as MariaDB matches them.
  - Meant for a staging copy of Production's database before it is swapped in.
  - Then, with I(sweep), every row of every text (or binary) column of every table is searched for
    what looks like a real person's data the rules missed (an email address outside C(example.invalid), a phone number,
    an IBAN with a valid check); any hit fails the module naming table, column and kind (never the
    value), so the copy is never swapped in. I(sweep_skip) and I(sweep_public) name what is known
    not to be personal.
options:
  database:
    description: The database to scrub (a staging copy).
    type: str
    required: true
  prefix:
    description: Joomla's table prefix.
    type: str
    default: jos_
  password_hash:
    description: Password hash every account gets (a bcrypt hash of the known development password).
    type: str
    required: true
  rules:
    description: The personal data to scrub; the default is Joomla's (see module_utils/scrub.py).
    type: list
    elements: dict
  extra_rules:
    description: Rules of the site's own tables, run after I(rules).
    type: list
    elements: dict
    default: []
  sweep:
    description: Search every text column for personal data the rules missed, and fail on a hit.
    type: bool
    default: true
  sweep_skip:
    description:
      - Columns (C(table.column) without prefix, C(table.*) for a whole table) the sweep leaves out,
        besides Joomla's technical ones (C(extensions.manifest_cache), C(updates.*), C(update_sites.*)).
    type: list
    elements: str
    default: []
  sweep_public:
    description: Values that look personal but are public (the hospital's switchboard, a department's address).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
attributes:
  check_mode:
    support: full
    details: Reports the statements, runs none.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Scrub the staging copy
  otap.street.joomla_scrub:
    database: portal_sync
    prefix: jos_
    password_hash: "{{ development_password_hash }}"
    extra_rules:
      - table: rsform_submissions
        action: update
        key: SubmissionId
        set: {UserIp: 0.0.0.0}
"""

RETURN = r"""
steps:
  description: Per rule, the table, the SQL run, the rows it changed, and the columns the table lacked.
  type: list
  returned: always
absent:
  description: Tables of the rules the database does not have.
  type: list
  returned: always
swept:
  description: How many text columns the sweep searched.
  type: int
  returned: with I(sweep)
"""

import fnmatch

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import mariadb
from ansible_collections.otap.street.plugins.module_utils.scrub import (
    DEFAULT_RULES,
    SWEEP_FILTER,
    RuleError,
    other_prefixes,
    personal_data,
    plan,
)

# Text, and binary that may hold text (an extension's serialized form submissions).
TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json",
              "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
# Joomla's own technical columns: extension authors' addresses, update servers.
SWEEP_SKIP = ("extensions.manifest_cache", "updates.*", "update_sites.*")
# Rows fetched from the server at a time; every row the filter lets through is looked at, up to
# the first hit in a column.
SWEEP_BATCH = 2000


def skipped(table: str, column: str, prefix: str, skip) -> bool:
    name = table[len(prefix):] if table.startswith(prefix) else table
    return any(fnmatch.fnmatchcase(f"{name}.{column}", pattern) or fnmatch.fnmatchcase(name, pattern)
               for pattern in skip)


def sweep(connection, database: str, prefix: str, skip, public) -> tuple[int, list[dict]]:
    """Search every text column for personal data; (columns searched, hits by table and column)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = %s ORDER BY table_name, ordinal_position", (database,))
        columns = [(t, c) for t, c, kind in cursor.fetchall()
                   if kind.lower() in TEXT_TYPES and not skipped(t, c, prefix, skip)]
    hits = []
    for table, column in columns:
        kinds = set()
        with connection.cursor(mariadb.StreamingCursor) as cursor:
            cursor.execute(f"SELECT `{column}` FROM `{table}` WHERE `{column}` REGEXP %s", (SWEEP_FILTER,))
            while not kinds and (rows := cursor.fetchmany(SWEEP_BATCH)):
                kinds = {kind for (value,) in rows if value is not None
                         for kind, _value in personal_data(text_of(value), public)}
        if kinds:
            hits.append({"table": table, "column": column, "kinds": sorted(kinds)})
    return len(columns), hits


def text_of(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "database": {"type": "str", "required": True},
            "prefix": {"type": "str", "default": "jos_"},
            "password_hash": {"type": "str", "required": True, "no_log": True},
            "rules": {"type": "list", "elements": "dict"},
            "extra_rules": {"type": "list", "elements": "dict", "default": []},
            "sweep": {"type": "bool", "default": True},
            "sweep_skip": {"type": "list", "elements": "str", "default": []},
            "sweep_public": {"type": "list", "elements": "str", "default": []},
            **mariadb.argument_spec(),
        },
        supports_check_mode=True,
    )
    p = module.params
    connection = mariadb.connect(module, p["database"], autocommit=False)
    with connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
                           (p["database"],))
            schema: dict[str, set[str]] = {}
            for table, column in cursor.fetchall():
                schema.setdefault(table, set()).add(column)
        rules = DEFAULT_RULES if p["rules"] is None else p["rules"]
        try:
            # Joomla's tables kept under another prefix are scrubbed as the site's are.
            steps = [step for prefix in [p["prefix"]] + other_prefixes(p["prefix"], schema, rules)
                     for step in plan(rules, prefix, schema, p["password_hash"])]
            steps += plan(p["extra_rules"], p["prefix"], schema, p["password_hash"], required=True)
        except RuleError as error:
            module.fail_json(msg=f"a scrub rule is wrong: {error}")
        changed = False
        try:
            with connection.cursor() as cursor:
                for step in steps:
                    if step["sql"] and not module.check_mode:
                        step["rows"] = cursor.execute(step["sql"])
                        changed = changed or step["rows"] > 0
            connection.commit()
        except mariadb.Error as error:
            connection.rollback()
            module.fail_json(msg=f"scrubbing {step['table']} failed, nothing was changed: {error}")
        shown = [{k: v for k, v in s.items() if k != "absent"} for s in steps if not s["absent"]]
        for s in shown:
            s["sql"] = (s["sql"] or "").replace(p["password_hash"], "********")
        result = dict(changed=changed or (module.check_mode and any(s["sql"] for s in shown)), steps=shown,
                      absent=[s["table"] for s in steps if s["absent"]])
        if p["sweep"] and not module.check_mode:
            result["swept"], hits = sweep(connection, p["database"], p["prefix"], SWEEP_SKIP + tuple(p["sweep_skip"]),
                                          set(p["sweep_public"]))
            if hits:
                named = "; ".join(f"{h['table']}.{h['column']} ({', '.join(h['kinds'])})" for h in hits)
                module.fail_json(msg=f"personal data survived the scrub in {named}: add a rule for them "
                                     "(sync_scrub_rules), or name a public value (sync_sweep_public) or a column "
                                     "that holds none (sync_sweep_skip); the copy is not swapped in",
                                 hits=hits, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
