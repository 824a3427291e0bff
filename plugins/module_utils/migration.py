# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applying a release's SQL scripts to a site's database, with a history like Flyway's and a way back.

Each state of module joomla_migrate is one function here (plan, apply, finalize, roll_back,
record, query) over a `Migration`. Two accounts, each kept to its part:
- the release account runs the scripts, split by module_utils/release_sql and executed exactly as
  written (only `#__` replaced), only of the kinds the node knows it can copy for (`refusal`). It
  has no right on the site's database of its own. Before a script runs, its tables are copied and
  the account is lent rights on exactly the tables the script names as `#__name` (DROP too where a
  statement drops, empties or renames one that is not content); never on the migration's own
  tables. So whatever a filter misses, the database refuses a script every table that was not
  copied before it, and the history. Every lent right goes when the scripts end.
- the OS user (root on the nodes) keeps the history, lends and takes back those rights, and keeps
  the copies taken before a script changes a table: in a database of their own
  (`otap_copies_<site database>`) that the release account cannot reach, so no script can change
  what a failed rollout is put back from. Root touches only names it made itself or checked, and
  quotes every name it reads from the server (the guard, the checksums).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from pathlib import Path

from ansible_collections.otap.street.plugins.module_utils.promotion import describe
from ansible_collections.otap.street.plugins.module_utils.pyyaml import yaml
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_TABLES,
    is_content_table,
    is_machinery,
)
from ansible_collections.otap.street.plugins.module_utils.release_sql import split, touched_tables
from ansible_collections.otap.street.plugins.module_utils.watchdog import IDLE_FOR_A_YEAR, StatementTimeout, Watchdog

HISTORY = "otap_schema_history"
RELEASES = "otap_release_history"
SNAPSHOTS = "snapshots"
# The session reads scripts as the policy did (backslash escapes on, double quotes as strings),
# refuses to truncate data silently (strict), and ignores DATA/INDEX DIRECTORY.
SESSION_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_DIR_IN_CREATE"
# Root's own session, whatever the server's mode: a name too long is an error, never cut short, and a
# row whose id is 0 is copied and put back with id 0.
ADMIN_SQL_MODE = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
# Errors that mean "already done"; a statement with Joomla's /** CAN FAIL **/ hint may meet them:
# table exists, unknown table, duplicate column, duplicate key name, cannot drop (no such column/key).
ALREADY_DONE = {1050: "table exists", 1051: "unknown table", 1060: "duplicate column", 1061: "duplicate key name",
                1091: "nothing to drop"}
# Seconds root waits for a lock a table holds (another session's read, a backup), and for another
# run of this module on the same site database to end.
LOCK_WAIT = 60
RUN_WAIT = 10
# ER_STATEMENT_TIMEOUT: a statement of root's own ended by its max_statement_time.
STATEMENT_TIMEOUT = 1969
# A site table's name as the scripts can write it (`#__` + these characters, release_sql).
TABLE_NAME = re.compile(r"[A-Za-z0-9_$]+")
# What a script is lent on each table it names (CREATE too: MariaDB grants on a table not there yet
# only with it), and on those it drops, empties or renames, when they are not content.
LENT = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX"
LENT_TO_DROP = "DROP"


class MigrationError(Exception):
    def __init__(self, message: str, **result):
        super().__init__(message)
        self.result = result


def quote(name: str) -> str:
    """An identifier in backticks, whatever it holds (names come from information_schema too)."""
    return "`" + name.replace("`", "``") + "`"


def snapshot_name(rollout: str, release: int, table: str) -> str:
    """Name of the copy of `table` (with prefix) taken before `release` changes it in `rollout`: one
    name per rollout, release and exact spelling of the table, so no copy ever stands in for another."""
    return "c" + hashlib.sha256(f"{rollout}\0{release}\0{table}".encode()).hexdigest()[:63]


def copies_schema(schema: str) -> str:
    """The database that holds the copies of `schema`'s tables; <= 64 chars."""
    name = f"otap_copies_{schema}"
    return name if len(name) <= 64 else f"otap_copies_{hashlib.sha256(schema.encode()).hexdigest()[:24]}"


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scripts_of(folder: Path) -> list[Path]:
    sql = folder / "sql"
    return sorted(sql.glob("*.sql")) if sql.is_dir() else []


def title_of(folder: Path) -> str:
    manifest = folder / "manifest.yml"
    return yaml.safe_load(manifest.read_text()).get("title", "") if manifest.is_file() else ""


