"""joomla_migrate's states against a real MariaDB (fixture `mariadb`), as the release account that
site.yml makes: the rights it has on the street, read from the playbook itself."""

import hashlib
import itertools
import re
import threading
import time
from pathlib import Path

import pymysql
import pytest
import yaml

from ansible_collections.otap.street.plugins.module_utils import migration
from ansible_collections.otap.street.plugins.modules import joomla_migrate

SITE_YML = Path(__file__).resolve().parents[4] / "playbooks" / "site.yml"
SITES = itertools.count(1)
CONTENT = [(1, "Visiting hours", "Daily 10-20"), (2, "Parking", "Level -1"), (3, "Cardiology", "Ward B")]


def release_account_grant(database: str) -> str:
    """The privileges site.yml grants the release account, for `database`, as GRANT's `... ON ...`."""
    plays = yaml.safe_load(SITE_YML.read_text())
    users = next(p for p in plays if p["name"] == "Provision the database servers")["roles"][0]["vars"]["mariadb_users"]
    priv = next(u for u in users if u["name"] == "{{ joomla_release_db_user }}")["priv"]
    scope, rights = priv.replace("{{ joomla_site_db_name }}", database).split(":")
    return f"{', '.join(r.strip() for r in rights.split(','))} ON {scope}"


class Site:
    """A site's database with a few content rows, its configuration.php and a folder of releases."""

    def __init__(self, mariadb, tmp_path):
        self.sql, self.tmp = mariadb, tmp_path
        number = next(SITES)
        self.db, self.user = f"site{number}", f"release{number}"
        mariadb(f"CREATE DATABASE {self.db}")
        mariadb(f"CREATE USER {self.user}@localhost IDENTIFIED BY 'pw'")
        mariadb(f"GRANT {release_account_grant(self.db)} TO {self.user}@localhost")
        mariadb("CREATE TABLE jos_content (id INT PRIMARY KEY, title VARCHAR(100) NOT NULL, introtext TEXT)", self.db)
        mariadb("INSERT INTO jos_content VALUES " + ", ".join(f"({i}, '{t}', '{x}')" for i, t, x in CONTENT), self.db)
        mariadb("CREATE TABLE jos_extensions (id INT PRIMARY KEY, name VARCHAR(100))", self.db)
        mariadb("INSERT INTO jos_extensions VALUES (1, 'com_content')", self.db)
        self.config = tmp_path / "configuration.php"
        self.config.write_text(f"<?php\nclass JConfig\n{{\n    public $db = '{self.db}';\n"
                               "    public $dbprefix = 'jos_';\n}\n")
        self.unpacked = tmp_path / "unpacked"

    def release(self, number: int, title: str = "", **scripts: str) -> None:
        folder = self.unpacked / str(number)
        (folder / "sql").mkdir(parents=True, exist_ok=True)
        (folder / "manifest.yml").write_text(yaml.safe_dump({"release": number, "title": title or f"release {number}"}))
        for name, text in scripts.items():
            (folder / "sql" / f"{name.replace('_', '-')}.sql").write_text(text)

    def migrate(self, run_module, state="applied", releases=(), rollout="run-1", **more):
        return run_module(joomla_migrate, config=str(self.config), state=state, releases=list(releases),
                          unpacked_dir=str(self.unpacked), rollout=rollout, login_unix_socket=self.sql.socket,
                          login_user=self.user, login_password="pw", **more)

    def tables(self) -> set[str]:
        return {row[0] for row in self.sql("SHOW TABLES", self.db)}

    def state(self) -> dict:
        """Every table but the migration's own: its definition and its rows."""
        return {t: (self.sql(f"SHOW CREATE TABLE `{t}`", self.db)[0][1], self.sql(f"SELECT * FROM `{t}`", self.db))
                for t in sorted(self.tables()) if not t.startswith("jos_otap_")}

    @property
    def copies_db(self) -> str:
        return f"otap_copies_{self.db}"

    def copies(self) -> set[str]:
        """The copies of tables taken before a rollout, in their own database."""
        return {row[0] for row in self.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                           f"'{self.copies_db}' AND table_name <> 'snapshots'")}

    def machinery(self) -> dict:
        """The migration's own tables: the history of scripts and of releases."""
        return {t: self.sql(f"SELECT * FROM `{t}`", self.db) for t in ("jos_otap_schema_history",
                                                                        "jos_otap_release_history")}

    def history(self) -> list[tuple]:
        return self.sql("SELECT release_number, script, success, rollout FROM jos_otap_schema_history "
                        "ORDER BY installed_rank", self.db)


@pytest.fixture
def site(mariadb, tmp_path):
    return Site(mariadb, tmp_path)


def test_scripts_run_once_in_release_then_name_order_and_check_mode_only_says_which(site, run_module):
    site.release(3, s001_badges="CREATE TABLE #__badges (id INT PRIMARY KEY, label VARCHAR(20));\n",
                 s002_fill="INSERT INTO #__badges VALUES (1, 'new');\nALTER TABLE #__badges ADD COLUMN colour CHAR(7);\n")
    site.release(4, s001_colour="UPDATE #__badges SET colour = '#00a0e0' WHERE label = 'new';\n")
    before = site.state()

    checked = site.migrate(run_module, releases=[4, 3], _ansible_check_mode=True)
    assert checked["changed"] and [(a["release"], a["script"]) for a in checked["applied"]] == [
        (3, "s001-badges.sql"), (3, "s002-fill.sql"), (4, "s001-colour.sql")]
    assert site.state() == before and "jos_otap_schema_history" not in site.tables()

    done = site.migrate(run_module, releases=[4, 3])
    assert not done["failed"] and done["changed"], done
    assert [(a["release"], a["script"]) for a in done["applied"]] == [
        (3, "s001-badges.sql"), (3, "s002-fill.sql"), (4, "s001-colour.sql")]
    assert site.sql("SELECT * FROM jos_badges", site.db) == [(1, "new", "#00a0e0")]
    assert site.history() == [(3, "s001-badges.sql", 1, "run-1"), (3, "s002-fill.sql", 1, "run-1"),
                              (4, "s001-colour.sql", 1, "run-1")]
    assert set(done["checksums"]) == {"jos_badges", "jos_otap_schema_history"} and done["position"] is not None

    again = site.migrate(run_module, releases=[3, 4], rollout="run-2")
    assert not again["changed"] and len(again["skipped"]) == 3 and again["applied"] == []


def test_a_failing_script_puts_back_every_table_this_rollout_changed_and_says_where(site, run_module):
    site.release(5, s001_alter="ALTER TABLE #__content ADD COLUMN badge INT;\nUPDATE #__content SET title = 'x';\n",
                 s002_new="CREATE TABLE #__badges (id INT);\nDROP TABLE #__extensions;\n",
                 s003_broken="-- the third script\nUPDATE #__content SET badge = 1;\nUPDATE #__content SET nope = 2;\n")
    before = site.state()

    failed = site.migrate(run_module, releases=[5])
    assert failed["failed"], failed
    assert "release 5: sql/s003-broken.sql line 3 failed" in failed["msg"] and "Unknown column 'nope'" in failed["msg"]
    assert site.state() == before  # content, the dropped table and the new one: as before the rollout
    assert site.sql("SELECT COUNT(*) FROM snapshots", site.copies_db) == [(0,)]
    assert not site.copies()
    assert site.history() == [(5, "s003-broken.sql", 0, "run-1")]

    # Mended in a new package, the same release applies from its first script again.
    site.release(5, s003_broken="UPDATE #__content SET badge = 1;\n")
    assert site.migrate(run_module, releases=[5], rollout="run-2")["changed"]
    assert site.sql("SELECT DISTINCT title, badge FROM jos_content", site.db) == [("x", 1)]


def test_the_can_fail_hint_forgives_only_what_is_already_done(site, run_module):
    site.release(6, s001_again="ALTER TABLE #__content ADD COLUMN introtext TEXT /** CAN FAIL **/;\n"
                               "ALTER TABLE #__content DROP INDEX nope /** CAN FAIL **/;\n"
                               "UPDATE #__content SET introtext = 'y' WHERE id > 0;\n")
    done = site.migrate(run_module, releases=[6])
    assert not done["failed"], done
    assert [t["error"] for t in done["tolerated"]] == ["1060 duplicate column", "1091 nothing to drop"]

    before = site.state()
    site.release(7, s001_wrong="UPDATE #__content SET title = 'z';\nUPDATE #__content SET nope = 1 /** CAN FAIL **/;\n")
    failed = site.migrate(run_module, releases=[7], rollout="run-2")
    assert failed["failed"] and "line 2" in failed["msg"], failed
    assert site.state() == before


