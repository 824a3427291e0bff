#!/usr/bin/python
"""Apply a release's SQL scripts to a Joomla site's database, with a history like Flyway's."""

from __future__ import annotations

DOCUMENTATION = r"""
module: joomla_migrate
author: otap.street maintainers
version_added: 0.1.0
short_description: Apply release SQL scripts once, with history and a way back
description:
  - Applies the C(sql/*.sql) scripts of one or more releases, in release then name order, to the
    database of the Joomla site whose C(configuration.php) is given; C(#__) is replaced by the
    site's C(dbprefix) outside string literals.
  - Every script is recorded in C(#__otap_schema_history) in the site's own database (release,
    script, checksum, applied by, applied at, duration, success). A script already applied is
    skipped; a script whose checksum changed since it was applied is an error.
  - Before a script runs, every table it may change is copied aside (C(#__otap_snapshots) lists
    the copies). When a script fails, everything this rollout applied is undone from those copies
    and the module fails naming the release, script, line and error; the database is as it was.
    MariaDB commits DDL implicitly, so this is the only way back a migration has.
  - I(state=finalized) records the releases in C(#__otap_release_history) and drops the copies;
    I(state=rolled_back) restores the copies of a rollout whose later steps failed;
    I(state=recorded) notes that the site now runs release I(releases[0]) (its first release, or a
    rollback of the code);
    I(state=query) only reads.
options:
  config:
    description: The site's C(configuration.php); gives the database name and table prefix.
    type: path
    required: true
  state:
    description: What to do.
    type: str
    choices: [applied, finalized, rolled_back, recorded, query]
    default: applied
  releases:
    description: The numbers of the releases, in order.
    type: list
    elements: int
    default: []
  unpacked_dir:
    description: >-
      Folder holding each verified package unpacked as C(<N>/); the scripts are in C(<N>/sql/),
      the title in C(<N>/manifest.yml). Needed for C(applied) and C(finalized).
    type: path
  rollout:
    description: Identifies this rollout (the run id), so its steps can be finalised or undone.
    type: str
    default: ""
  applied_by:
    description: Who applies the scripts.
    type: str
    default: otap.street
  login_unix_socket:
    description: MariaDB socket; the module connects as the user running it (unix_socket auth).
    type: path
    default: /run/mysqld/mysqld.sock
requirements:
  - PyMySQL
notes:
  - Supports check mode (reports which scripts would run).
"""

EXAMPLES = r"""
- name: Apply the SQL of releases 3 and 4
  otap.street.joomla_migrate:
    config: /var/www/portal/shared/configuration.php
    releases: [3, 4]
    unpacked_dir: /var/lib/otap-release/unpacked
    rollout: "{{ otap_run_id }}"
"""

RETURN = r"""
applied:
  description: The scripts applied by this call, with their duration in milliseconds.
  type: list
  elements: dict
  returned: success
skipped:
  description: The scripts that were already applied.
  type: list
  elements: dict
  returned: success
current_release:
  description: The release the site's database records as current (0 when none).
  type: int
  returned: success
history:
  description: The rows of the schema history.
  type: list
  elements: dict
  returned: state=query
"""

import getpass
import os
import time
from pathlib import Path

import yaml

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.otap.street.plugins.module_utils.joomla import JoomlaFileError, parse_config
from ansible_collections.otap.street.plugins.module_utils.migrate import (
    HISTORY,
    RELEASES,
    SNAPSHOTS,
    checksum,
    snapshot_name,
    statements,
    touched_tables,
)

try:
    import pymysql
except ImportError:
    pymysql = None