class Migration:
    """`admin` (the OS user) keeps the history, the copies and the lent rights; `scripts` (the
    release account's connection; else `admin`) runs the scripts. Reads of the site's tables go through
    `admin`'s own session, so nothing a script did to its session changes what they see."""

    def __init__(self, admin, schema: str, prefix: str, rollout: str = "", applied_by: str = "otap.street",
                 scripts=None, watch=None, statement_timeout: float = 0, sql_timeout: float = 0):
        self.db, self.schema, self.prefix = admin, schema, prefix
        self.scripts = scripts or admin
        self.rollout, self.applied_by = rollout, applied_by
        self.history, self.releases = prefix + HISTORY, prefix + RELEASES
        self.copies = copies_schema(schema)
        self.index = f"{quote(self.copies)}.{quote(SNAPSHOTS)}"
        self.scripts_id, self.excess, self.transactions, self.restored = None, None, set(), []
        self.account_priv = None
        # The whole SQL's bound (apply() starts its clock; 0: none beyond each statement's).
        self.sql_timeout, self.deadline = sql_timeout, None
        # Idle while a script's statement runs: the server must not close root's session meanwhile.
        self.run("SET SESSION sql_mode = %s, wait_timeout = %s", (ADMIN_SQL_MODE, IDLE_FOR_A_YEAR))
        # One run per site database at a time (held until the connection ends): two would lend to the
        # same account, and each take back the other's rights.
        lock = "otap_migrate_" + hashlib.sha256(schema.encode()).hexdigest()[:40]
        if not self.query("SELECT GET_LOCK(%s, %s) AS got", (lock, RUN_WAIT))[0]["got"]:
            raise MigrationError(f"another joomla_migrate is running on the database {schema}; nothing was done")
        self.account = self._account() if scripts is not None and scripts is not admin else None
        # `watch`, a connection of root's own, ends a script's statement that runs too long.
        self.watchdog = Watchdog(watch, self.scripts_id, statement_timeout) if watch and self.account else None

    def query(self, sql: str, args=(), connection=None) -> list[dict]:
        with (connection or self.db).cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def run(self, sql: str, args=None) -> int:
        with self.db.cursor() as cursor:
            return cursor.execute(sql, args)

    def run_script(self, sql: str, args=None) -> int:
        with self.scripts.cursor() as cursor:
            return cursor.execute(sql, args)

    def run_watched(self, sql: str) -> int:
        """A script's statement, ended if it runs past the statement timeout or past the whole SQL's
        deadline, whichever comes first (StatementTimeout); past the deadline, not started."""
        if not self.watchdog:
            return self.run_script(sql)
        left = self.time_left()
        # The nearer bound: the statement's own (None), or what is left of the whole SQL's.
        seconds, bound = (left, self.whole_sql()) if left is not None and left < self.watchdog.seconds else (None, "")
        with self.watchdog.watching(seconds, bound):
            return self.run_script(sql)

    def whole_sql(self) -> str:
        return f"{self.sql_timeout:g} s of the release's SQL in all, the longest it may run (joomla_release_sql_timeout)"

    def time_left(self) -> float | None:
        """Seconds left of the whole SQL's time (None: no such bound); StatementTimeout when none is."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StatementTimeout(f"not started: past {self.whole_sql()}")
        return left

    def _account(self) -> tuple[str, str]:
        """The release account (user, host) and what it may do beyond the site's tables, if anything:
        asked once, before any script could change the session."""
        row = self.query("SELECT CURRENT_USER() AS account, CONNECTION_ID() AS id", connection=self.scripts)[0]
        user, host = row["account"].rsplit("@", 1)
        self.scripts_id = row["id"]
        self.end_leftover_sessions(user)
        grants = [next(iter(g.values())) for g in self.query("SHOW GRANTS FOR CURRENT_USER()", connection=self.scripts)]
        self.excess = next(filter(None, map(self.too_much, grants)), None) or self.public_excess()
        self.account_priv = self.account_record((user, host))
        # Root's statements wait for the scripts' locks a bounded time, never a day.
        self.run("SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s", (LOCK_WAIT, LOCK_WAIT))
        return user, host

    def public_excess(self) -> str | None:
        """What every account holds through PUBLIC (MariaDB 10.11) beyond logging in, if anything:
        nothing lent is taken back from PUBLIC, so even a single table counts."""
        try:
            grants = [next(iter(g.values())) for g in self.query("SHOW GRANTS FOR PUBLIC")]
        except Exception:  # pylint: disable=broad-exception-caught  # no PUBLIC (older server), or none granted
            return None
        for grant in grants:
            parsed = re.match(r"GRANT (.+?) ON (\S+) TO ", grant)
            if parsed and not (parsed.group(1) == "USAGE" and parsed.group(2) == "*.*"):
                return f"has {parsed.group(1)} on {parsed.group(2)} through PUBLIC, as every account does"
        return None

    def check_account(self) -> None:
        """Refuse to run scripts as an account that may do more than it is lent (then nothing would
        stop a script); restoring and recording need no such check."""
        if self.account and self.excess:
            user, host = self.account
            raise MigrationError(f"the release account {user}@{host} {self.excess}: it must have no right of its own "
                                 "beyond logging in, every right on the site's tables is lent for the scripts (grant "
                                 "it as site.yml does); nothing was run")

    def too_much(self, grant: str) -> str | None:
        """What a line of SHOW GRANTS gives beyond the site's tables, if anything."""
        parsed = re.match(r"GRANT (.+?) ON (\S+) TO .*", grant)
        if not parsed:
            return f"has a role ({grant})"
        rights, target = {r.strip().upper() for r in parsed.group(1).split(",")}, parsed.group(2)
        if "WITH GRANT OPTION" in grant.upper():
            return "may grant"
        if target == "*.*":
            return None if rights == {"USAGE"} else f"has rights on every database ({parsed.group(1)})"
        if target == f"{quote(self.schema)}.*":
            return f"has {parsed.group(1)} on the whole of the site's database"
        if target.startswith(f"{quote(self.schema)}."):
            return None  # rights on single tables: the lent ones, taken back before the scripts run
        return f"has rights on {target}"

    def prepared_transactions(self) -> set[str]:
        """The XA transactions prepared on the server (they outlive their session, and its locks with them)."""
        return {row["data"] for row in self.query("XA RECOVER FORMAT='SQL'")}

    def end_scripts(self) -> None:
        """End the scripts' session, and with it any lock or transaction it holds, before root restores.
        An XA transaction it prepared would outlive it: that one is rolled back first, in the session
        itself, which may roll back no one else's while it is inside its own."""
        if self.scripts_id is None:
            return
        try:
            inside = self.scripts_inside()
        except Exception:  # pylint: disable=broad-exception-caught  # the session is gone already
            inside = False
        for xid in sorted(self.new_transactions()) if inside else []:
            try:
                self.run_script(f"XA ROLLBACK {xid}")  # as the server wrote it (FORMAT='SQL'): literals only
                break  # a session holds one at most: once out of it, it could take back others' detached ones
            except Exception:  # pylint: disable=broad-exception-caught  # not the session's own
                pass
        self.end_session(self.scripts_id)
        self.scripts_id = None  # ended once: a second call finds nothing of the scripts' to take back
        if self.account and self.account_priv is not None and self.account_record() != self.account_priv:
            self.run("UPDATE mysql.global_priv SET Priv = %s WHERE User = %s AND Host = %s",
                     (self.account_priv, *self.account))
            self.run("FLUSH PRIVILEGES")
        # A transaction a session that is gone already prepared is no one's that root can prove: it is
        # left alone (the restore then says what holds it back).

    def end_leftover_sessions(self, user: str) -> None:
        """End what a run cut off midway (its process killed) left running as the release account in
        this site's database (another site's run, on a server that holds two, is in its own), and
        wait a bounded time for it to roll back; refuse while it still does."""
        def sessions(where: str, args) -> list[int]:
            return [row["id"] for row in self.query(f"SELECT ID AS id FROM information_schema.PROCESSLIST WHERE {where}",
                                                    args)]

        left = sessions("USER = %s AND ID <> %s AND DB = %s", (user, self.scripts_id, self.schema))
        for other in left:
            self.end_session(other)
        deadline = time.monotonic() + RUN_WAIT  # a killed statement first rolls back what it changed
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = sessions(f"ID IN ({', '.join(['%s'] * len(left))})", left)
        if left:
            raise MigrationError(f"a statement a run cut off midway left running as the release account {user} is "
                                 f"still rolling back after {RUN_WAIT} s (connection {', '.join(map(str, left))}); "
                                 "nothing was done: run again once it has ended")

    def end_session(self, connection_id: int) -> None:
        """KILL CONNECTION, a session that is gone already being what is wanted too."""
        try:
            self.run("KILL CONNECTION %s", (connection_id,))
        except Exception:  # pylint: disable=broad-exception-caught  # already gone
            pass

    def scripts_inside(self) -> bool:
        """Whether the scripts' session is inside a transaction (open, or XA at any stage)."""
        return bool(self.query("SELECT @@in_transaction AS open", connection=self.scripts)[0]["open"])

    def new_transactions(self) -> set[str]:
        try:
            return self.prepared_transactions() - self.transactions
        except Exception:  # pylint: disable=broad-exception-caught  # the restore goes on regardless
            return set()

    def shapes(self, tables: list[str]) -> dict[str, tuple[str, int]]:
        """The storage engine and the number of partitions of each of `tables` that exists."""
        if not tables:
            return {}
        return {r["t"]: (r["e"], int(r["p"])) for r in self.query(
            "SELECT t.table_name AS t, t.engine AS e, COUNT(p.partition_name) AS p FROM information_schema.tables t "
            "LEFT JOIN information_schema.partitions p ON p.table_schema = t.table_schema AND p.table_name = t.table_name "
            "WHERE t.table_schema = %s AND t.table_name IN %s GROUP BY t.table_name, t.engine",
            (self.schema, tuple(tables)))}

    def account_record(self, account: tuple[str, str] | None = None) -> str | None:
        """The release account's record (its password, its plugin, its limits), as root reads it."""
        rows = self.query("SELECT Priv AS p FROM mysql.global_priv WHERE User = %s AND Host = %s",
                          account or self.account)
        return rows[0]["p"] if rows else None

    def check_settled(self, tables: list[str], shapes: dict[str, tuple[str, int]], content_tables) -> None:
        """After a script: it must leave no transaction open (an XA transaction prepared would outlive
        the rollout, and be committed later past every copy), no MERGE table (it reaches tables it
        does not name, with rights checked only when it is made), every content table it named on the
        engine it had (MEMORY forgets its rows at a restart) and every table it named readable (a
        discarded tablespace is not)."""
        if self.scripts_inside():
            raise MigrationError("the script left a transaction open")
        merged = self.merge_tables()
        if merged:
            raise MigrationError(f"the script left the MERGE table {merged[0]}")
        prepared = self.new_transactions()
        if prepared:  # one prepared past the session (pseudo_slave_mode detaches it): committed later, past every copy
            raise MigrationError(f"an XA transaction was prepared while the script ran ({sorted(prepared)[0]})")
        if self.account and self.account_record() != self.account_priv:
            raise MigrationError("the script changed the release account (its password or its limits)")
        for table, (engine, partitions) in self.shapes(tables).items():
            was = shapes.get(table)
            if was and was[1] != partitions:  # a partition can keep its rows outside the data directory
                raise MigrationError(f"the script changed the partitions of {table}")
            if was and engine != was[0] and is_content_table(table[len(self.prefix):], content_tables):
                raise MigrationError(f"the script moved the content table {table} from {was[0]} to {engine}")
            self.query(f"SELECT 1 AS n FROM {self.site(table)} LIMIT 1")  # fails for a table that cannot be read

    def merge_tables(self) -> list[str]:
        return [r["t"] for r in self.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s "
                                           "AND engine = 'MRG_MyISAM'", (self.schema,))]

    def site(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(table)}"

    def copy(self, table: str) -> str:
        return f"{quote(self.copies)}.{quote(table)}"

    def named(self, tables: list[str]) -> list[str]:
        """Tables as the scripts name them (`#__name`), with the site's prefix."""
        return [t.replace("#__", self.prefix, 1) for t in tables]

    def script_tables(self, sql: str) -> list[str]:
        """The tables (with prefix) a script may change: copied before it runs, lent while it runs."""
        return [t for t in self.named(touched_tables(sql)) if not self.own(t)]

    def own(self, table: str) -> bool:
        """Whether `table` (with prefix) is one of the migration's own, never copied nor lent."""
        return table.startswith(self.prefix) and is_machinery(table[len(self.prefix):])

    def lend(self, tables: list[str], dropped: list[str], content_tables) -> None:
        """Lend the release account its rights on `tables` (with prefix; DROP on those of `dropped`
        that are not content), when they are the site's and not the migration's own; then make the
        site's database the scripts' default (allowed once the account holds a right in it)."""
        if self.account is None:
            return
        for table in tables:
            name = table[len(self.prefix):] if table.startswith(self.prefix) else ""
            if not TABLE_NAME.fullmatch(name) or self.own(table):
                continue
            rights = LENT + (f", {LENT_TO_DROP}" if table in dropped and not is_content_table(name, content_tables)
                             else "")
            self.run(f"GRANT {rights} ON {self.site(table)} TO %s@%s", self.account)
        if self.query("SELECT 1 AS n FROM mysql.tables_priv WHERE Db = %s AND User = %s AND Host = %s LIMIT 1",
                      (self.schema, *self.account)):
            self.run_script(f"USE {quote(self.schema)}")

    def withdraw(self) -> None:
        """Take back every right on single tables of the site's database from the release account."""
        if self.account is None:
            return
        for row in self.query("SELECT Table_name FROM mysql.tables_priv WHERE Db = %s AND User = %s AND Host = %s",
                              (self.schema, *self.account)):
            self.run(f"REVOKE ALL PRIVILEGES ON {self.site(row['Table_name'])} FROM %s@%s", self.account)

    def table_exists(self, table: str, schema: str | None = None) -> bool:
        return bool(self.query("SELECT 1 AS n FROM information_schema.tables WHERE table_schema = %s "
                               "AND table_name = %s", (schema or self.schema, table)))

    def ensure_tables(self) -> None:
        self.run(f"""CREATE TABLE IF NOT EXISTS {self.site(self.history)} (
            installed_rank INT AUTO_INCREMENT PRIMARY KEY, release_number INT NOT NULL,
            script VARCHAR(255) NOT NULL, checksum CHAR(64) NOT NULL, applied_by VARCHAR(100) NOT NULL,
            applied_at DATETIME(3) NOT NULL, execution_ms INT NOT NULL, success TINYINT NOT NULL,
            rollout VARCHAR(64) NOT NULL DEFAULT '', message TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")
        self.run(f"""CREATE TABLE IF NOT EXISTS {self.site(self.releases)} (
            id INT AUTO_INCREMENT PRIMARY KEY, release_number INT NOT NULL, title VARCHAR(255) NOT NULL,
            action VARCHAR(20) NOT NULL, applied_by VARCHAR(100) NOT NULL, applied_at DATETIME(3) NOT NULL,
            rollout VARCHAR(64) NOT NULL DEFAULT '') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")
        self.run(f"CREATE DATABASE IF NOT EXISTS {quote(self.copies)} CHARACTER SET utf8mb4")
        self.run(f"""CREATE TABLE IF NOT EXISTS {self.index} (
            id INT AUTO_INCREMENT PRIMARY KEY, release_number INT NOT NULL, table_name VARCHAR(64) NOT NULL,
            snapshot_name VARCHAR(64) NOT NULL, existed TINYINT NOT NULL, rollout VARCHAR(64) NOT NULL)
            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")

    def current_release(self) -> int:
        if not self.table_exists(self.releases):
            return 0
        rows = self.query(f"SELECT release_number FROM {self.site(self.releases)} ORDER BY id DESC LIMIT 1")
        return int(rows[0]["release_number"]) if rows else 0

    def applied_checksum(self, release: int, script: str) -> str | None:
        if not self.table_exists(self.history):
            return None
        rows = self.query(f"SELECT checksum FROM {self.site(self.history)} WHERE release_number = %s AND script = %s "
                          "AND success = 1", (release, script))
        return rows[0]["checksum"] if rows else None

    def copies_of(self, release: int) -> list[dict]:
        """This rollout's copies for `release`, newest first; each row checked against the names it must have."""
        if not self.table_exists(SNAPSHOTS, self.copies):
            return []
        rows = self.query(f"SELECT * FROM {self.index} WHERE release_number = %s AND rollout = %s ORDER BY id DESC",
                          (release, self.rollout))
        for row in rows:
            name = row["table_name"][len(self.prefix):]
            if not row["table_name"].startswith(self.prefix) or not TABLE_NAME.fullmatch(name) \
                    or row["snapshot_name"] != snapshot_name(self.rollout, release, row["table_name"]):
                raise MigrationError(f"the list of copies in {self.copies} names {row['table_name']!r} as "
                                     f"{row['snapshot_name']!r}, which this module did not write; nothing was restored")
        return rows

    def snapshot(self, release: int, tables: list[str]) -> None:
        taken = {row["table_name"] for row in self.copies_of(release)}
        for table in tables:
            if table in taken:
                continue
            copy, existed = snapshot_name(self.rollout, release, table), self.table_exists(table)
            if existed:
                # Every stored column by name: invisible ones too (SELECT * leaves them out), and
                # never a generated one (MariaDB computes those, and refuses values for them).
                columns = ", ".join(quote(r["column_name"]) for r in self.query(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                    "AND extra NOT LIKE %s ORDER BY ordinal_position", (self.schema, table, "%GENERATED%")))
                self.run(f"CREATE TABLE {self.copy(copy)} LIKE {self.site(table)}")  # one there already: an error
                self.copy_rows(copy, table, columns)
                # The counter too: restored, the table never hands out again an id it gave a row
                # deleted before (a menu item or a link may still name it).
                counter = self.query("SELECT auto_increment AS n FROM information_schema.tables WHERE table_schema = %s "
                                     "AND table_name = %s", (self.schema, table))[0]["n"]
                if counter:
                    self.run(f"ALTER TABLE {self.copy(copy)} AUTO_INCREMENT = {int(counter)}")
            self.run(f"INSERT INTO {self.index} (release_number, table_name, snapshot_name, existed, rollout) "
                     "VALUES (%s, %s, %s, %s, %s)", (release, table, copy, int(existed), self.rollout))

    def copy_rows(self, copy: str, table: str, columns: str) -> None:
        """Fill the copy of `table`, within what is left of the whole SQL's time: the scripts decide
        how large their tables are (an instant ADD COLUMN with a long default costs them nothing, its
        copy much), so root's copies count and are ended too. A copy ended midway is dropped: it is
        in no list yet, and nothing else would."""
        try:
            self.run(f"{self.within_whole_sql()}INSERT INTO {self.copy(copy)} ({columns}) "
                     f"SELECT {columns} FROM {self.site(table)}")
        except Exception as error:
            self.run(f"DROP TABLE IF EXISTS {self.copy(copy)}")
            self.raise_if_ended(error, f"copying {table}")
            raise

    def within_whole_sql(self) -> str:
        """The prefix that ends a statement of root's with what is left of the whole SQL's time
        (none when there is no such bound); StatementTimeout when nothing is left."""
        left = self.time_left()
        return "" if left is None else f"SET STATEMENT max_statement_time = {max(left, 0.001):.3f} FOR "

    def raise_if_ended(self, error: Exception, doing: str) -> None:
        """A StatementTimeout that says what it ended, when the whole SQL's time ended `error`."""
        if error.args and error.args[0] == STATEMENT_TIMEOUT:
            raise StatementTimeout(f"{doing} stopped after {self.whole_sql()}") from error

    def restore(self, releases: list[int]) -> list[str]:
        """Put back the copies of `releases` (newest first); `self.restored` says how far it came."""
        self.restored = []
        # A key a script chained between its tables holds no table back (each goes back as copied).
        self.run("SET SESSION foreign_key_checks = 0")
        try:
            return self._restore(releases)
        finally:
            self.run("SET SESSION foreign_key_checks = 1")

    def _restore(self, releases: list[int]) -> list[str]:
        restored = self.restored
        for release in sorted(releases, reverse=True):
            copies = self.copies_of(release)
            if not copies:
                continue  # finalised (its copies dropped), or it changed no table: its history stands
            for row in copies:
                table, copy = row["table_name"], row["snapshot_name"]
                if row["existed"]:
                    # The changed table is dropped, not renamed aside: its files (a partition's) may
                    # have names too long for any longer name. Restartable: a rerun finds it gone and
                    # renames the copy in. The site is in maintenance, its writes held.
                    self.run(f"DROP TABLE IF EXISTS {self.site(table)}")
                    self.run(f"RENAME TABLE {self.copy(copy)} TO {self.site(table)}")
                else:
                    self.run(f"DROP TABLE IF EXISTS {self.site(table)}")
                # Struck at once: a restore cut off midway is finished by the next one.
                self.run(f"DELETE FROM {self.index} WHERE id = %s", (row["id"],))
                restored.append(table)
            self.forget([release])
        return restored

    def forget(self, releases: list[int]) -> None:
        """Strike this rollout's scripts of `releases` from the history (they were undone), whether
        or not they had tables to copy."""
        for release in releases:
            self.run(f"DELETE FROM {self.site(self.history)} WHERE release_number = %s AND rollout = %s "
                     "AND success = 1", (release, self.rollout))

    def check_copyable(self, tables: list[str]) -> None:
        """Refuse, before anything runs, tables whose copy could not be put back as they are: with a
        trigger (MariaDB moves no such table to another database) or in a foreign key."""
        merged = self.merge_tables()
        if merged:
            raise MigrationError(f"the site's database holds the MERGE table {merged[0]}, which writes to tables no "
                                 "script names; nothing was run")
        if not tables:
            return
        names = tuple(dict.fromkeys(tables))
        for row in self.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s "
                              "AND table_type = 'SYSTEM VERSIONED' AND table_name IN %s", (self.schema, names)):
            raise MigrationError(f"{row['t']} keeps system-versioned history, which its copy would not hold; "
                                 "nothing was run")
        for row in self.query("SELECT event_object_table AS t, trigger_name AS what FROM information_schema.triggers "
                              "WHERE event_object_schema = %s AND event_object_table IN %s", (self.schema, names)):
            raise MigrationError(f"{row['t']} has the trigger {row['what']}: a copy of it could not be put back; "
                                 "nothing was run")
        for row in self.query("SELECT table_name AS t, constraint_name AS what FROM "
                              "information_schema.referential_constraints WHERE constraint_schema = %s AND "
                              "(table_name IN %s OR referenced_table_name IN %s)", (self.schema, names, names)):
            raise MigrationError(f"{row['t']} takes part in the foreign key {row['what']}: a copy of it could not be "
                                 "put back as it is; nothing was run")

    def drop_snapshots(self, release: int) -> None:
        for row in self.copies_of(release):
            if row["existed"]:
                self.run(f"DROP TABLE IF EXISTS {self.copy(row['snapshot_name'])}")
        if self.table_exists(SNAPSHOTS, self.copies):
            self.run(f"DELETE FROM {self.index} WHERE release_number = %s AND rollout = %s", (release, self.rollout))

    def record(self, release: int, script: str, digest: str, millis: int, success: bool, message=None) -> None:
        self.run(f"INSERT INTO {self.site(self.history)} (release_number, script, checksum, applied_by, applied_at, "
                 "execution_ms, success, rollout, message) VALUES (%s, %s, %s, %s, NOW(3), %s, %s, %s, %s)",
                 (release, script, digest, self.applied_by, millis, int(success), self.rollout, message))

    def note_release(self, release: int, title: str, action: str) -> bool:
        if self.query(f"SELECT id FROM {self.site(self.releases)} WHERE release_number = %s AND action = %s "
                      "AND rollout = %s", (release, action, self.rollout)):
            return False
        self.run(f"INSERT INTO {self.site(self.releases)} (release_number, title, action, applied_by, applied_at, "
                 "rollout) VALUES (%s, %s, %s, %s, NOW(3), %s)", (release, title, action, self.applied_by, self.rollout))
        return True

    def checksums(self, tables: list[str]) -> dict[str, int | None]:
        """CHECKSUM TABLE of each table that exists (what replication must have copied exactly),
        within what is left of the whole SQL's time: the scripts decide how large their tables are."""
        present = list(dict.fromkeys(t for t in tables if self.table_exists(t)))
        if not present:
            return {}
        try:
            rows = self.query(f"{self.within_whole_sql()}CHECKSUM TABLE " + ", ".join(self.site(t) for t in present))
        except Exception as error:
            self.raise_if_ended(error, "checking the tables the SQL changed")
            raise
        return {row["Table"].split(".", 1)[1]: row["Checksum"] for row in rows}

    def content_tables(self, content_tables) -> list[str]:
        names = [r["table_name"] for r in self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE' "
            "AND table_name LIKE %s", (self.schema, self.prefix.replace("_", "\\_") + "%"))]
        return sorted(n for n in names if not n.startswith(self.prefix + "otap_")
                      and is_content_table(n[len(self.prefix):], content_tables))

    def definitions(self, tables: list[str]) -> dict[str, dict]:
        """What of each table's definition Joomla's behaviour hangs on, besides its rows, read in three
        queries for all `tables`: each column's definition (type, nullability, default, invisible or
        generated, expression, collation), in order; its CHECK constraints; its AUTO_INCREMENT counter
        (ids handed out again, or none)."""
        found = {t: {"columns": {}, "checks": [], "auto_increment": None} for t in tables}
        if not tables:
            return found
        where, args = "table_schema = %s AND table_name IN ({})".format(", ".join(["%s"] * len(tables))), \
            (self.schema, *tables)
        for r in self.query(
                "SELECT table_name AS t, column_name AS name, column_type AS type, is_nullable AS nullable, "
                "column_default AS dflt, extra, generation_expression AS expr, collation_name AS coll "
                f"FROM information_schema.columns WHERE {where} ORDER BY table_name, ordinal_position", args):
            found[r["t"]]["columns"][r["name"]] = [r["type"], r["nullable"], r["dflt"], r["extra"], r["expr"], r["coll"]]
        for r in self.query("SELECT table_name AS t, constraint_name AS name, check_clause AS clause FROM "
                            f"information_schema.check_constraints WHERE {where.replace('table_schema', 'constraint_schema')}",
                            args):
            found[r["t"]]["checks"].append(f"{r['name']}: {r['clause']}")
        for r in self.query(f"SELECT table_name AS t, auto_increment AS n FROM information_schema.tables WHERE {where}", args):
            found[r["t"]]["auto_increment"] = r["n"]
        for shape in found.values():
            shape["checks"].sort()
        return found

    def row_digests(self, table: str, columns: list[str]) -> Counter:
        """The multiset of the rows of `table`, each as a digest of the digests of the values of
        `columns` (a value's own digest never grows past the packet limit, and NULL is a mark of
        its own)."""
        if not columns:
            return Counter()
        values = ", ".join(f"IFNULL(MD5({quote(c)}), 'NULL')" for c in columns)
        return Counter(r["d"] for r in self.query(f"SELECT MD5(CONCAT_WS(',', {values})) AS d FROM {self.site(table)}"))

    def content_state(self, content_tables, before: dict | None = None, only=None) -> dict[str, dict]:
        """Every content table's definition and rows (the Acceptance guard compares two of these);
        with `only` (tables with prefix, lowercased), those of them alone.

        Measured again after a change (`before` given), a table's rows are read through the columns it
        had before, so a column the release adds changes no row; a column it drops is named.
        """
        state = {}
        tables = [t for t in self.content_tables(content_tables) if only is None or t.lower() in only]
        for table, shape in self.definitions(tables).items():
            columns = list(shape["columns"])
            seen = [c for c in before[self._key(table)]["columns"] if c in columns] \
                if before and self._key(table) in before else columns
            state[self._key(table)] = {"columns": columns, "rows": self.row_digests(table, seen), "shape": shape}
        return state

    def _key(self, table: str) -> str:
        return f"#__{table[len(self.prefix):]}"

    def held_content(self, tables: list[str], writable, content_tables) -> set[str]:
        """The content tables among `tables` (with prefix, as the scripts name them) whose rows the
        scripts may not write: all but those `writable` names (`#__name`). Lowercased."""
        free = {w.lower() for w in writable}
        return {t.lower() for t in tables
                if is_content_table(t[len(self.prefix):], content_tables) and self._key(t).lower() not in free}

    def check_held_content(self, held: set[str], before: dict, writable, content_tables) -> None:
        """Fail naming every held content table whose rows the scripts added, changed or removed, or
        whose definition they changed (see redefinitions)."""
        changes = compare(before, self.content_state(content_tables, before, only=held), ())
        if changes:
            raise MigrationError(
                "the SQL changed content the webmaster did not agree to: " + "; ".join(map(describe, changes))
                + ". A release's SQL may change content only in the tables the approval agreed to (those the "
                "releases' RELEASE.md declare, Content-Changes:, and those the webmaster accepted): "
                + (", ".join(sorted(writable)) or "none"))

    def position(self) -> str:
        return self.query("SELECT @@global.gtid_binlog_pos AS pos")[0]["pos"]