def test_a_script_changed_after_it_was_applied_is_refused(site, run_module):
    site.release(8, s001_add="INSERT INTO #__extensions VALUES (2, 'com_badges');\n")
    assert site.migrate(run_module, releases=[8])["changed"]
    site.release(8, s001_add="INSERT INTO #__extensions VALUES (2, 'com_badges_v2');\n")
    refused = site.migrate(run_module, releases=[8], rollout="run-2")
    assert refused["failed"] and "must not change after it was applied" in refused["msg"], refused
    assert site.sql("SELECT name FROM jos_extensions WHERE id = 2", site.db) == [("com_badges",)]


def test_a_rollout_rolled_back_after_its_later_steps_failed_is_undone_and_can_run_again(site, run_module):
    site.release(9, "New badges", s001_add="ALTER TABLE #__content ADD COLUMN badge INT;\n"
                                           "CREATE TABLE #__badges (id INT);\n")
    before = site.state()
    assert site.migrate(run_module, releases=[9])["changed"]
    assert site.state() != before

    back = site.migrate(run_module, state="rolled_back", releases=[9])
    assert back["changed"] and sorted(back["restored"]) == ["jos_badges", "jos_content"]
    assert site.state() == before and site.history() == []
    assert not site.migrate(run_module, state="rolled_back", releases=[9])["changed"]

    assert site.migrate(run_module, releases=[9], rollout="run-2")["changed"]
    final = site.migrate(run_module, state="finalized", releases=[9], rollout="run-2")
    assert final["changed"] and final["current_release"] == 9
    assert not site.copies()
    assert site.sql("SELECT release_number, title, action FROM jos_otap_release_history", site.db) == [
        (9, "New badges", "release")]
    assert not site.migrate(run_module, state="finalized", releases=[9], rollout="run-2")["changed"]
    # Finalised, the copies are gone: a later rollback of this rollout has nothing to restore.
    assert site.migrate(run_module, state="rolled_back", releases=[9], rollout="run-2")["restored"] == []
    assert "badge" in site.state()["jos_content"][0]

    history = site.migrate(run_module, state="query")
    assert [(h["release_number"], h["script"], h["success"]) for h in history["history"]] == [(9, "s001-add.sql", 1)]


def test_recorded_notes_the_first_install_and_a_rollback_of_the_code_once(site, run_module):
    assert site.migrate(run_module, state="recorded", releases=[1], _ansible_check_mode=True)["changed"]
    assert "jos_otap_release_history" not in site.tables()
    first = site.migrate(run_module, state="recorded", releases=[1])
    assert first["changed"] and first["current_release"] == 1
    assert not site.migrate(run_module, state="recorded", releases=[1])["changed"]
    back = site.migrate(run_module, state="recorded", releases=[1], rollout="run-2")
    assert not back["changed"]
    site.migrate(run_module, state="recorded", releases=[4], rollout="run-3")
    rolled = site.migrate(run_module, state="recorded", releases=[2], rollout="run-4")
    assert rolled["changed"] and rolled["current_release"] == 2
    assert site.sql("SELECT release_number, title, action FROM jos_otap_release_history ORDER BY id", site.db) == [
        (1, "the site as installed", "install"), (4, "back from release 1", "rollback"),
        (2, "back from release 4", "rollback")]


def test_the_guard_names_content_changed_beyond_what_the_release_declared(site, run_module):
    site.release(10, s001_titles="UPDATE #__content SET title = UPPER(title);\n"
                                 "UPDATE #__extensions SET name = 'com_content2';\n")
    undeclared = site.migrate(run_module, releases=[10], guard=True)
    assert [(c["table"], c["rows_changed_or_removed"], c["declared"]) for c in undeclared["content_changes"]] == [
        ("#__content", 3, False)]  # extensions are code, not content
    site.migrate(run_module, state="rolled_back", releases=[10])
    declared = site.migrate(run_module, releases=[10], rollout="run-2", guard=True, declared=["#__CONTENT"])
    assert [(c["table"], c["declared"]) for c in declared["content_changes"]] == [("#__content", True)]


# What the webmaster agreed to holds on Production: the SQL writes rows only in the content tables
# declared or accepted, however it spells the write. The node's refusals are off (no_refusal): the
# check of the content after the scripts alone must stop each one.
HELD_CONTENT = {
    "a row added": "INSERT INTO #__content (id, title, introtext) VALUES (4, 'Super User', 'x');",
    "a row added from a select": "INSERT INTO #__content (id, title, introtext) "
                                 "SELECT id + 10, title, introtext FROM #__content WHERE id = 1;",
    "rows changed where Acceptance had none": "UPDATE #__content SET title = 'defaced' WHERE id > 2;",
    "a row upserted": "INSERT INTO #__content (id, title, introtext) VALUES (1, 'Visiting hours', 'x') "
                      "ON DUPLICATE KEY UPDATE introtext = VALUES(introtext);",
    "a row replaced": "REPLACE INTO #__content (id, title, introtext) VALUES (2, 'Parking', 'Level -2');",
    "a row removed": "DELETE FROM #__content WHERE id = 3;",
    "a column dropped": "ALTER TABLE #__content DROP COLUMN introtext;",
    "a row removed after a harmless script": "-- first\nUPDATE #__extensions SET name = 'x' WHERE id = 1;\n"
                                             "DELETE FROM #__content WHERE title LIKE 'Park%';",
    # Rows as they were, behaviour not: a column's type or default, a constraint, a column that
    # hides or computes, the ids handed out next.
    "a column retyped": "ALTER TABLE #__content MODIFY introtext VARCHAR(200);",
    "a column's default": "ALTER TABLE #__content ALTER COLUMN introtext SET DEFAULT 'x';",
    "a check constraint": "ALTER TABLE #__content ADD CONSTRAINT k CHECK (id <> 42 OR title <> '');",
    "an invisible column": "ALTER TABLE #__content ADD COLUMN hidden INT DEFAULT 1 INVISIBLE;",
    "a generated column": "ALTER TABLE #__content ADD COLUMN shouted VARCHAR(100) AS (UPPER(title)) VIRTUAL;",
    "the counter wound back": "ALTER TABLE #__user_notes AUTO_INCREMENT = 1;",
    "the counter run out": "ALTER TABLE #__user_notes AUTO_INCREMENT = 2147483647;",
}


@pytest.mark.parametrize("write", HELD_CONTENT)
def test_content_rows_nobody_agreed_to_undo_the_sql_however_it_writes_them(site, run_module, no_refusal, write):
    # Notes whose top two were deleted: the counter stands past the last id.
    site.sql("CREATE TABLE jos_user_notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT)", site.db)
    site.sql("INSERT INTO jos_user_notes (body) VALUES ('a'), ('b'), ('c'), ('d')", site.db)
    site.sql("DELETE FROM jos_user_notes WHERE id > 2", site.db)
    site.release(60, s001_code="ALTER TABLE #__extensions ADD COLUMN version INT;\n",
                 s002_content=HELD_CONTENT[write] + "\n")
    before = site.state()
    failed = site.migrate(run_module, releases=[60], writable=["#__menu"])
    assert failed["failed"], failed
    assert re.search(r"the SQL changed content the webmaster did not agree to: #__(content|user_notes) \(",
                     failed["msg"]), failed["msg"]
    assert "the database was returned to where it was before this rollout" in failed["msg"]
    assert site.state() == before and not site.copies()
    assert not [h for h in site.history() if h[2]]  # no script counts as applied


def test_content_rows_the_webmaster_agreed_to_and_new_columns_pass(site, run_module):
    site.sql("CREATE TABLE jos_user_notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT)", site.db)
    site.sql("INSERT INTO jos_user_notes (body) VALUES ('a'), ('b'), ('c')", site.db)
    site.sql("DELETE FROM jos_user_notes WHERE id = 3", site.db)
    site.release(61, s001_badge="ALTER TABLE #__content ADD COLUMN badge VARCHAR(10) NOT NULL DEFAULT '' AFTER id;\n"
                                "UPDATE #__content SET badge = 'New' WHERE id = 1;\n"
                                "UPDATE #__extensions SET name = 'com_content2' WHERE id = 1;\n"
                                "ALTER TABLE #__user_notes ADD COLUMN colour CHAR(7), ADD INDEX idx_body (body(10));\n"
                                "ALTER TABLE #__user_notes ADD COLUMN size INT NOT NULL DEFAULT 0, ALGORITHM=COPY;\n")
    held = site.migrate(run_module, releases=[61], writable=[])  # no content row of before changed
    assert not held["failed"] and held["changed"], held
    site.release(62, s001_titles="UPDATE #__content SET title = UPPER(title) WHERE id > 0;\n"
                                 "INSERT INTO #__content (id, title, introtext, badge) VALUES (9, 'New', '', '');\n")
    agreed = site.migrate(run_module, releases=[62], rollout="run-2", writable=["#__CONTENT"])
    assert not agreed["failed"], agreed
    rows = content(site)  # id, badge, title, introtext
    assert rows[-1][:3] == (9, "", "New") and rows[0][:3] == (1, "New", "VISITING HOURS")


