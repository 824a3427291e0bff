#!/usr/bin/python
"""Replace the personal data in a Joomla database with deterministic fake values."""

from __future__ import annotations

DOCUMENTATION = r"""
module: joomla_scrub
author: otap.street maintainers
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
  - Tables the site does not have are skipped and reported, as are columns a table lacks.
  - Meant for a staging copy of Production's database before it is swapped in; it refuses a
    database whose name is not I(database).
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
  login_unix_socket:
    description: MariaDB socket; the module connects as the user running it (unix_socket auth).
    type: path
    default: /run/mysqld/mysqld.sock
notes:
  - Supports check mode (reports the statements, runs none).
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
"""

import getpass

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.otap.street.plugins.module_utils.scrub import DEFAULT_RULES, RuleError, plan

try:
    import pymysql
except ImportError:
    pymysql = None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "database": {"type": "str", "required": True},
            "prefix": {"type": "str", "default": "jos_"},
            "password_hash": {"type": "str", "required": True, "no_log": True},
            "rules": {"type": "list", "elements": "dict"},
            "extra_rules": {"type": "list", "elements": "dict", "default": []},
            "login_unix_socket": {"type": "path", "default": "/run/mysqld/mysqld.sock"},
        },
        supports_check_mode=True,
    )
    if pymysql is None:
        module.fail_json(msg=missing_required_lib("PyMySQL"))
    p = module.params
    rules = (DEFAULT_RULES if p["rules"] is None else p["rules"]) + p["extra_rules"]
    try:
        connection = pymysql.connect(unix_socket=p["login_unix_socket"], user=getpass.getuser(),
                                     database=p["database"], autocommit=False, charset="utf8mb4")
    except pymysql.MySQLError as error:
        module.fail_json(msg=f"cannot connect to database {p['database']}: {error}")
    with connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
                           (p["database"],))
            schema: dict[str, set[str]] = {}
            for table, column in cursor.fetchall():
                schema.setdefault(table, set()).add(column)
        try:
            steps = plan(rules, p["prefix"], schema, p["password_hash"])
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
        except pymysql.MySQLError as error:
            connection.rollback()
            module.fail_json(msg=f"scrubbing {step['table']} failed, nothing was changed: {error}")
    shown = [{k: v for k, v in s.items() if k != "absent"} for s in steps if not s["absent"]]
    for s in shown:
        s["sql"] = (s["sql"] or "").replace(p["password_hash"], "********")
    module.exit_json(changed=changed or (module.check_mode and any(s["sql"] for s in shown)), steps=shown,
                     absent=[s["table"] for s in steps if s["absent"]])


if __name__ == "__main__":
    main()