class Migration:
    def __init__(self, module, connection, database: str, prefix: str, rollout: str, applied_by: str):
        self.module, self.db, self.schema, self.prefix = module, connection, database, prefix
        self.rollout, self.applied_by = rollout, applied_by
        self.history, self.releases, self.snapshots = (prefix + t for t in (HISTORY, RELEASES, SNAPSHOTS))

    def query(self, sql: str, args=()) -> list[dict]:
        with self.db.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def run(self, sql: str, args=None) -> None:
        with self.db.cursor() as cursor:
            cursor.execute(sql, args)

    def ensure_tables(self) -> None:
        self.run(f"""CREATE TABLE IF NOT EXISTS `{self.history}` (
            installed_rank INT AUTO_INCREMENT PRIMARY KEY, release_number INT NOT NULL,
            script VARCHAR(255) NOT NULL, checksum CHAR(64) NOT NULL, applied_by VARCHAR(100) NOT NULL,
            applied_at DATETIME(3) NOT NULL, execution_ms INT NOT NULL, success TINYINT NOT NULL,
            rollout VARCHAR(64) NOT NULL DEFAULT '', message TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")
        self.run(f"""CREATE TABLE IF NOT EXISTS `{self.releases}` (
            id INT AUTO_INCREMENT PRIMARY KEY, release_number INT NOT NULL, title VARCHAR(255) NOT NULL,
            action VARCHAR(20) NOT NULL, applied_by VARCHAR(100) NOT NULL, applied_at DATETIME(3) NOT NULL,
            rollout VARCHAR(64) NOT NULL DEFAULT '') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")
        self.run(f"""CREATE TABLE IF NOT EXISTS `{self.snapshots}` (
            id INT AUTO_INCREMENT PRIMARY KEY, release_number INT NOT NULL, table_name VARCHAR(64) NOT NULL,
            snapshot_name VARCHAR(64) NOT NULL, existed TINYINT NOT NULL, rollout VARCHAR(64) NOT NULL)
            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")

    def current_release(self) -> int:
        if not self.table_exists(self.releases):
            return 0
        rows = self.query(f"SELECT release_number FROM `{self.releases}` ORDER BY id DESC LIMIT 1")
        return int(rows[0]["release_number"]) if rows else 0

    def table_exists(self, table: str) -> bool:
        rows = self.query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = %s "
                          "AND table_name = %s", (self.schema, table))
        return rows[0]["n"] > 0

    def applied_checksum(self, release: int, script: str) -> str | None:
        if not self.table_exists(self.history):
            return None
        rows = self.query(f"SELECT checksum FROM `{self.history}` WHERE release_number = %s AND script = %s "
                          "AND success = 1", (release, script))
        return rows[0]["checksum"] if rows else None

    def snapshot(self, release: int, tables: list[str]) -> None:
        taken = {r["table_name"] for r in self.query(
            f"SELECT table_name FROM `{self.snapshots}` WHERE release_number = %s", (release,))}
        for table in tables:
            if table in taken:
                continue
            copy, existed = snapshot_name(self.prefix, release, table), self.table_exists(table)
            if existed:
                self.run(f"DROP TABLE IF EXISTS `{copy}`")
                self.run(f"CREATE TABLE `{copy}` LIKE `{table}`")
                self.run(f"INSERT INTO `{copy}` SELECT * FROM `{table}`")
            self.run(f"INSERT INTO `{self.snapshots}` (release_number, table_name, snapshot_name, existed, rollout) "
                     "VALUES (%s, %s, %s, %s, %s)", (release, table, copy, int(existed), self.rollout))

    def restore(self, releases: list[int]) -> list[str]:
        restored = []
        for release in sorted(releases, reverse=True):
            for row in self.query(f"SELECT * FROM `{self.snapshots}` WHERE release_number = %s ORDER BY id DESC",
                                  (release,)):
                table, copy = row["table_name"], row["snapshot_name"]
                if row["existed"]:
                    if self.table_exists(table):
                        aside = snapshot_name(self.prefix, 0, table)
                        self.run(f"DROP TABLE IF EXISTS `{aside}`")
                        self.run(f"RENAME TABLE `{table}` TO `{aside}`, `{copy}` TO `{table}`")
                        self.run(f"DROP TABLE `{aside}`")
                    else:
                        self.run(f"RENAME TABLE `{copy}` TO `{table}`")
                else:
                    self.run(f"DROP TABLE IF EXISTS `{table}`")
                restored.append(table)
            self.run(f"DELETE FROM `{self.snapshots}` WHERE release_number = %s", (release,))
            self.run(f"DELETE FROM `{self.history}` WHERE release_number = %s AND rollout = %s AND success = 1",
                     (release, self.rollout))
        return restored

    def drop_snapshots(self, release: int) -> None:
        for row in self.query(f"SELECT snapshot_name, existed FROM `{self.snapshots}` WHERE release_number = %s",
                              (release,)):
            if row["existed"]:
                self.run(f"DROP TABLE IF EXISTS `{row['snapshot_name']}`")
        self.run(f"DELETE FROM `{self.snapshots}` WHERE release_number = %s", (release,))

    def record(self, release: int, script: str, digest: str, millis: int, success: bool, message=None) -> None:
        self.run(f"INSERT INTO `{self.history}` (release_number, script, checksum, applied_by, applied_at, "
                 "execution_ms, success, rollout, message) VALUES (%s, %s, %s, %s, NOW(3), %s, %s, %s, %s)",
                 (release, script, digest, self.applied_by, millis, int(success), self.rollout, message))

    def note_release(self, release: int, title: str, action: str) -> bool:
        if self.query(f"SELECT id FROM `{self.releases}` WHERE release_number = %s AND action = %s AND rollout = %s",
                      (release, action, self.rollout)):
            return False
        self.run(f"INSERT INTO `{self.releases}` (release_number, title, action, applied_by, applied_at, rollout) "
                 "VALUES (%s, %s, %s, %s, NOW(3), %s)", (release, title, action, self.applied_by, self.rollout))
        return True


def scripts_of(release: dict) -> list[Path]:
    folder = Path(release["dir"]) / "sql"
    return sorted(folder.glob("*.sql")) if folder.is_dir() else []


def title_of(release: dict) -> str:
    manifest = Path(release["dir"]) / "manifest.yml"
    return yaml.safe_load(manifest.read_text()).get("title", "") if manifest.is_file() else ""


def apply(module, migration: Migration, releases: list[dict]) -> dict:
    plan, skipped = [], []
    for release in releases:
        for script in scripts_of(release):
            digest = checksum(script.read_bytes())
            done = migration.applied_checksum(release["release"], script.name)
            if done is None:
                plan.append((release["release"], script, digest))
            elif done != digest:
                module.fail_json(msg=f"release {release['release']}: {script.name} was applied with checksum "
                                     f"{done[:12]}, the package now has {digest[:12]}: a script must not change "
                                     "after it was applied; ship the change as a new script in a new release")
            else:
                skipped.append({"release": release["release"], "script": script.name})
    if module.check_mode or not plan:
        return dict(changed=bool(plan), applied=[{"release": r, "script": s.name} for r, s, _ in plan],
                    skipped=skipped)
    applied = []
    for release, script, digest in plan:
        sql = script.read_text(encoding="utf-8")
        migration.snapshot(release, [t.replace("#__", migration.prefix, 1) for t in touched_tables(sql)])
        started = time.monotonic()
        for line, statement in statements(sql, migration.prefix):
            try:
                migration.run(statement)
            except pymysql.MySQLError as error:
                millis = int((time.monotonic() - started) * 1000)
                migration.record(release, script.name, digest, millis, False, f"line {line}: {error}")
                restored = migration.restore(sorted({r for r, _, _ in plan}))
                module.fail_json(
                    msg=f"release {release}: sql/{script.name} line {line} failed ({error.args[-1]}); the "
                        f"database was returned to where it was before this rollout "
                        f"(restored: {', '.join(restored) or 'nothing to restore'})",
                    applied=applied, restored=restored)
        millis = int((time.monotonic() - started) * 1000)
        migration.record(release, script.name, digest, millis, True)
        applied.append({"release": release, "script": script.name, "ms": millis})
    return dict(changed=True, applied=applied, skipped=skipped)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="path", required=True),
            state=dict(type="str", default="applied",
                       choices=["applied", "finalized", "rolled_back", "recorded", "query"]),
            releases=dict(type="list", elements="int", default=[]),
            unpacked_dir=dict(type="path"),
            rollout=dict(type="str", default=""),
            applied_by=dict(type="str", default="otap.street"),
            login_unix_socket=dict(type="path", default="/run/mysqld/mysqld.sock"),
        ),
        required_if=[("state", "applied", ["rollout", "unpacked_dir"]), ("state", "finalized", ["rollout", "unpacked_dir"]),
                     ("state", "rolled_back", ["rollout"]), ("state", "recorded", ["rollout"])],
        supports_check_mode=True,
    )
    if pymysql is None:
        module.fail_json(msg=missing_required_lib("PyMySQL"))
    p = module.params
    try:
        with open(p["config"], encoding="utf-8") as handle:
            settings = parse_config(handle.read())
    except (OSError, JoomlaFileError) as error:
        module.fail_json(msg=f"cannot read the site's settings from {p['config']}: {error}")
    try:
        connection = pymysql.connect(unix_socket=p["login_unix_socket"], user=getpass.getuser(),
                                     database=settings["db"], autocommit=True, charset="utf8mb4")
    except pymysql.MySQLError as error:
        module.fail_json(msg=f"cannot connect to database {settings.get('db')} through {p['login_unix_socket']}: {error}")
    migration = Migration(module, connection, settings["db"], settings["dbprefix"], p["rollout"],
                          p["applied_by"] or os.environ.get("USER", "otap.street"))
    releases = [{"release": n, "dir": os.path.join(p["unpacked_dir"] or "", str(n))} for n in sorted(p["releases"])]

    if p["state"] == "query":
        history = migration.query(f"SELECT * FROM `{migration.history}` ORDER BY installed_rank") \
            if migration.table_exists(migration.history) else []
        module.exit_json(changed=False, history=history, current_release=migration.current_release())
    if not module.check_mode:
        migration.ensure_tables()
    result = dict(changed=False, applied=[], skipped=[])
    if p["state"] == "applied":
        result.update(apply(module, migration, releases))
    elif p["state"] == "finalized":
        for release in releases:
            pending = migration.table_exists(migration.releases) and not migration.query(
                f"SELECT id FROM `{migration.releases}` WHERE release_number = %s AND action = 'release' "
                "AND rollout = %s", (release["release"], p["rollout"]))
            if module.check_mode:
                result["changed"] |= pending or not migration.table_exists(migration.releases)
                continue
            result["changed"] |= migration.note_release(release["release"], title_of(release), "release")
            migration.drop_snapshots(release["release"])
    elif p["state"] == "rolled_back":
        if not module.check_mode:
            result["restored"] = migration.restore([r["release"] for r in releases])
            result["changed"] = bool(result["restored"])
    elif p["state"] == "recorded":
        target, current = releases[0], migration.current_release()
        if current != target["release"]:
            result["changed"] = True
            if not module.check_mode:
                if current == 0:
                    migration.note_release(target["release"], "the site as installed", "install")
                else:
                    migration.note_release(target["release"], f"back from release {current}", "rollback")
    result["current_release"] = migration.current_release() if migration.table_exists(migration.releases) else 0
    module.exit_json(**result)


if __name__ == "__main__":
    main()
