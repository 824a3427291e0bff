#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Give one MariaDB account, at each of its client hosts, exactly the rights named on the databases
named: what a loop of community.mysql.mysql_user over the hosts does, in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: account_rights
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Set one MariaDB account's rights on named databases, at all its client hosts, in one call
description:
  - The account C(user@host), for every host in I(hosts), gets exactly the rights of I(privileges)
    on the databases I(privileges) names, at database level and table level; rights it has there
    beyond them are revoked, and so is every column-level right there. Rights on other databases,
    and global rights, are left alone.
  - A database name is that database alone. At database level C(GRANT) reads C(_) and C(%) in a
    name as wildcards (C(db_a) also matches C(dbXa)), so the module writes them escaped; a grant on
    the same name unescaped (as C(community.mysql.mysql_user) writes it, as earlier versions of the
    site's playbook gave it) is revoked.
  - The account must hold nothing else that reaches a named database, or nothing is changed - a
    right on C(*.*) beyond C(USAGE), a database-level grant on a pattern that matches the name
    (C(%), C(site%)), a role, or any right given to C(PUBLIC) there. Those are revoked by hand; the
    module does not take rights away from other databases or other grantees.
  - The work of a loop of C(community.mysql.mysql_user) over the hosts (one call per host), in one
    call - a release holds the site's writes and gives them back this way. Rights are granted
    before others are revoked, so a right that both sets hold (the site's sessions) never lapses.
  - Every account must exist (the site's playbook makes them); nothing is created. In check mode an
    account that does not exist yet is read as holding nothing (its creation is checked beside it).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
options:
  user:
    description: The account's user name.
    type: str
    required: true
  hosts:
    description: The account's client hosts (C(localhost), addresses).
    type: list
    elements: str
    required: true
  privileges:
    description:
      - The rights, in C(community.mysql.mysql_user)'s C(priv) form -
        C(DB.*:PRIV,PRIV/DB.TABLE:PRIV) - with plain names (letters, digits, C(_), C($)). C(ALL) and
        C(GRANT OPTION) are refused.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: Reports the statements it would run.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Hold the site's writes (its sessions stay writable)
  otap.street.account_rights:
    user: joomla
    hosts: [localhost, 10.242.42.20]
    privileges: joomla.*:SELECT/joomla.jos_session:SELECT,INSERT,UPDATE,DELETE
"""

RETURN = r"""
statements:
  description: The GRANT and REVOKE statements run (or, in check mode, that would run), in order.
  type: list
  elements: str
  returned: always
  sample: ["REVOKE INSERT ON `joomla`.* FROM 'joomla'@'localhost'"]
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import mariadb

# What a database or a table may be granted (MariaDB 10.11), by the names information_schema shows.
DATABASE_RIGHTS = frozenset((
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX", "REFERENCES", "CREATE TEMPORARY TABLES",
    "LOCK TABLES", "CREATE VIEW", "SHOW VIEW", "TRIGGER", "EXECUTE", "EVENT", "CREATE ROUTINE", "ALTER ROUTINE",
    "DELETE HISTORY",
))
TABLE_RIGHTS = frozenset((
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX", "REFERENCES", "CREATE VIEW",
    "SHOW VIEW", "TRIGGER", "DELETE HISTORY",
))
NAME = re.compile(r"[A-Za-z0-9_$]{1,64}")
USER = re.compile(r"[A-Za-z0-9_.-]{1,80}")
HOST = re.compile(r"[A-Za-z0-9_.:%-]{1,255}")
# The columns of mysql.user that hold each right at global level (on *.*, every database).
GLOBAL_COLUMNS = {right: right.capitalize().replace(" ", "_") + "_priv" for right in DATABASE_RIGHTS} | {
    "CREATE TEMPORARY TABLES": "Create_tmp_table_priv",
}


class Refused(ValueError):
    """Input this module does not act on."""


@dataclass
class Grants:
    """What one grantee holds: database-level rights keyed (pattern as stored, None), table-level
    (database, table), column-level (database, table, right) to columns; rights on *.*; roles."""
    rights: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)
    everywhere: frozenset = frozenset()
    roles: tuple = ()


def parse(privileges: str) -> dict[tuple[str, str | None], frozenset[str]]:
    """(database, table or None for the whole database) to its rights, from mysql_user's priv form."""
    wanted: dict[tuple[str, str | None], frozenset[str]] = {}
    for part in privileges.split("/"):
        scope, colon, rights = part.strip().rpartition(":")
        database, dot, table = scope.partition(".")
        if not colon or not dot or not NAME.fullmatch(database) or not (table == "*" or NAME.fullmatch(table)):
            raise Refused(f"{part.strip()!r} is not DB.*:RIGHTS or DB.TABLE:RIGHTS with plain names")
        names = frozenset(" ".join(right.split()).upper() for right in rights.split(",") if right.strip())
        allowed = DATABASE_RIGHTS if table == "*" else TABLE_RIGHTS
        if not names or names - allowed:
            raise Refused(f"{scope}: {', '.join(sorted(names - allowed)) or 'no rights'} cannot be given here "
                          f"(one of {', '.join(sorted(allowed))})")
        key = (database, None if table == "*" else table)
        if key in wanted:
            raise Refused(f"{scope} is named twice")
        wanted[key] = names
    return wanted


def exact(database: str) -> str:
    """The name a database-level grant reads as this database alone: `_` and `%` escaped."""
    return re.sub(r"([\\_%])", r"\\\1", database)


def unescaped(pattern: str) -> str:
    """The name a database-level grant's pattern spells, its escapes taken as written."""
    return re.sub(r"\\(.)", r"\1", pattern, flags=re.S)


def reaches(pattern: str, database: str) -> bool:
    """Whether a database-level grant on `pattern` covers `database` (`_` one character, `%` any)."""
    wildcards = {"%": ".*", "_": "."}
    spelled = "".join(re.escape(literal) if literal else wildcards.get(char) or re.escape(char)
                      for literal, char in re.findall(r"\\(.)|(.)", pattern, flags=re.S))
    return re.fullmatch(spelled, database, flags=re.S) is not None


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def scope_of(database: str, table: str | None) -> str:
    return f"{quoted(database)}.{'*' if table is None else quoted(table)}"


def changes(wanted: dict, held: dict[str, dict], hosts: list[str],
            columns: dict[str, dict] | None = None) -> list[tuple[str, str, tuple, tuple]]:
    """The statements that take every host's `held` rights (keyed as Grants.rights) to `wanted`
    (as parse() gives it) on the databases `wanted` names, and revoke every column-level right there
    (`columns`: per host, as Grants.columns): (verb, scope, rights, hosts), grants first, hosts alike
    in one. A database-level grant is written on the name escaped; one on the same name spelled
    otherwise (`_` left a wildcard) is revoked."""
    databases = {key[0] for key in wanted}
    target = {(exact(database) if table is None else database, table): rights
              for (database, table), rights in wanted.items()}
    grouped: dict[tuple[str, str, tuple], list[str]] = defaultdict(list)
    for host in hosts:
        has = {key: rights for key, rights in held[host].items()
               if (unescaped(key[0]) if key[1] is None else key[0]) in databases}
        for key in sorted(set(target) | set(has), key=lambda k: (k[0], k[1] or "")):
            want, got = target.get(key, frozenset()), has.get(key, frozenset())
            if want - got:
                grouped[("GRANT", scope_of(*key), tuple(sorted(want - got)))].append(host)
            if got - want:
                grouped[("REVOKE", scope_of(*key), tuple(sorted(got - want)))].append(host)
        for (database, table, right), names in sorted((columns or {}).get(host, {}).items()):
            if database in databases:
                listed = ", ".join(quoted(name) for name in sorted(names))
                grouped[("REVOKE", scope_of(database, table), (f"{right} ({listed})",))].append(host)
    ordered = sorted(grouped.items(), key=lambda item: item[0][0] != "GRANT")  # stable: grants, then revokes
    return [(verb, scope, rights, tuple(hosts)) for (verb, scope, rights), hosts in ordered]


def beyond(grantee: str, grants: Grants, databases: set[str], own: bool = True) -> list[str]:
    """What `grantee` holds that reaches a named database and that this module does not set: roles,
    rights on *.*, database-level grants on a pattern covering the name. Not `own` (PUBLIC, whose
    rights every account holds): any right on a named database at all."""
    found = [f"{grantee} holds the role {role}" for role in grants.roles]
    if grants.everywhere & DATABASE_RIGHTS:
        found.append(f"{grantee} holds {', '.join(sorted(grants.everywhere & DATABASE_RIGHTS))} on *.*")
    for (name, table), rights in sorted(grants.rights.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        if table is None:
            covered = sorted(database for database in databases if reaches(name, database))
            if covered and (not own or unescaped(name) not in databases):
                found.append(f"{grantee} holds {', '.join(sorted(rights))} on {scope_of(name, None)}, "
                             f"which reaches {', '.join(covered)}")
        elif not own and name in databases:
            found.append(f"{grantee} holds {', '.join(sorted(rights))} on {scope_of(name, table)}")
    if not own:
        found += [f"{grantee} holds {right} on columns of {scope_of(database, table)}"
                  for database, table, right in sorted(grants.columns) if database in databases]
    return found


def statement(verb: str, scope: str, rights: tuple, hosts: tuple, user: str) -> str:
    grantees = ", ".join(f"'{user}'@'{host}'" for host in hosts)  # both checked against USER and HOST
    return f"{verb} {', '.join(rights)} ON {scope} {'TO' if verb == 'GRANT' else 'FROM'} {grantees}"


def read_grants(cursor, user: str, host: str) -> Grants:
    """What 'user'@'host' holds. information_schema compares grantees regardless of case: only rows
    of this very user name count."""
    grantee = f"'{user}'@'{host}'"
    mine = f"'{user}'@"
    rights: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    cursor.execute("SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES "
                   "WHERE GRANTEE = %s", (grantee,))
    for who, database, right in cursor.fetchall():
        if who.startswith(mine):
            rights[(database, None)].add(right)
    cursor.execute("SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES "
                   "WHERE GRANTEE = %s", (grantee,))
    for who, database, table, right in cursor.fetchall():
        if who.startswith(mine):
            rights[(database, table)].add(right)
    by_column: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    cursor.execute("SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE "
                   "FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = %s", (grantee,))
    for who, database, table, column, right in cursor.fetchall():
        if who.startswith(mine):
            by_column[(database, table, right)].add(column)
    names = sorted(GLOBAL_COLUMNS)
    cursor.execute(f"SELECT {', '.join(GLOBAL_COLUMNS[name] for name in names)} FROM mysql.user "
                   "WHERE BINARY User = %s AND BINARY Host = %s", (user, host))
    row = cursor.fetchone() or ()
    cursor.execute("SELECT Role FROM mysql.roles_mapping WHERE BINARY User = %s AND BINARY Host = %s ORDER BY Role",
                   (user, host))
    return Grants(rights={key: frozenset(names) for key, names in rights.items()}, columns=dict(by_column),
                  everywhere=frozenset(name for name, value in zip(names, row) if value == "Y"),
                  roles=tuple(role for (role,) in cursor.fetchall()))


def read_rights(cursor, user: str, hosts: list[str], check_mode: bool = False) -> tuple[dict[str, Grants], Grants]:
    """Each host's Grants, and PUBLIC's; Refused for a missing account (in check mode, read as
    holding nothing: the playbook that makes it is being checked too)."""
    held: dict[str, Grants] = {}
    for host in hosts:
        cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE BINARY User = %s AND Host = %s", (user, host))
        if cursor.fetchone()[0]:
            held[host] = read_grants(cursor, user, host)
        elif check_mode:
            held[host] = Grants()
        else:
            raise Refused(f"the account '{user}'@'{host}' does not exist (the site's playbook makes it)")
    return held, read_grants(cursor, "PUBLIC", "")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str", required=True),
            hosts=dict(type="list", elements="str", required=True),
            privileges=dict(type="str", required=True),
            **mariadb.argument_spec(),
        ),
        supports_check_mode=True,
    )
    p = module.params
    hosts = list(dict.fromkeys(host.lower() for host in p["hosts"]))  # MariaDB keeps host names in lower case
    try:
        if not USER.fullmatch(p["user"]):
            raise Refused(f"{p['user']!r} is not a plain account name")
        bad = [host for host in hosts if not HOST.fullmatch(host)]
        if bad or not hosts:
            raise Refused(f"not plain client hosts: {bad or 'none given'}")
        wanted = parse(p["privileges"])
    except Refused as error:
        module.fail_json(msg=f"{error} (nothing was changed)")
    connection = mariadb.connect(module)
    done = []
    try:
        with connection.cursor() as cursor:
            held, public = read_rights(cursor, p["user"], hosts, module.check_mode)
            databases = {key[0] for key in wanted}
            reaching = [found for host in hosts for found in beyond(f"'{p['user']}'@'{host}'", held[host], databases)]
            reaching += beyond("PUBLIC", public, databases, own=False)
            if reaching:
                raise Refused(f"the rights on {', '.join(sorted(databases))} cannot be made exact: "
                              f"{'; '.join(reaching)} (revoke that by hand)")
            todo = [statement(*change, p["user"]) for change in changes(
                wanted, {host: grants.rights for host, grants in held.items()}, hosts,
                {host: grants.columns for host, grants in held.items()})]
            for sql in todo:
                if not module.check_mode:
                    cursor.execute(sql)
                done.append(sql)
    except Refused as error:
        module.fail_json(msg=f"{error} (nothing was changed)")
    except mariadb.Error as error:
        module.fail_json(msg=f"cannot set the rights of {p['user']}: {error}; done before it: {done or 'nothing'}",
                         statements=done)
    finally:
        connection.close()
    module.exit_json(changed=bool(done), statements=done)


if __name__ == "__main__":
    main()