# What the node runs at all, whatever the controller's policy said: the kinds of statement that
# policy allows (module_utils/sql_policy), known by their first words, and none of the words that
# would let a script act where the copies do not reach (prepared or dynamic SQL, the session's
# settings, transactions and locks, temporary tables that hide real ones, foreign keys and their
# cascades, tablespaces, system versioning, files, waits).
KINDS = re.compile(r"(CREATE\s+((UNIQUE|FULLTEXT|SPATIAL)\s+)?(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+(TABLE|INDEX)|TRUNCATE"
                   r"|RENAME\s+TABLE|INSERT|UPDATE|DELETE|SET)\b", re.I)
FORBIDDEN = re.compile(r"@@|\bUNION\s*=|\b(MERGE|MRG_MYISAM|XA|TEMPORARY|FOREIGN|REFERENCES|VERSIONING|TABLESPACE|PARTITION|PREPARE|EXECUTE|STATEMENT"
                       r"|SLEEP|BENCHMARK|GET_LOCK|LOCK|SHARE|FOR\s+UPDATE|OUTFILE|DUMPFILE|LOAD_FILE|INFILE)\b", re.I)
# SET only of the connection's character set or of user variables (@name), never of a setting.
# The character set only as Unicode: in GBK, Big5 or SJIS a backslash can end a character, and MariaDB
# would then read quotes otherwise than the node's splitter.
SET_NAMES = re.compile(r"SET\s+(NAMES|CHARACTER\s+SET|CHARSET)\s+'?(utf8mb4|utf8mb3|utf8)\b'?\s*"
                       r"(COLLATE\s+'?utf8(mb[34])?_[a-z0-9_]+'?\s*)?;?", re.I)
