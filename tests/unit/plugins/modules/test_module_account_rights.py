"""account_rights against a real MariaDB (fixture `mariadb`): a release's hold of the site's writes
and their return, as the site's account feels them, and input that must change nothing."""

import itertools

import pymysql
import pytest

from ansible_collections.otap.street.plugins.modules import account_rights

SITES = itertools.count(1)
HOSTS = ["localhost", "10.242.42.20", "10.242.42.21"]


@pytest.fixture
def site(mariadb):
    """A site database with a content and a session table, and its account at three client hosts
    with the rights site.yml gives it."""
    number = next(SITES)
    db, user = f"rights{number}", f"site{number}"
    mariadb(f"CREATE DATABASE {db}")
    mariadb("CREATE TABLE jos_content (id INT PRIMARY KEY, title TEXT)", db)
    mariadb("CREATE TABLE jos_session (id INT PRIMARY KEY, data TEXT)", db)
    mariadb(f"CREATE DATABASE {db}_other")
    for host in HOSTS:
        mariadb(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY 'pw'")
        mariadb(f"GRANT {FULL} ON {db}.* TO '{user}'@'{host}'")
        mariadb(f"GRANT SELECT, INSERT ON {db}_other.* TO '{user}'@'{host}'")
    return db, user


FULL = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, CREATE TEMPORARY TABLES, LOCK TABLES"


def full(db):
    return f"{db}.*:{FULL.replace(', ', ',')}"


def held(db):
    return f"{db}.*:SELECT/{db}.jos_session:SELECT,INSERT,UPDATE,DELETE"


def grants(mariadb, user, host):
    return sorted(row[0] for row in mariadb(f"SHOW GRANTS FOR '{user}'@'{host}'"))


def as_site(mariadb, db, user, statement):
    """Run `statement` as the site's account (localhost, through the socket); the error (of the
    statement, or of using the database at all), or None."""
    try:
        with pymysql.connect(unix_socket=mariadb.socket, user=user, password="pw", database=db,
                             autocommit=True) as connection, connection.cursor() as cursor:
            cursor.execute(statement)
    except pymysql.MySQLError as error:
        return error
    return None


def rights(run_module, mariadb, user, privileges, hosts=HOSTS, **more):
    return run_module(account_rights, user=user, hosts=hosts, privileges=privileges,
                      login_unix_socket=mariadb.socket, **more)


def test_a_hold_takes_the_writes_at_every_host_but_the_sessions_and_giving_them_back_restores_them(
        run_module, mariadb, site):
    db, user = site
    before = {host: grants(mariadb, user, host) for host in HOSTS}
    hold = rights(run_module, mariadb, user, held(db))
    assert not hold["failed"] and hold["changed"], hold
    # Grants before revokes, each for the three hosts at once: the sessions never lapse.
    assert [s.split()[0] for s in hold["statements"]] == ["GRANT", "REVOKE"], hold["statements"]
    assert all(s.count("@") == 3 for s in hold["statements"]), hold["statements"]
    error = as_site(mariadb, db, user, "INSERT INTO jos_content VALUES (1, 'saved while held')")
    assert error is not None and error.args[0] == 1142, error  # INSERT command denied
    assert as_site(mariadb, db, user, "UPDATE jos_content SET title = 'x'") is not None
    assert as_site(mariadb, db, user, "DROP TABLE jos_content") is not None
    assert as_site(mariadb, db, user, "INSERT INTO jos_session VALUES (1, 'a visitor logs in')") is None
    assert as_site(mariadb, db, user, "SELECT * FROM jos_content") is None
    again = rights(run_module, mariadb, user, held(db))
    assert not again["failed"] and not again["changed"] and again["statements"] == []

    back = rights(run_module, mariadb, user, full(db))
    assert not back["failed"] and back["changed"], back
    assert [s.split()[0] for s in back["statements"]] == ["GRANT", "REVOKE"], back["statements"]
    assert {host: grants(mariadb, user, host) for host in HOSTS} == before, "exactly the rights it had, no table grant left"
    assert as_site(mariadb, db, user, "INSERT INTO jos_content VALUES (2, 'saved after')") is None
    assert not rights(run_module, mariadb, user, full(db))["changed"]


def test_check_mode_says_what_it_would_do_and_changes_nothing(run_module, mariadb, site):
    db, user = site
    before = grants(mariadb, user, "localhost")
    checked = rights(run_module, mariadb, user, held(db), _ansible_check_mode=True)
    assert checked["changed"] and len(checked["statements"]) == 2
    assert grants(mariadb, user, "localhost") == before


def test_rights_on_other_databases_and_hosts_not_named_are_left_alone(run_module, mariadb, site):
    db, user = site
    other_host = grants(mariadb, user, HOSTS[2])
    assert not rights(run_module, mariadb, user, held(db), hosts=HOSTS[:2])["failed"]
    assert grants(mariadb, user, HOSTS[2]) == other_host
    assert any(f"`{db}_other`" in grant and "INSERT" in grant for grant in grants(mariadb, user, HOSTS[0]))


def test_a_missing_account_at_any_host_changes_nothing_at_the_others(run_module, mariadb, site):
    db, user = site
    before = {host: grants(mariadb, user, host) for host in HOSTS}
    failed = rights(run_module, mariadb, user, held(db), hosts=HOSTS + ["10.242.42.99"])
    assert failed["failed"] and "does not exist" in failed["msg"] and "nothing was changed" in failed["msg"]
    assert {host: grants(mariadb, user, host) for host in HOSTS} == before


@pytest.mark.parametrize("user, hosts, privileges", [
    ("site'@'%", ["localhost"], "d.*:SELECT"),
    ("site", ["localhost' IDENTIFIED BY 'x"], "d.*:SELECT"),
    ("site", ["%' OR '1"], "d.*:SELECT"),
    ("site", [], "d.*:SELECT"),
    ("site", ["localhost"], "d.*:ALL"),
    ("site", ["localhost"], "d.*:ALL PRIVILEGES"),
    ("site", ["localhost"], "d.*:SELECT,GRANT OPTION"),
    ("site", ["localhost"], "*.*:SELECT"),
    ("site", ["localhost"], "d.*:SELECT; DROP DATABASE d"),
    ("site", ["localhost"], "`d`.*:SELECT"),
    ("site", ["localhost"], "d`.*:SELECT"),
    ("site", ["localhost"], "d.t`x:SELECT"),
    ("site", ["localhost"], "d.*:SELECT/d.*:INSERT"),
    ("site", ["localhost"], "d.t:CREATE TEMPORARY TABLES"),
    ("site", ["localhost"], "d.*:SUPER"),
    ("site", ["localhost"], "d.*:"),
    ("site", ["localhost"], "d:SELECT"),
])
def test_input_that_is_not_plain_names_and_known_rights_is_refused_before_anything(run_module, mariadb,
                                                                                     user, hosts, privileges):
    before = mariadb("SELECT COUNT(*) FROM mysql.user")
    failed = rights(run_module, mariadb, user, privileges, hosts=hosts)
    assert failed["failed"] and "nothing was changed" in failed["msg"], failed
    assert mariadb("SELECT COUNT(*) FROM mysql.user") == before


def test_the_statements_group_hosts_alike_and_put_grants_first():
    wanted = account_rights.parse("d.*:SELECT/d.s:INSERT")
    held = {
        "a": {("d", None): frozenset({"SELECT", "INSERT"})},
        "b": {("d", None): frozenset({"SELECT", "INSERT"}), ("x", None): frozenset({"DROP"})},
        "c": {("d", None): frozenset({"SELECT"}), ("d", "s"): frozenset({"INSERT"})},
    }
    changes = account_rights.changes(wanted, held, ["a", "b", "c"])
    assert changes == [
        ("GRANT", "`d`.`s`", ("INSERT",), ("a", "b")),
        ("REVOKE", "`d`.*", ("INSERT",), ("a", "b")),
    ], "x is not named, c is already right"


# An adversarial review's findings, mended.

def test_rights_of_an_account_named_alike_but_for_case_are_not_taken_for_its_own(run_module, mariadb, site):
    """information_schema compares GRANTEE case-insensitively: 'SITEn'@'host''s rights are read as
    'siten'@'host''s, so the give-back skips a right the site's account lacks."""
    db, user = site
    for host in HOSTS:
        mariadb(f"CREATE USER '{user.upper()}'@'{host}' IDENTIFIED BY 'pw'")
        mariadb(f"GRANT {FULL} ON {db}.* TO '{user.upper()}'@'{host}'")
    assert not rights(run_module, mariadb, user, held(db))["failed"]
    back = rights(run_module, mariadb, user, full(db))
    assert not back["failed"], back
    assert as_site(mariadb, db, user, "INSERT INTO jos_content VALUES (3, 'saved after the release')") is None, \
        f"the writes were not given back: {grants(mariadb, user, 'localhost')}"


def test_a_hold_leaves_the_account_no_column_level_write(run_module, mariadb, site):
    """Column-level rights on the named database are neither read nor revoked: the hold reports
    success while the site can still write the content table."""
    db, user = site
    mariadb(f"GRANT UPDATE (title) ON {db}.jos_content TO '{user}'@'localhost'")
    mariadb(f"INSERT INTO {db}.jos_content VALUES (9, 'before')")
    assert not rights(run_module, mariadb, user, held(db))["failed"]
    assert as_site(mariadb, db, user, "UPDATE jos_content SET title = 'written while held'") is not None, \
        "the content table was written while the writes were held"


# `_` in a name, and rights the account holds from elsewhere.

def test_an_underscore_in_the_database_name_is_that_character_and_a_wildcard_grant_is_replaced(run_module, mariadb):
    """GRANT reads `_` in a database-level name as any one character: the grant earlier site
    playbooks gave on `site_db` let the account write `siteXdb` too."""
    number = next(SITES)
    db, lookalike, user = f"site_db{number}", f"siteXdb{number}", f"under{number}"
    for name in (db, lookalike):
        mariadb(f"CREATE DATABASE {name}")
        mariadb("CREATE TABLE jos_content (id INT PRIMARY KEY, title TEXT)", name)
    mariadb("CREATE TABLE jos_session (id INT PRIMARY KEY, data TEXT)", db)
    mariadb(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'pw'")
    mariadb(f"GRANT {FULL} ON {db}.* TO '{user}'@'localhost'")
    assert as_site(mariadb, lookalike, user, "INSERT INTO jos_content VALUES (1, 'the wildcard reaches it')") is None

    given = rights(run_module, mariadb, user, full(db), hosts=["localhost"])
    assert not given["failed"] and given["changed"], given
    assert given["statements"][0].startswith("GRANT") and f"`site\\_db{number}`.*" in given["statements"][0]
    assert given["statements"][1].startswith("REVOKE") and f"`site_db{number}`.*" in given["statements"][1]
    assert as_site(mariadb, lookalike, user, "INSERT INTO jos_content VALUES (2, 'not any more')") is not None
    assert as_site(mariadb, lookalike, user, "SELECT * FROM jos_content") is not None
    assert as_site(mariadb, db, user, "INSERT INTO jos_content VALUES (3, 'its own database')") is None
    assert not rights(run_module, mariadb, user, full(db), hosts=["localhost"])["changed"]

    assert not rights(run_module, mariadb, user, held(db), hosts=["localhost"])["failed"]
    assert as_site(mariadb, db, user, "INSERT INTO jos_content VALUES (4, 'held')") is not None
    assert as_site(mariadb, db, user, "INSERT INTO jos_session VALUES (1, 'a visitor logs in')") is None
    assert as_site(mariadb, lookalike, user, "SELECT * FROM jos_content") is not None
    assert not rights(run_module, mariadb, user, full(db), hosts=["localhost"])["failed"]
    assert as_site(mariadb, db, user, "INSERT INTO jos_content VALUES (5, 'given back')") is None


@pytest.mark.parametrize("grant, revoke", [
    ("GRANT INSERT ON *.* TO {account}", "REVOKE INSERT ON *.* FROM {account}"),
    ("GRANT UPDATE ON `{db}%`.* TO {account}", "REVOKE UPDATE ON `{db}%`.* FROM {account}"),
    ("GRANT DELETE ON `%`.* TO {account}", "REVOKE DELETE ON `%`.* FROM {account}"),
    ("GRANT INSERT ON `{db}`.* TO PUBLIC", "REVOKE INSERT ON `{db}`.* FROM PUBLIC"),
    ("GRANT UPDATE ON `{db}`.jos_content TO PUBLIC", "REVOKE UPDATE ON `{db}`.jos_content FROM PUBLIC"),
    ("GRANT UPDATE (title) ON `{db}`.jos_content TO PUBLIC", "REVOKE UPDATE (title) ON `{db}`.jos_content FROM PUBLIC"),
    ("GRANT INSERT ON *.* TO PUBLIC", "REVOKE INSERT ON *.* FROM PUBLIC"),
    ("CREATE ROLE writer{n}; GRANT INSERT ON `{db}`.* TO writer{n}; GRANT writer{n} TO {account}", "DROP ROLE writer{n}"),
], ids=["global", "pattern", "every-database", "public-database", "public-table", "public-column", "public-global",
        "role"])
def test_rights_that_reach_the_database_from_elsewhere_refuse_the_hold_and_change_nothing(run_module, mariadb, site,
                                                                                            grant, revoke):
    """A hold that reports success while the site can still write, through a right this module does
    not set, is worse than a hold that fails: it is refused, and says what reaches the database."""
    db, user = site
    values = {"db": db, "account": f"'{user}'@'localhost'", "n": next(SITES)}
    before = {host: grants(mariadb, user, host) for host in HOSTS}
    for sql in grant.format(**values).split("; "):
        mariadb(sql)
    try:
        refused = rights(run_module, mariadb, user, held(db))
        assert refused["failed"] and "cannot be made exact" in refused["msg"] and "nothing was changed" in refused["msg"], refused
    finally:
        mariadb(revoke.format(**values))
    assert {host: grants(mariadb, user, host) for host in HOSTS} == before
    assert not rights(run_module, mariadb, user, held(db))["failed"], "once that is revoked, the hold is taken"


def test_check_mode_reads_an_account_not_made_yet_as_holding_nothing(run_module, mariadb):
    number = next(SITES)
    checked = rights(run_module, mariadb, f"new{number}", full(f"fresh{number}"), _ansible_check_mode=True)
    assert not checked["failed"] and checked["changed"] and len(checked["statements"]) == 1, checked
    assert checked["statements"][0].count("@") == 3
    assert mariadb(f"SELECT COUNT(*) FROM mysql.user WHERE User = 'new{number}'") == [(0,)]
    assert rights(run_module, mariadb, f"new{number}", full(f"fresh{number}"))["failed"]


@pytest.mark.parametrize("pattern, database, reached", [
    ("site_db", "site_db", True), ("site_db", "siteXdb", True), ("site\\_db", "siteXdb", False),
    ("site\\_db", "site_db", True), ("site%", "site_db", True), ("%", "anything", True), ("s_te", "site", True),
    ("site", "Site", False), ("site.db", "siteXdb", False), ("site\\%", "site%", True), ("site\\%", "siteX", False),
])
def test_what_a_database_level_pattern_reaches(pattern, database, reached):
    assert account_rights.reaches(pattern, database) is reached
    assert account_rights.reaches(account_rights.exact(database), database)