# What the release account must be refused by the database itself, whatever a filter before it
# missed: the database itself, content tables, another database, the server's accounts and
# settings, files on the server, objects that would run later as someone else.
ESCAPES = {
    "dropping the database": "DROP DATABASE {db};",
    "dropping it as a schema": "DROP SCHEMA IF EXISTS `{db}`;",
    "dropping content": "DROP TABLE #__content;",
    "dropping content among others": "DROP TABLE IF EXISTS #__extensions, #__content;",
    "emptying content": "TRUNCATE TABLE #__content;",
    "renaming content away": "RENAME TABLE #__content TO #__content_old;",
    "renaming content by ALTER": "ALTER TABLE #__content RENAME TO #__gone;",
    "dropping the history": "DROP TABLE #__otap_schema_history;",
    "forging the history": "UPDATE #__otap_schema_history SET checksum = REPEAT('0', 64) WHERE installed_rank > 0;",
    "forging the releases, by literal name": "DELETE FROM jos_otap_release_history WHERE id > 0;",
    "in an executable comment": "/*!50000 DROP TABLE #__content */;",
    "another database": "CREATE TABLE mysql.otap_x (id INT);",
    "the account table": "UPDATE mysql.global_priv SET Priv = '{{}}' WHERE User = 'root';",
    "a new account": "CREATE USER intruder@'%' IDENTIFIED BY 'x';",
    "a grant": "GRANT ALL ON *.* TO CURRENT_USER();",
    "a server setting": "SET GLOBAL read_only = 1;",
    "the binary log": "SET SESSION sql_log_bin = 0;",
    "a file read": "LOAD DATA INFILE '/etc/passwd' INTO TABLE #__content;",
    "a file written": "SELECT title FROM #__content INTO OUTFILE '/tmp/otap-escape';",
    "a table file outside the data": "CREATE TABLE #__placed (id INT) DATA DIRECTORY = '/tmp';",
    "a trigger": "CREATE TRIGGER #__t BEFORE INSERT ON #__content FOR EACH ROW SET NEW.title = 'x';",
    "a routine": "CREATE PROCEDURE #__p() SQL SECURITY DEFINER SELECT 1;",
    "an event": "CREATE EVENT #__e ON SCHEDULE EVERY 1 HOUR DO DELETE FROM #__content;",
    "a view": "CREATE VIEW #__v AS SELECT * FROM #__content;",
}


def grants(site) -> list[tuple]:
    return site.sql(f"SHOW GRANTS FOR {site.user}@localhost")


@pytest.mark.parametrize("escape", ESCAPES)
def test_the_release_account_cannot_reach_beyond_the_sites_tables(site, run_module, escape):
    site.release(11, s001_first="UPDATE #__content SET introtext = 'changed' WHERE id > 0;\n",
                 s002_escape=ESCAPES[escape].format(db=site.db) + "\n")
    before, accounts, rights = site.state(), site.sql("SELECT User, Host, Priv FROM mysql.global_priv"), grants(site)
    refused = site.migrate(run_module, releases=[11])
    assert refused["failed"] and re.search(r"sql/s002-escape.sql line 1 (failed|is refused on the node)",
                                           refused["msg"]), refused
    assert site.state() == before
    assert site.sql("SELECT User, Host, Priv FROM mysql.global_priv") == accounts and grants(site) == rights
    assert site.sql("SELECT @@global.read_only") == [(0,)] and not Path("/tmp/otap-escape").exists()
    assert site.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'mysql' "
                    "AND table_name = 'otap_x'") == [(0,)]


def test_a_release_drops_empties_and_renames_its_own_tables_with_rights_lent_for_those_alone(site, run_module):
    site.sql("CREATE TABLE jos_otap_cache (id INT)", site.db)
    site.sql("CREATE TABLE jos_otap_legacy (id INT)", site.db)
    site.sql("CREATE TABLE jos_otap_old (id INT)", site.db)
    site.sql("INSERT INTO jos_otap_cache VALUES (1), (2)", site.db)
    rights = grants(site)
    site.release(13, s001_tidy="TRUNCATE TABLE #__otap_cache;\n"
                               "DROP TABLE IF EXISTS #__otap_never_made, #__otap_legacy;\n"
                               "DROP TABLE #__otap_gone /** CAN FAIL **/;\n"
                               "RENAME TABLE #__otap_old TO #__otap_new;\nALTER TABLE #__otap_new RENAME TO #__otap_newer;\n"
                               "UPDATE #__content SET introtext = 'kept' WHERE id = 1;\n")
    done = site.migrate(run_module, releases=[13])
    assert not done["failed"], done
    assert [(t["line"], t["error"]) for t in done["tolerated"]] == [(3, "1051 unknown table")]
    assert site.sql("SELECT COUNT(*) FROM jos_otap_cache", site.db) == [(0,)]
    assert {"jos_otap_legacy", "jos_otap_old", "jos_otap_new"}.isdisjoint(site.tables())
    assert "jos_otap_newer" in site.tables()
    assert grants(site) == rights  # every right lent is taken back
    assert site.sql("SELECT COUNT(*) FROM mysql.tables_priv WHERE User = %s" % repr(site.user)) == [(0,)]


def test_a_right_left_by_a_rollout_cut_off_midway_is_taken_back(site, run_module):
    site.sql(f"GRANT DROP ON {site.db}.jos_extensions TO {site.user}@localhost")
    site.release(14, s001_drop="DROP TABLE #__content;\n")
    assert site.migrate(run_module, releases=[14])["failed"]
    assert "jos_content" in site.tables()
    assert site.sql("SELECT COUNT(*) FROM mysql.tables_priv WHERE User = %s" % repr(site.user)) == [(0,)]