USER_VARIABLE = re.compile(r"\s*@[A-Za-z0-9_$.]+\s*:?=")


def set_allowed(code: str) -> bool:
    """Whether a SET statement (strings and comments taken out) sets only the character set to
    Unicode, alone, or only user variables: every assignment at the top level is to an @name."""
    if SET_NAMES.fullmatch(code):
        return True
    if not re.match(r"SET\s+@", code, re.I):
        return False
    depth = 0
    for at, char in enumerate(code):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0 and not USER_VARIABLE.match(code[at + 1:]):
            return False
    return True


def refusal(statement, prefix: str, content_tables=DEFAULT_CONTENT_TABLES) -> str | None:
    """Why this node will not run `statement`: the copies a failure is put back from are taken of the
    `#__name` tables a script names, so the node runs only what it can read the way MariaDB will,
    naming its tables so; None: it may run."""
    if statement.problems:
        return statement.problems[0]
    code = " ".join(statement.bare().split())
    if not KINDS.match(code):
        return f"{(code.split() or ['?'])[0].upper()} is not a statement a release may run"
    word = FORBIDDEN.search(code)
    if word:
        return f"{word.group(0).upper()} is not allowed in a release's SQL"
    if code.upper().startswith("SET") and not set_allowed(code):
        return "SET may set the character set (utf8mb4) or user variables (@name) only, never a setting"
    if re.match(r"ALTER\s+TABLE\b", code, re.I) and re.search(r"\bENGINE\b", code, re.I) and any(
            is_content_table(t[3:], content_tables) for t in statement.tables()):
        return "changes the storage engine of a content table"
    own = [t for t in statement.tables() if is_machinery(t[3:])]
    if own:
        return f"names {own[0]}, the migration's own table"
    long = [t for t in statement.tables() if len(prefix) + len(t) - 3 > 64]
    if long:
        return f"names {long[0]}, longer with the prefix than the 64 characters MariaDB allows"
    if prefix and re.search(rf"(?<![A-Za-z0-9_$#]){re.escape(prefix)}", statement.bare(), re.I):
        return f"names a table with the literal prefix {prefix}: write #__name"
    return None


def plan(migration: Migration, releases: list[dict], content_tables=DEFAULT_CONTENT_TABLES
         ) -> tuple[list[tuple[int, Path, str]], list[dict]]:
    """The scripts still to run (release, path, checksum) and those already applied."""
    migration.check_account()
    todo, skipped = [], []
    for release in releases:
        for script in scripts_of(Path(release["dir"])):
            digest = checksum(script.read_bytes())
            done = migration.applied_checksum(release["release"], script.name)
            if done is None:
                for statement in split(script.read_text(encoding="utf-8")):
                    why = refusal(statement, migration.prefix, content_tables)
                    if why:
                        raise MigrationError(f"release {release['release']}: sql/{script.name} line {statement.line} "
                                             f"is refused on the node ({why}); nothing was run")
                todo.append((release["release"], script, digest))
            elif done != digest:
                raise MigrationError(
                    f"release {release['release']}: {script.name} was applied with checksum {done[:12]}, the package "
                    f"now has {digest[:12]}: a script must not change after it was applied; ship the change as a new "
                    "script in a new release")
            else:
                skipped.append({"release": release["release"], "script": script.name})
    return todo, skipped


def compare(before: dict, after: dict, declared) -> list[dict]:
    """Content tables whose rows vanished, changed or were added (or that lost a column), each marked
    declared or not. A changed row counts twice: changed or removed (as it was), new (as it is)."""
    changes = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table), after.get(table)
        gone = sum(((old["rows"] if old else Counter()) - (new["rows"] if new else Counter())).values())
        added = sum(((new["rows"] if new else Counter()) - (old["rows"] if old else Counter())).values())
        dropped = sorted(set(old["columns"]) - set(new["columns"])) if old and new else []
        redefined = redefinitions(old.get("shape"), new.get("shape")) if old and new else []
        if old is not None and new is not None and not gone and not added and not dropped and not redefined:
            continue
        if old is None:
            continue  # a new content table: nothing was there to lose
        changes.append({
            "table": table,
            "rows_before": sum(old["rows"].values()),
            "rows_after": sum(new["rows"].values()) if new else 0,
            "rows_changed_or_removed": gone if new else sum(old["rows"].values()),
            "rows_new": added if new else 0,
            "columns_removed": dropped,
            "redefined": redefined,
            "vanished": new is None,
            "declared": table.lower() in {d.lower() for d in declared},
        })
    return changes