def test_a_file_read_is_refused_on_the_node_and_would_read_nothing_as_the_release_account(site, run_module):
    statement = "UPDATE #__content SET introtext = LOAD_FILE('/etc/passwd') WHERE id > 0;\n"
    before = site.state()
    site.release(12, s001_quiet=statement)
    refused = site.migrate(run_module, releases=[12])
    assert refused["failed"] and "LOAD_FILE is not allowed" in refused["msg"] and site.state() == before
    site.sql(f"GRANT {migration.LENT} ON {site.db}.jos_content TO {site.user}@localhost")  # as a rollout lends
    with pymysql.connect(unix_socket=site.sql.socket, user=site.user, password="pw", database=site.db,
                         autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(statement.replace("#__", "jos_"))
    assert site.sql("SELECT DISTINCT introtext FROM jos_content", site.db) == [(None,)]


def test_a_restore_takes_back_the_rights_of_scripts_that_were_cut_off(site, run_module):
    site.release(34, s001_add="ALTER TABLE #__extensions ADD COLUMN version INT;\n")
    assert not site.migrate(run_module, releases=[34])["failed"]
    # As if the module had been killed between lending and taking back.
    site.sql(f"GRANT {migration.LENT} ON {site.db}.jos_content TO {site.user}@localhost")
    back = site.migrate(run_module, state="rolled_back", releases=[34])
    assert back["restored"] == ["jos_extensions"]
    assert site.sql(f"SELECT COUNT(*) FROM mysql.tables_priv WHERE User = '{site.user}'") == [(0,)]


def test_bad_settings_say_what_to_check(site, run_module, tmp_path):
    missing = run_module(joomla_migrate, config=str(tmp_path / "nope.php"), state="query",
                         login_unix_socket=site.sql.socket, login_user=site.user, login_password="pw")
    assert missing["failed"] and "nope.php" in missing["msg"]
    wrong = run_module(joomla_migrate, config=str(site.config), state="query",
                       login_unix_socket=site.sql.socket, login_user=site.user, login_password="not it")
    assert wrong["failed"] and f"cannot connect to MariaDB as {site.user}" in wrong["msg"]
    assert "not it" not in wrong["msg"]


# What a script may try against the copies a failed rollout is put back from: where they are
# kept, and where they were kept before they moved out of the release account's reach.
AGAINST_THE_COPIES = {
    "emptying a copy": "DELETE FROM otap_copies_{db}.jos_otap_snap15_content WHERE id > 0;",
    "emptying a copy where copies were once kept": "DELETE FROM #__otap_snap15_content WHERE id > 0;",
    "forging the list of copies": "INSERT INTO otap_copies_{db}.snapshots (release_number, table_name, "
                                  "snapshot_name, existed, rollout) VALUES (15, 'jos_x', 'jos_content', 1, 'run-1');",
    "unmarking a copy": "UPDATE otap_copies_{db}.snapshots SET existed = 0 WHERE id > 0;",
    "unmarking a copy where the list was once kept": "UPDATE #__otap_snapshots SET existed = 0 WHERE id > 0;",
}


@pytest.mark.parametrize("attack", AGAINST_THE_COPIES)
def test_a_failed_rollout_is_put_back_from_copies_no_script_can_reach(site, run_module, attack):
    site.release(15, s001_content="DELETE FROM #__content WHERE id > 1;\n",
                 s002_attack=AGAINST_THE_COPIES[attack].format(db=site.db) + "\n",
                 s003_fail="UPDATE #__content SET nope = 1 WHERE id = 1;\n")
    before = site.state()
    failed = site.migrate(run_module, releases=[15])
    assert failed["failed"], failed
    assert site.state() == before and site.copies() == set()


# Content named otherwise than #__name would not be copied before the script: the node refuses it.
CONTENT_UNCOPIED = {
    "by its literal name": "DELETE FROM jos_content WHERE id > 0;",
    "in backticks": "DELETE FROM `jos_content` WHERE id > 0;",
    "with its database": "DELETE FROM {db}.jos_content WHERE id > 0;",
    "in an executable comment": "DELETE FROM /*!jos_content*/ WHERE id > 0;",
    "in MariaDB's executable comment": "DELETE /*M!100100 FROM jos_content WHERE id > 0 */;",
    "behind SET STATEMENT": "SET STATEMENT max_statement_time = 0 FOR DELETE FROM #__content WHERE id > 1;",
    "in dynamic SQL": "EXECUTE IMMEDIATE CONCAT('DELETE FROM ', 'jos', '_content WHERE id > 1');",
    "in a prepared statement": "PREPARE s FROM 'DELETE FROM jos_content WHERE id > 1';",
    "read otherwise by a changed mode": "SET SESSION sql_mode = 'ANSI_QUOTES';",
    "read otherwise by a changed mode, spelled as a variable": "SET @x = 1, sql_mode = 'NO_BACKSLASH_ESCAPES';",
    "read otherwise by a setting": "SET @@session.sql_mode = 'ANSI_QUOTES';",
    "hidden behind a temporary table": "CREATE TEMPORARY TABLE #__content AS SELECT * FROM #__content WHERE id = 1;",
    "through a cascade": "ALTER TABLE #__content ADD FOREIGN KEY (id) REFERENCES #__extensions (id) ON DELETE CASCADE;",
    "with its tablespace discarded": "ALTER TABLE #__content DISCARD TABLESPACE;",
    "in a memory table": "ALTER TABLE #__content ENGINE = MEMORY;",
    "with system versioning": "ALTER TABLE #__content ADD SYSTEM VERSIONING;",
    "held in a transaction": "START TRANSACTION;",
    "locked": "LOCK TABLES #__content WRITE;",
    "waited on": "DO SLEEP(3600);",
    "read and locked": "INSERT INTO #__extensions SELECT id + 10, title FROM #__content FOR UPDATE;",
}


@pytest.mark.parametrize("spelling", CONTENT_UNCOPIED)
def test_content_named_past_the_copies_is_refused_before_anything_runs(site, run_module, spelling):
    site.release(22, s001_first="UPDATE #__extensions SET name = 'x' WHERE id = 1;\n",
                 s002_content=CONTENT_UNCOPIED[spelling].format(db=site.db) + "\n",
                 s003_fail="UPDATE #__extensions SET nope = 1;\n")
    before = site.state()
    refused = site.migrate(run_module, releases=[22])
    assert refused["failed"] and "sql/s002-content.sql line 1 is refused on the node" in refused["msg"], refused
    assert site.state() == before and "jos_otap_schema_history" not in site.tables()


# With the node's refusals switched off (a filter that misses), the account itself refuses every
# table a script does not name as #__name, so was not copied before it, and the migration's own.
PAST_THE_NODE = {
    "content by its literal name": "DELETE FROM jos_content WHERE id > 0;",
    "content in backticks": "DELETE FROM `jos_content` WHERE id > 0;",
    "content with its database": "DELETE FROM {db}.jos_content WHERE id > 0;",
    "content in an executable comment": "DELETE FROM /*!jos_content*/ WHERE id > 0;",
    "content in dynamic SQL": "EXECUTE IMMEDIATE CONCAT('DELETE FROM ', 'jos', '_content WHERE id > 1');",
    "content in a prepared statement": "PREPARE s FROM 'DELETE FROM jos_content WHERE id > 1';\nEXECUTE s;",
    "content hidden behind a temporary table": "CREATE TEMPORARY TABLE #__content (id INT);",
    "content locked": "LOCK TABLES jos_content WRITE;",
    "the history, named": "UPDATE #__otap_schema_history SET checksum = REPEAT('0', 64) WHERE installed_rank > 0;",
    "the history, by literal name": "DELETE FROM jos_otap_schema_history WHERE installed_rank > 0;",
    "the releases, named": "INSERT INTO #__otap_release_history (release_number, title, action, applied_by, "
                           "applied_at) VALUES (99, 'forged', 'release', 'agency', NOW());",
    "the releases, with their database": "UPDATE {db}.jos_otap_release_history SET release_number = 99;",
}


@pytest.mark.parametrize("spelling", PAST_THE_NODE)
def test_what_the_node_would_miss_the_release_account_is_refused(site, run_module, monkeypatch, spelling):
    site.release(30, s001_first="ALTER TABLE #__extensions ADD COLUMN version INT;\n")
    assert not site.migrate(run_module, releases=[30])["failed"]
    assert not site.migrate(run_module, state="finalized", releases=[30])["failed"]
    monkeypatch.setattr(migration, "refusal", lambda *_args, **_kwargs: None)
    site.release(31, s001_first="UPDATE #__extensions SET version = 2 WHERE id = 1;\n",
                 s002_attack=PAST_THE_NODE[spelling].format(db=site.db) + "\n",
                 s003_fail="UPDATE #__extensions SET nope = 1;\n")
    before, history = site.state(), site.machinery()
    failed = site.migrate(run_module, releases=[31], rollout="run-2")
    assert failed["failed"] and re.search(r"sql/s002-attack.sql line \d+ failed", failed["msg"]), failed
    assert re.search(r"command denied|Access denied", failed["msg"]), failed
    assert site.state() == before
    after = site.machinery()  # as before, and the failure noted
    assert after["jos_otap_release_history"] == history["jos_otap_release_history"]
    assert after["jos_otap_schema_history"][:-1] == history["jos_otap_schema_history"]
    assert after["jos_otap_schema_history"][-1][1:3] == (31, "s002-attack.sql") and after["jos_otap_schema_history"][-1][7] == 0


@pytest.fixture
def no_refusal(monkeypatch):
    """A node-side filter that misses everything."""
    monkeypatch.setattr(migration, "refusal", lambda *_args, **_kwargs: None)


def content(site) -> list[tuple]:
    return site.sql("SELECT * FROM jos_content ORDER BY id", site.db)


def test_no_copy_stands_in_for_another(site, run_module):
    """Tables whose copies once shared a name (a long name's digest spelled as a table), and a table
    rolled out twice in one release's two rollouts: each is put back from its own copy."""
    long = "l" * 55
    digest = hashlib.sha256(f"jos_{long}".encode()).hexdigest()[:12]
    site.release(40, s001_make=f"CREATE TABLE #__{long} (id INT);\nCREATE TABLE #__{digest} (id INT);\n")
    site.release(41, s001_go=f"UPDATE #__content SET introtext = 'gone' WHERE id > 0;\nUPDATE #__{long} SET id = 2;\n"
                             f"UPDATE #__{digest} SET id = 3;\nUPDATE #__content SET nope = 1 WHERE id = 1;\n")
    before = content(site)
    assert site.migrate(run_module, releases=[40, 41])["failed"]
    assert content(site) == before
    site.release(42, s001_a="UPDATE #__content SET title = 'r1' WHERE id = 1;\n")
    assert not site.migrate(run_module, releases=[42], rollout="run-2")["failed"]
    site.release(42, s002_b="UPDATE #__content SET title = 'r2' WHERE id = 2;\n")
    assert not site.migrate(run_module, releases=[42], rollout="run-3")["failed"]
    assert site.migrate(run_module, state="rolled_back", releases=[42], rollout="run-2")["restored"] == ["jos_content"]
    assert content(site) == before


def test_a_foreign_key_or_a_prepared_transaction_of_a_script_holds_no_restore_back(site, run_module, no_refusal):
    site.release(43, s001_content="DELETE FROM #__content WHERE id > 1;\n",
                 s002_chain="CREATE TABLE #__child (id INT);\nCREATE TABLE #__parent (id INT PRIMARY KEY);\n"
                            "ALTER TABLE #__child ADD FOREIGN KEY (id) REFERENCES #__parent (id);\n",
                 s003_xa="XA START 'agency';\nUPDATE #__extensions SET name = 'x' WHERE id = 1;\nXA END 'agency';\n"
                         "XA PREPARE 'agency';\n",
                 s004_fail="UPDATE #__extensions SET nope = 1;\n")
    before = site.state()
    failed = site.migrate(run_module, releases=[43])
    assert failed["failed"] and "the script left a transaction open" in failed["msg"], failed
    assert not site.sql("XA RECOVER")
    assert site.state() == before


def test_each_script_holds_only_its_own_tables_rights(site, run_module, no_refusal):
    """A later release that names no table cannot use the rights lent for an earlier one, and every
    script of a failed rollout leaves the history, copies or not."""
    site.release(44, s001_a="UPDATE #__content SET title = 'r44' WHERE id = 1;\n")
    site.release(45, s001_b="UPDATE jos_content SET introtext = 'r45';\n")
    before = content(site)
    failed = site.migrate(run_module, releases=[44, 45])
    assert failed["failed"] and "UPDATE command denied" in failed["msg"], failed
    assert content(site) == before and [h[2] for h in site.history()] == [0]


def test_rights_every_account_holds_through_public_count_as_the_release_accounts(site, run_module):
    site.sql(f"GRANT DROP ON {site.db}.jos_content TO PUBLIC")
    try:
        site.release(46, s001_drop="DROP TABLE #__content;\n")
        refused = site.migrate(run_module, releases=[46])
    finally:
        site.sql(f"REVOKE DROP ON {site.db}.jos_content FROM PUBLIC")
    assert refused["failed"] and "through PUBLIC" in refused["msg"], refused
    assert "jos_content" in site.tables()


def test_the_servers_own_modes_change_no_copy(site, run_module):
    """A lax server sql_mode neither cuts a long name short nor renumbers a row whose id is 0."""
    site.sql("CREATE TABLE jos_menu_types (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(20))", site.db)
    site.sql(f"INSERT INTO {site.db}.jos_menu_types VALUES (5, 'main'), (7, 'top')")
    site.sql(f"UPDATE {site.db}.jos_menu_types SET id = 0 WHERE id = 5")
    mode = site.sql("SELECT @@global.sql_mode")[0][0]
    site.sql("SET GLOBAL sql_mode = 'NO_ENGINE_SUBSTITUTION'")
    try:
        site.release(47, s001_x="UPDATE #__menu_types SET title = UPPER(title);\nUPDATE #__menu_types SET nope = 1;\n")
        before = site.state()
        assert site.migrate(run_module, releases=[47])["failed"]
        assert site.state() == before
        site.release(48, s001_long=f"UPDATE #__{'n' * 61} SET a = 1;\n")
        refused = site.migrate(run_module, releases=[48])
    finally:
        site.sql(f"SET GLOBAL sql_mode = '{mode}'")
    assert refused["failed"] and "longer with the prefix than the 64 characters" in refused["msg"], refused


def test_a_table_whose_copy_could_not_be_put_back_is_refused_before_anything_runs(site, run_module):
    site.sql("CREATE TABLE jos_action_logs (id INT)", site.db)
    site.sql("CREATE TRIGGER log_content AFTER UPDATE ON jos_content FOR EACH ROW "
             "INSERT INTO jos_action_logs VALUES (NEW.id)", site.db)
    site.release(49, s001_x="DELETE FROM #__content WHERE id > 1;\n")
    before = site.state()
    refused = site.migrate(run_module, releases=[49])
    assert refused["failed"] and "jos_content has the trigger log_content" in refused["msg"], refused
    assert site.state() == before and "jos_otap_schema_history" not in site.tables()


MERGE = ("ALTER TABLE #__extensions ENGINE = MyISAM;\nCREATE TABLE #__sink (id INT, name VARCHAR(100)) ENGINE = MyISAM;\n"
         "CREATE TABLE #__both (id INT, name VARCHAR(100)) ENGINE = MERGE UNION = (#__extensions, #__sink);\n")


def test_a_merge_table_that_would_reach_tables_no_script_names_is_refused(site, run_module, monkeypatch):
    site.release(50, s001_merge=MERGE)
    refused = site.migrate(run_module, releases=[50])
    assert refused["failed"] and "is refused on the node" in refused["msg"], refused
    before = site.state()
    monkeypatch.setattr(migration, "refusal", lambda *_args, **_kwargs: None)
    failed = site.migrate(run_module, releases=[50])
    assert failed["failed"] and "the script left the MERGE table jos_both" in failed["msg"], failed
    assert site.state() == before


def test_a_transaction_a_script_leaves_prepared_undoes_the_rollout(site, run_module, no_refusal):
    site.release(51, s001_xa="XA START 'agency';\nDELETE FROM #__content WHERE id > 0;\nXA END 'agency';\n"
                             "XA PREPARE 'agency';\n")
    before = site.state()
    failed = site.migrate(run_module, releases=[51], guard=True)
    assert failed["failed"] and "left a transaction open" in failed["msg"], failed
    assert site.state() == before and not site.sql("XA RECOVER")


def test_another_clients_prepared_transactions_are_left_alone(site, run_module, no_refusal, monkeypatch):
    site.sql("CREATE DATABASE IF NOT EXISTS other")
    site.sql("CREATE TABLE IF NOT EXISTS other.t (id INT PRIMARY KEY) ENGINE = InnoDB")
    clients = [pymysql.connect(unix_socket=site.sql.socket, user="root", autocommit=True) for _ in range(2)]
    snapshot = migration.Migration.snapshot

    def prepare_elsewhere(self, release, tables):  # while the rollout runs: one stays attached, one detached
        if clients[1].open:
            for number, client in enumerate(clients):
                with client.cursor() as cursor:
                    for statement in (f"XA START 'pay-{number}'", f"INSERT INTO other.t VALUES ({number})",
                                      f"XA END 'pay-{number}'", f"XA PREPARE 'pay-{number}'"):
                        cursor.execute(statement)
            clients[1].close()
        return snapshot(self, release, tables)

    monkeypatch.setattr(migration.Migration, "snapshot", prepare_elsewhere)
    site.release(52, s001_content="UPDATE #__content SET introtext = 'gone' WHERE id > 0;\n",
                 s002_xa="XA START 'agency';\nUPDATE #__extensions SET name = 'x';\nXA END 'agency';\n"
                         "XA PREPARE 'agency';\n")
    before = site.state()
    try:
        failed = site.migrate(run_module, releases=[52])
        # Another client's prepared in the window is not told from the scripts': the rollout fails, safely.
        assert failed["failed"] and "an XA transaction was prepared while the script ran" in failed["msg"], failed
        assert site.state() == before
        assert sorted(row[3] for row in site.sql("XA RECOVER")) == [b"pay-0", b"pay-1"]
    finally:
        with clients[0].cursor() as cursor:
            cursor.execute("XA ROLLBACK 'pay-0'")
        clients[0].close()
        site.sql("XA ROLLBACK 'pay-1'")


def prepare_elsewhere(site, monkeypatch, xid: str, row: int) -> None:
    """Another client prepares XA transaction `xid` (a row of another database) and leaves, while a
    rollout takes its copies."""
    site.sql("CREATE DATABASE IF NOT EXISTS other")
    site.sql("CREATE TABLE IF NOT EXISTS other.t (id INT PRIMARY KEY) ENGINE = InnoDB")
    snapshot = migration.Migration.snapshot

    def prepare(self, release, tables):
        with pymysql.connect(unix_socket=site.sql.socket, user="root", autocommit=True) as client:
            for statement in (f"XA START '{xid}'", f"INSERT INTO other.t VALUES ({row})", f"XA END '{xid}'",
                              f"XA PREPARE '{xid}'"):
                client.cursor().execute(statement)
        return snapshot(self, release, tables)

    monkeypatch.setattr(migration.Migration, "snapshot", prepare)


def test_a_failure_outside_any_transaction_leaves_others_prepared_transactions_alone(site, run_module, monkeypatch):
    prepare_elsewhere(site, monkeypatch, "pay", 1)
    site.release(53, s001_fail="UPDATE #__extensions SET nope = 1;\n")
    try:
        assert site.migrate(run_module, releases=[53])["failed"]
        assert [row[3] for row in site.sql("XA RECOVER")] == [b"pay"]
    finally:
        site.sql("XA ROLLBACK 'pay'")


@pytest.mark.parametrize("statement", ["SET NAMES gbk;", "SET @x = 1, NAMES gbk;", "SET @x = 1, CHARACTER SET big5;",
                                       "SET @x = 1, SESSION sql_mode = '';", "SET @x = 1, LOCAL foreign_key_checks = 0;",
                                       "SET @x = 1, PASSWORD FOR CURRENT_USER() = PASSWORD('agency');",
                                       "SET @x = (1), @y = 2, autocommit = 0;", "SET NAMES utf8mb4, @x = 1;"])
def test_a_set_of_anything_but_unicode_or_user_variables_is_refused(site, run_module, statement):
    site.release(56, s001_set=statement + "\nUPDATE #__content SET title = 'x' WHERE id = 1;\n")
    before = site.state()
    refused = site.migrate(run_module, releases=[56])
    assert refused["failed"] and "SET may set the character set (utf8mb4)" in refused["msg"], refused
    assert site.state() == before


def test_a_set_of_unicode_or_user_variables_runs(site, run_module):
    site.release(55, s001_set="SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci;\nSET @a = CONCAT('x', ','), @b := 2;\n"
                              "UPDATE #__content SET title = @a WHERE id = @b;\n")
    assert not site.migrate(run_module, releases=[55])["failed"]
    assert site.sql("SELECT title FROM jos_content WHERE id = 2", site.db) == [("x,",)]


@pytest.mark.parametrize("change", ["ALTER TABLE #__content ENGINE = Aria;", "ALTER TABLE #__content DISCARD TABLESPACE;"])
def test_content_a_script_leaves_on_another_engine_or_unreadable_is_put_back(site, run_module, no_refusal, change):
    site.release(57, s001_x=change + "\n")
    before = site.state()
    failed = site.migrate(run_module, releases=[57])
    assert failed["failed"] and re.search("moved the content table jos_content|discarded", failed["msg"]), failed
    assert site.state() == before


def test_a_restore_held_back_by_another_sessions_read_says_so_and_is_finished_later(site, run_module, monkeypatch):
    monkeypatch.setattr(migration, "LOCK_WAIT", 1)
    site.release(58, s001_a="UPDATE #__content SET title = 'defaced' WHERE id = 1;\n",
                 s002_b="UPDATE #__extensions SET name = 'x' WHERE id = 1;\nUPDATE #__extensions SET nope = 1;\n")
    before = site.state()
    with pymysql.connect(unix_socket=site.sql.socket, user="root", database=site.db, autocommit=True) as reader:
        reader.cursor().execute("START TRANSACTION")
        reader.cursor().execute("SELECT COUNT(*) FROM jos_content")  # a backup's consistent read, say
        stuck = site.migrate(run_module, releases=[58])
        reader.cursor().execute("COMMIT")
    assert stuck["failed"] and "putting the database back stopped" in stuck["msg"], stuck
    assert "finish with state=rolled_back" in stuck["msg"] and stuck["restored"] == ["jos_extensions"]
    assert site.migrate(run_module, state="rolled_back", releases=[58])["restored"] == ["jos_content"]
    assert site.state() == before and site.history() == [(58, "s002-b.sql", 0, "run-1")]


def test_a_scripts_session_that_ends_itself_leaves_others_prepared_transactions_alone(site, run_module, no_refusal,
                                                                                       monkeypatch):
    prepare_elsewhere(site, monkeypatch, "paid", 9)
    site.release(59, s001_end="UPDATE #__extensions SET name = 'y';\nKILL CONNECTION_ID();\n")
    before = site.state()
    try:
        assert site.migrate(run_module, releases=[59])["failed"]
        assert site.state() == before and [row[3] for row in site.sql("XA RECOVER")] == [b"paid"]
    finally:
        site.sql("XA ROLLBACK 'paid'")


def test_a_transaction_prepared_past_the_session_undoes_the_rollout(site, run_module, no_refusal, monkeypatch):
    monkeypatch.setattr(migration, "LOCK_WAIT", 1)  # root cannot prove it the scripts': it holds the restore back
    site.release(61, s001_park="SET SESSION pseudo_slave_mode = 1;\nXA START 'agency';\nDELETE FROM #__content;\n"
                               "XA END 'agency';\nXA PREPARE 'agency';\n")
    failed = site.migrate(run_module, releases=[61])
    try:
        assert failed["failed"] and "an XA transaction was prepared while the script ran" in failed["msg"], failed
    finally:
        for row in site.sql("XA RECOVER FORMAT='SQL'"):
            site.sql(f"XA ROLLBACK {row[3]}")
    assert "putting the database back stopped" in failed["msg"] and site.migrate(
        run_module, state="rolled_back", releases=[61])["restored"] == ["jos_content"]
    assert [row[0] for row in content(site)] == [1, 2, 3]


# A partition's file is named `<table>#P#<partition>.ibd`, each CJK character as five bytes, at most
# 255 bytes in all: 40 are too long for the copies' database; 45 and 2 fit `jos_content` (and the
# server's own temporary name while it alters) but no name longer than 21 characters.
@pytest.mark.parametrize("partition", ["中" * 40, "中" * 45 + "ab"], ids=["too-long-to-copy", "fits-only-its-own-name"])
def test_partitions_a_script_makes_undo_the_rollout_even_with_names_too_long_to_move(site, run_module, no_refusal,
                                                                                    partition):
    site.release(62, s001_a="DELETE FROM #__content WHERE id > 1;\nALTER TABLE #__content PARTITION BY RANGE (id) "
                            f"(PARTITION `{partition}` VALUES LESS THAN MAXVALUE);\n")
    before = site.state()
    failed = site.migrate(run_module, releases=[62])
    assert failed["failed"] and "the script changed the partitions of jos_content" in failed["msg"], failed
    assert site.state() == before


def test_a_script_that_changes_the_release_accounts_password_is_undone_with_it(site, run_module, no_refusal):
    site.release(63, s001_pw="SET PASSWORD FOR CURRENT_USER() = PASSWORD('agency');\n")
    failed = site.migrate(run_module, releases=[63])
    assert failed["failed"] and "the script changed the release account" in failed["msg"], failed
    with pytest.raises(pymysql.err.OperationalError, match="1045"):
        pymysql.connect(unix_socket=site.sql.socket, user=site.user, password="agency")
    site.release(64, s001_ok="UPDATE #__extensions SET name = 'ok' WHERE id = 1;\n")
    assert not site.migrate(run_module, releases=[64], rollout="run-2")["failed"]  # with its own password still


def test_one_run_at_a_time_on_a_site_database(site, run_module, monkeypatch):
    monkeypatch.setattr(migration, "RUN_WAIT", 0)
    lock = "otap_migrate_" + hashlib.sha256(site.db.encode()).hexdigest()[:40]
    site.release(60, s001_a="UPDATE #__content SET title = 'x' WHERE id = 1;\n")
    with pymysql.connect(unix_socket=site.sql.socket, user="root", autocommit=True) as other:
        other.cursor().execute("SELECT GET_LOCK(%s, 0)", (lock,))
        refused = site.migrate(run_module, releases=[60])
    assert refused["failed"] and "another joomla_migrate is running" in refused["msg"], refused
    assert not site.migrate(run_module, releases=[60])["failed"]


def test_a_system_versioned_table_whose_history_no_copy_holds_is_refused(site, run_module):
    site.sql("ALTER TABLE jos_extensions ADD SYSTEM VERSIONING", site.db)
    site.release(53, s001_x="UPDATE #__extensions SET name = 'v2' WHERE id = 1;\n")
    refused = site.migrate(run_module, releases=[53])
    assert refused["failed"] and "jos_extensions keeps system-versioned history" in refused["msg"], refused


def test_the_releases_are_noted_all_or_none_and_a_long_title_is_cut(site, run_module):
    site.release(54, s001_a="UPDATE #__content SET title = 'r54' WHERE id = 1;\n")
    site.release(55, "T" * 300, s001_b="UPDATE #__extensions SET name = 'r55' WHERE id = 1;\n")
    assert not site.migrate(run_module, releases=[54, 55])["failed"]
    final = site.migrate(run_module, state="finalized", releases=[54, 55])
    assert final["changed"] and final["current_release"] == 55 and not site.copies()
    assert site.sql("SELECT release_number, LENGTH(title) FROM jos_otap_release_history ORDER BY id", site.db) == [
        (54, 10), (55, 255)]


def test_names_made_by_a_script_reach_root_only_quoted(site, run_module, tmp_path):
    evil = "x`)) AS d FROM mysql.global_priv#"
    site.release(16, s001_menu=f"CREATE TABLE #__menu_x (`{evil.replace('`', '``')}` INT);\n"
                               "INSERT INTO #__menu_x VALUES (1);\n")
    done = site.migrate(run_module, releases=[16], guard=True)
    assert not done["failed"], done
    site.release(17, s001_more="INSERT INTO #__menu_x VALUES (2);\n", s002_fail="UPDATE #__content SET nope = 1;\n")
    failed = site.migrate(run_module, releases=[17], rollout="run-2", guard=True)
    assert failed["failed"] and "Unknown column 'nope'" in failed["msg"], failed  # not a syntax error of root's
    assert site.sql("SELECT * FROM jos_menu_x", site.db) == [(1,)]


@pytest.mark.parametrize("sabotage", ["KILL CONNECTION_ID();", "SET character_set_results = binary;"])
def test_a_script_that_breaks_its_own_session_is_put_back_and_keeps_no_right(site, run_module, sabotage):
    site.sql("CREATE TABLE jos_otap_cache (id INT)", site.db)
    site.sql("INSERT INTO jos_otap_cache VALUES (1)", site.db)
    before = site.state()
    site.release(18, s001_break=f"TRUNCATE TABLE #__otap_cache;\nTRUNCATE TABLE #__extensions;\n{sabotage}\n"
                                "DELETE FROM #__content WHERE id > 0;\nUPDATE #__content SET nope = 1;\n")
    assert site.migrate(run_module, releases=[18])["failed"]
    assert site.state() == before
    assert site.sql(f"SELECT COUNT(*) FROM mysql.tables_priv WHERE User = '{site.user}'") == [(0,)]


def test_invisible_and_generated_columns_come_back_as_they_were(site, run_module):
    site.sql("CREATE TABLE jos_tags (id INT PRIMARY KEY, title VARCHAR(20), note VARCHAR(20) INVISIBLE, "
             "slug VARCHAR(20) AS (LOWER(title)) STORED)", site.db)
    site.sql("INSERT INTO jos_tags (id, title, note) VALUES (1, 'Cardio', 'kept')", site.db)
    before = site.state() | {"note": site.sql("SELECT id, note FROM jos_tags", site.db)}
    site.release(19, s001_tags="UPDATE #__tags SET title = 'x' WHERE id = 1;\nUPDATE #__tags SET nope = 1;\n")
    assert site.migrate(run_module, releases=[19])["failed"]
    assert site.state() | {"note": site.sql("SELECT id, note FROM jos_tags", site.db)} == before


def test_a_restored_table_never_hands_out_an_id_it_gave_before(site, run_module):
    site.sql("CREATE TABLE jos_notes (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20))", site.db)
    site.sql("INSERT INTO jos_notes (note) VALUES ('a'), ('b'), ('c')", site.db)
    site.sql("DELETE FROM jos_notes WHERE id = 3", site.db)  # an editor deleted the newest: id 3 is spent
    site.release(33, s001_notes="UPDATE #__notes SET note = UPPER(note);\nUPDATE #__notes SET nope = 1;\n")
    assert site.migrate(run_module, releases=[33])["failed"]
    site.sql("INSERT INTO jos_notes (note) VALUES ('d')", site.db)
    assert site.sql("SELECT id, note FROM jos_notes ORDER BY id", site.db) == [(1, "a"), (2, "b"), (4, "d")]


def test_another_rollouts_copies_are_neither_restored_nor_dropped(site, run_module):
    site.release(20, s001_add="ALTER TABLE #__content ADD COLUMN badge INT;\n")
    assert site.migrate(run_module, releases=[20])["changed"]
    after = site.state()
    assert not site.migrate(run_module, state="rolled_back", releases=[20], rollout="run-other")["changed"]
    assert not site.migrate(run_module, state="finalized", releases=[20], rollout="run-other")["failed"]
    assert site.state() == after and site.copies()
    assert site.migrate(run_module, state="rolled_back", releases=[20])["restored"] == ["jos_content"]


def test_scripts_never_run_as_the_user_that_keeps_the_copies(site, run_module):
    site.release(21, s001_drop="DROP TABLE #__content;\n")
    refused = run_module(joomla_migrate, config=str(site.config), releases=[21], unpacked_dir=str(site.unpacked),
                         rollout="run-1", login_unix_socket=site.sql.socket)
    assert refused["failed"] and "release account of their own" in refused["msg"], refused
    assert "jos_content" in site.tables()


@pytest.mark.parametrize("extra", ["SELECT ON {db}.*", "INSERT, UPDATE, DELETE ON {db}.*", "DROP ON {db}.*", "ALL PRIVILEGES ON {db}.*", "SELECT ON *.*", "SELECT ON mysql.*",
                                   "SELECT ON {db}.* WITH GRANT OPTION"])
def test_a_release_account_with_more_than_the_sites_tables_runs_nothing(site, run_module, extra):
    site.sql(f"GRANT {extra.format(db=site.db).replace(' WITH GRANT OPTION', '')} TO {site.user}@localhost"
             + (" WITH GRANT OPTION" if "GRANT OPTION" in extra else ""))
    site.release(23, s001_drop="UPDATE #__content SET title = 'x' WHERE id = 1;\n")
    refused = site.migrate(run_module, releases=[23])
    assert refused["failed"] and f"the release account {site.user}@localhost" in refused["msg"], refused
    assert site.sql("SELECT title FROM jos_content WHERE id = 1", site.db) == [("Visiting hours",)]


def test_release_numbers_start_at_one(site, run_module):
    refused = site.migrate(run_module, releases=[0])
    assert refused["failed"] and "numbered from 1" in refused["msg"]


# A statement that never ends keeps the site in maintenance: each is ended after statement_timeout,
# from root's own connection, whatever the script set in its session, and the rollout is undone.
RUNAWAYS = {
    "a-sleep-the-filter-missed": "UPDATE #__content SET introtext = SLEEP(5) WHERE id > 0;",
    "its-session-unbounded": "SET max_statement_time = 0;\nUPDATE #__content SET introtext = SLEEP(5) WHERE id > 0;",
    "unbounded-for-the-one-statement": "UPDATE #__content SET title = 'x' WHERE id = 2;\nSET STATEMENT "
                                       "max_statement_time = 0 FOR UPDATE #__content SET introtext = SLEEP(5) WHERE id > 0;",
    "waiting-on-a-lock-held-elsewhere": "UPDATE #__content SET title = 'x' WHERE id = 2;\n"
                                        "DO GET_LOCK('otap-test-held', 30);",
}


@pytest.mark.parametrize("runaway", RUNAWAYS.values(), ids=RUNAWAYS.keys())
def test_a_statement_that_runs_too_long_is_ended_and_the_rollout_undone(site, run_module, no_refusal, runaway):
    site.release(61, s001_first="UPDATE #__extensions SET name = 'changed' WHERE id = 1;\n", s002_long=runaway + "\n")
    before = site.state()
    with pymysql.connect(unix_socket=site.sql.socket, user="root", autocommit=True) as holder:
        holder.cursor().execute("DO GET_LOCK('otap-test-held', 0)")
        ended = site.migrate(run_module, releases=[61], statement_timeout=1)
    assert ended["failed"] and "release 61: sql/s002-long.sql line" in ended["msg"], ended
    assert "stopped after 1 s, the longest one statement of a release's SQL may run" in ended["msg"]
    assert site.state() == before and not site.copies()
    assert site.history() == [(61, "s002-long.sql", 0, "run-1")]


# Statements that each end within statement_timeout must not add up to a day: the rollout's SQL as a
# whole is bounded too (sql_timeout), however its time is spread.
SLOW = "UPDATE #__content SET title = 'slow' WHERE id = 1 AND SLEEP(0.6) = 0;\n"
SPREAD = {
    "one-script-of-many-statements": {70: {"s001_many": SLOW * 6}},
    "many-scripts": {70: {f"s00{n}_one": SLOW for n in range(1, 7)}},
    "many-releases": {70: {"s001_a": SLOW * 2}, 71: {"s001_b": SLOW * 2}, 72: {"s001_c": SLOW * 2}},
    "one-statement-within-its-own-bound": {70: {"s001_first": "UPDATE #__content SET title = 'x' WHERE id = 2;\n",
                                                "s002_long": "UPDATE #__content SET introtext = SLEEP(5) WHERE id > 0;\n"}},
}


@pytest.mark.parametrize("releases", SPREAD.values(), ids=SPREAD.keys())
def test_the_whole_sql_is_bounded_however_its_time_is_spread(site, run_module, no_refusal, releases):
    for number, scripts in releases.items():
        site.release(number, **scripts)
    before = site.state()
    started = time.monotonic()
    ended = site.migrate(run_module, releases=list(releases), statement_timeout=60, sql_timeout=2)
    assert ended["failed"] and "2 s of the release's SQL in all, the longest it may run (joomla_release_sql_timeout)" \
        in ended["msg"], ended
    assert time.monotonic() - started < 30  # ended near the bound, never after a statement's own 60 s
    assert site.state() == before and not site.copies()
    assert [row[2] for row in site.history()] == [1] * (len(site.history()) - 1) + [0]


@pytest.mark.parametrize(("slow", "where"), [("before", "sql/s001-a.sql failed"), ("after", "sql/s001-a.sql line 1 failed")],
                         ids=["the-copy", "the-statement"])
def test_nothing_is_started_once_root_s_work_has_used_the_whole_sql_time(site, run_module, monkeypatch, slow, where):
    snapshot = migration.Migration.snapshot

    def slowly(self, release, tables):
        if slow == "before":
            time.sleep(1.5)
        snapshot(self, release, tables)
        if slow == "after":
            time.sleep(1.5)

    monkeypatch.setattr(migration.Migration, "snapshot", slowly)
    site.release(73, s001_a="UPDATE #__content SET title = 'a' WHERE id = 1;\n")
    before = site.state()
    ended = site.migrate(run_module, releases=[73], sql_timeout=1)
    assert ended["failed"] and f"{where} (not started: past 1 s of the release's SQL in all" in ended["msg"], ended
    assert site.state() == before and not site.copies()


def test_root_s_copy_of_a_table_a_release_grew_for_nothing_is_ended_with_the_whole_sql_time(site, run_module):
    """An instant ADD COLUMN with a long default costs the scripts nothing and root's copy of every
    row of it much: the copy counts, is ended, and leaves nothing behind. Both scripts pass the policy."""
    grow = ("CREATE TABLE #__bloat (id INT AUTO_INCREMENT PRIMARY KEY, n INT) ENGINE=InnoDB;\n"
            "INSERT INTO #__bloat (n) VALUES (1);\n" + "INSERT INTO #__bloat (n) SELECT n FROM #__bloat WHERE n = 1;\n" * 15
            + "".join(f"ALTER TABLE #__bloat ADD COLUMN c{i} TEXT NOT NULL DEFAULT '{'x' * 12000}';\n" for i in range(5)))
    site.release(75, s001_grow=grow)
    assert not site.migrate(run_module, releases=[75], rollout="run-1")["failed"]
    assert not site.migrate(run_module, state="finalized", releases=[75], rollout="run-1")["failed"]
    site.release(76, s001_touch="UPDATE #__bloat SET n = 2 WHERE id = 1;\n")
    before = site.state()
    ended = site.migrate(run_module, releases=[76], rollout="run-2", sql_timeout=1)
    assert ended["failed"] and "copying jos_bloat stopped after 1 s of the release's SQL in all" in ended["msg"], ended
    assert site.state() == before and not site.copies()
    assert site.migrate(run_module, releases=[76], rollout="run-3", sql_timeout=1)["failed"]  # again: no copy in its way


def test_root_s_checksums_after_the_scripts_end_with_the_whole_sql_time(site, run_module, monkeypatch):
    """After the scripts, root checksums every table they changed, as large as they made them (an
    instant ADD COLUMN with a long default costs them nothing): that counts in the whole SQL's time
    and is ended with it, and the database is put back. (An adversarial review:
    it ran unbounded, the site in maintenance.)"""
    grow = ("CREATE TABLE #__bloat (id INT AUTO_INCREMENT PRIMARY KEY, n INT) ENGINE=InnoDB;\n"
            "INSERT INTO #__bloat (n) VALUES (1);\n" + "INSERT INTO #__bloat (n) SELECT n FROM #__bloat WHERE n = 1;\n" * 15
            + "".join(f"ALTER TABLE #__bloat ADD COLUMN c{i} TEXT NOT NULL DEFAULT '{'x' * 12000}';\n" for i in range(5))
            + "UPDATE #__content SET title = 'grown' WHERE id = 1;\n")
    site.release(77, s001_grow=grow)
    before = site.state()
    checksums = migration.Migration.checksums

    def near_the_end(self, tables):  # the scripts took all but a twentieth of a second of the time
        self.deadline = time.monotonic() + 0.05
        return checksums(self, tables)

    monkeypatch.setattr(migration.Migration, "checksums", near_the_end)
    ended = site.migrate(run_module, releases=[77], sql_timeout=600)
    assert ended["failed"] and "checking the tables the SQL changed stopped after 600 s" in ended["msg"], ended
    assert "returned to where it was" in ended["msg"]
    assert site.state() == before and not site.copies()


@pytest.mark.parametrize("bound", ["statement_timeout", "sql_timeout"])
@pytest.mark.parametrize("seconds", [0, 86401, 10**12])
def test_a_bound_under_a_second_or_over_a_day_is_refused_before_anything_runs(site, run_module, bound, seconds):
    site.release(74, s001_a="UPDATE #__content SET title = 'x' WHERE id = 1;\n")
    refused = site.migrate(run_module, releases=[74], **{bound: seconds})
    assert refused["failed"] and f"{bound} is in seconds, at least 1 and at most 86400: {seconds}" in refused["msg"]
    assert content(site) == [tuple(row) for row in CONTENT]


def test_a_statement_is_ended_even_after_the_server_closed_idle_sessions(site, run_module, no_refusal):
    """A server whose wait_timeout is short (hardened: minutes; here 3 s) would have closed root's
    watching connection, idle since the module started, before the runaway needs it."""
    slow = "UPDATE #__content SET title = 'a' WHERE id = 1 AND SLEEP(1) = 0;\n"
    site.release(71, s001_slow=slow, s002_slow=slow, s003_slow=slow, s004_slow=slow,
                 s005_runaway="UPDATE #__content SET introtext = SLEEP(3) WHERE id > 0;\n")
    before = site.state()
    site.sql("SET GLOBAL wait_timeout = 3")
    try:
        ended = site.migrate(run_module, releases=[71], statement_timeout=2)
    finally:
        site.sql("SET GLOBAL wait_timeout = 28800")
    assert ended["failed"] and "stopped after 2 s" in ended["msg"], ended
    assert site.state() == before


def test_a_statement_left_running_by_a_run_cut_off_midway_is_ended_by_the_next(site, run_module):
    """The module's process killed, its statement runs on as the release account: the next run ends it."""
    ended = []

    def runs_on(connection):
        try:
            connection.cursor().execute("SELECT SLEEP(60)")
        except pymysql.MySQLError as error:  # what the next run's KILL CONNECTION does to it
            ended.append(error.args[0])

    with pymysql.connect(unix_socket=site.sql.socket, user=site.user, password="pw", autocommit=True) as left:
        site.sql(f"GRANT SELECT ON {site.db}.jos_content TO {site.user}@localhost")  # as lent to a script
        left.cursor().execute(f"USE {site.db}")  # as the scripts' session does
        site.sql(f"REVOKE SELECT ON {site.db}.jos_content FROM {site.user}@localhost")
        runaway = threading.Thread(target=runs_on, args=(left,))
        runaway.start()
        while not site.sql(f"SELECT ID FROM information_schema.PROCESSLIST WHERE ID = {left.thread_id()} "
                           "AND INFO LIKE 'SELECT SLEEP%'"):
            time.sleep(0.05)
        site.release(63, s001_a="UPDATE #__content SET title = 'x' WHERE id = 1;\n")
        assert not site.migrate(run_module, releases=[63])["failed"]
        runaway.join(30)
    assert ended == [2013]


def test_the_scripts_session_outlasts_a_short_wait_timeout(site, run_module, monkeypatch):
    """Idle while root copies the next script's tables (here 3 s, on a server that closes sessions
    idle 2 s)."""
    snapshot, copies = migration.Migration.snapshot, []

    def slow(self, release, tables):
        copies.append(release)
        if len(copies) == 2:
            time.sleep(3)
        return snapshot(self, release, tables)

    monkeypatch.setattr(migration.Migration, "snapshot", slow)
    site.release(64, s001_a="UPDATE #__content SET title = 'a' WHERE id = 1;\n",
                 s002_b="UPDATE #__content SET title = 'b' WHERE id = 2;\n")
    site.sql("SET GLOBAL wait_timeout = 2")
    try:
        done = site.migrate(run_module, releases=[64], statement_timeout=60)
    finally:
        site.sql("SET GLOBAL wait_timeout = 28800")
    assert not done["failed"], done


def test_a_run_refuses_while_a_cut_off_run_s_statement_is_still_rolling_back(site, run_module, monkeypatch):
    """Killed, a statement first undoes its rows; the next run waits for that a bounded time (here
    none), then refuses, saying so, and changes nothing."""
    monkeypatch.setattr(migration, "RUN_WAIT", 0)
    with pymysql.connect(unix_socket=site.sql.socket, user=site.user, password="pw", autocommit=True) as left:
        site.sql(f"GRANT SELECT ON {site.db}.jos_content TO {site.user}@localhost")  # as lent to a script
        left.cursor().execute(f"USE {site.db}")
        site.sql(f"REVOKE SELECT ON {site.db}.jos_content FROM {site.user}@localhost")
        site.release(65, s001_a="UPDATE #__content SET title = 'x' WHERE id = 1;\n")
        before = site.state()
        refused = site.migrate(run_module, releases=[65])
    assert refused["failed"] and "still rolling back after 0 s" in refused["msg"], refused
    assert "nothing was done" in refused["msg"] and site.state() == before