def redefinitions(old: dict | None, new: dict | None) -> list[str]:
    """What changed in a table's definition beyond new plain columns (see Migration.definitions): a
    column redefined, a new column invisible or generated, the CHECK constraints, the counter."""
    if not old or not new:
        return []
    found = [f"column {name}" for name, was in old["columns"].items()
             if name in new["columns"] and new["columns"][name] != was]
    found += [f"new column {name}, invisible or generated" for name, now in new["columns"].items()
              if name not in old["columns"] and ("INVISIBLE" in str(now[3]).upper() or now[4] is not None)]
    if new["checks"] != old["checks"]:
        found.append("check constraints")
    if new["auto_increment"] != old["auto_increment"]:
        found.append(f"auto-increment counter {old['auto_increment']} -> {new['auto_increment']}")
    return found


def forgiven(statement, error) -> str | None:
    """Why a failed statement counts as done: with Joomla's CAN FAIL hint, what it does was done
    already; None: it failed."""
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    return f"{code} {ALREADY_DONE[code]}" if statement.can_fail and code in ALREADY_DONE else None


def apply(migration: Migration, releases: list[dict], guard=None, declared=(), check_mode=False,
          content_tables=DEFAULT_CONTENT_TABLES, writable=None) -> dict:
    """Run the scripts not yet applied; on a failure put every table this rollout changed back.

    With `guard` (content table patterns), the content tables are measured before and after, and
    the result lists what changed beyond the tables `declared`. With `writable` (`#__name`s), every
    other content table the scripts name is measured before and after, and a row added, changed or
    removed there, or a definition changed (redefinitions), fails the rollout, which puts it back. Tables matching `content_tables` are never
    lent the DROP right.
    """
    todo, skipped = plan(migration, releases, content_tables)
    result = {"changed": bool(todo), "applied": [{"release": r, "script": s.name} for r, s, _digest in todo],
              "skipped": skipped, "tolerated": [], "content_changes": [], "checksums": {}, "position": ""}
    if check_mode or not todo:
        return result
    named = [t for _release, script, _digest in todo for t in migration.script_tables(script.read_text(encoding="utf-8"))]
    migration.check_copyable(named)
    held = migration.held_content(named, writable, content_tables) if writable is not None else set()
    if migration.sql_timeout:  # the whole SQL's clock: from here, root's copies between scripts count too
        migration.deadline = time.monotonic() + migration.sql_timeout
    migration.ensure_tables()
    migration.transactions = migration.prepared_transactions()
    # Idle while root copies the next script's tables: the server must not close the session meanwhile.
    migration.run_script("SET SESSION sql_mode = %s, wait_timeout = %s", (SESSION_SQL_MODE, IDLE_FOR_A_YEAR))
    before = migration.content_state(guard) if guard is not None else {}
    kept = migration.content_state(content_tables, only=held) if held else {}
    applied, touched = [], []
    migration.withdraw()  # what a rollout cut off midway may have left
    where = ""
    try:
        for release, script, digest in todo:
            where, started = f"release {release}: sql/{script.name}", time.monotonic()
            sql = script.read_text(encoding="utf-8")
            tables = migration.script_tables(sql)
            touched += [t for t in tables if t not in touched]
            statements = split(sql)
            migration.snapshot(release, tables)
            shapes = migration.shapes(tables)
            migration.lend(tables, migration.named([t for s in statements if s.drops for t in s.tables()]),
                           content_tables)
            for statement in statements:
                where = f"release {release}: sql/{script.name} line {statement.line}"
                try:
                    migration.run_watched(statement.with_prefix(migration.prefix))
                except Exception as error:  # pylint: disable=broad-exception-caught  # judged below
                    reason = forgiven(statement, error)
                    if not reason:
                        migration.end_scripts()
                        migration.record(release, script.name, digest, int((time.monotonic() - started) * 1000),
                                         False, f"line {statement.line}: {error}")
                        raise
                    result["tolerated"].append({"release": release, "script": script.name,
                                                "line": statement.line, "error": reason})
            migration.check_settled(tables, shapes, content_tables)
            migration.withdraw()  # each script holds only its own tables' rights
            migration.record(release, script.name, digest, int((time.monotonic() - started) * 1000), True)
            applied.append({"release": release, "script": script.name, "ms": int((time.monotonic() - started) * 1000)})
        if held:
            where = "the check of the content after the scripts"
            migration.check_held_content(held, kept, writable, content_tables)
        where = "after the scripts"
        result["checksums"] = migration.checksums(touched + [migration.history])  # within the whole SQL's time
    except Exception as error:  # a statement, a copy before it, the checksums after: the copies put it back
        migration.end_scripts()
        migration.withdraw()  # before the restore: no one holds the scripts' rights while tables go back
        releases = sorted({r for r, _script, _digest in todo})
        why = error.args[-1] if error.args else repr(error)
        try:
            restored = migration.restore(releases)
        except Exception as stuck:  # pylint: disable=broad-exception-caught  # said below, with what to do
            raise MigrationError(
                f"{where} failed ({why}), and putting the database back stopped "
                f"({stuck.args[-1] if stuck.args else stuck!r}) after {', '.join(migration.restored) or 'no table'}: "
                f"the other tables are still in {migration.copies}; once what holds them is gone, finish with "
                "state=rolled_back for this rollout (the release's rollback does)",
                applied=applied, restored=migration.restored) from stuck
        migration.forget(releases)
        raise MigrationError(
            f"{where} failed ({why}); the database was returned to where it was before this rollout "
            f"(restored: {', '.join(restored) or 'nothing to restore'})", applied=applied, restored=restored) from error
    finally:
        migration.withdraw()
    result["applied"] = applied
    if guard is not None:
        result["content_changes"] = compare(before, migration.content_state(guard, before), declared)
    result["position"] = migration.position()
    return result


def finalize(migration: Migration, releases: list[dict], check_mode=False) -> bool:
    """Note the releases as live, all or none, then drop the copies taken for them."""
    pending = [r for r in releases if not migration.table_exists(migration.releases) or not migration.query(
        f"SELECT id FROM {migration.site(migration.releases)} WHERE release_number = %s AND action = 'release' "
        "AND rollout = %s", (r["release"], migration.rollout))]
    if check_mode:
        return bool(pending)
    migration.ensure_tables()
    migration.run("START TRANSACTION")
    try:
        for release in pending:
            migration.note_release(release["release"], title_of(Path(release["dir"]))[:255], "release")
        migration.run("COMMIT")
    except Exception:
        migration.run("ROLLBACK")
        raise
    for release in releases:
        migration.drop_snapshots(release["release"])
    migration.withdraw()  # whatever the scripts were lent, should their end not have taken it back
    return bool(pending)


def roll_back(migration: Migration, releases: list[dict], check_mode=False) -> list[str]:
    if check_mode:
        return []
    migration.withdraw()  # the scripts may have been cut off with rights lent
    return migration.restore([r["release"] for r in releases])


def record(migration: Migration, release: int, check_mode=False) -> bool:
    """Note that the site runs `release` now: its first release, or a rollback of the code."""
    current = migration.current_release()
    if current == release:
        return False
    if not check_mode:
        migration.ensure_tables()
        if current == 0:
            migration.note_release(release, "the site as installed", "install")
        else:
            migration.note_release(release, f"back from release {current}", "rollback")
    return True


def history(migration: Migration) -> list[dict]:
    if not migration.table_exists(migration.history):
        return []
    return migration.query(f"SELECT * FROM `{migration.history}` ORDER BY installed_rank")
