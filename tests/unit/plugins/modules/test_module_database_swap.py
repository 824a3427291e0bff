"""database_swap against a real MariaDB (fixture `mariadb`): the staging database's tables take the
live name in one rename, the fingerprint tells equal data, and what cannot move is refused first."""

import itertools

import pytest

from ansible_collections.otap.street.plugins.modules import database_swap

SITES = itertools.count(1)


@pytest.fixture
def databases(mariadb):
    """A live database and a staging copy with other content; their names."""
    number = next(SITES)
    live, staging = f"swaplive{number}", f"swapstage{number}"
    for database, title in ((live, "old"), (staging, "new")):
        mariadb(f"CREATE DATABASE {database}")
        mariadb("CREATE TABLE jos_content (id INT PRIMARY KEY, title TEXT)", database)
        mariadb(f"INSERT INTO jos_content VALUES (1, '{title}')", database)
        mariadb("CREATE TABLE jos_session (id INT PRIMARY KEY, data TEXT)", database)
    mariadb("CREATE TABLE jos_only_live (id INT)", live)
    return live, staging


def swap(run_module, mariadb, live, **args):
    return run_module(database_swap, database=live, login_unix_socket=mariadb.socket, **args)


def test_the_staging_tables_take_the_live_name_and_nothing_is_left_aside(run_module, mariadb, databases):
    live, staging = databases
    read = swap(run_module, mariadb, staging, state="read")
    done = swap(run_module, mariadb, live, staging=staging)
    assert not done["failed"] and done["changed"], done
    assert mariadb("SELECT title FROM jos_content", live) == [("new",)]
    assert done["tables"] == ["jos_content", "jos_session"], "the live database holds exactly the staging tables"
    assert done["fingerprint"] == read["fingerprint"], "the same data, the same fingerprint"
    left = {row[0] for row in mariadb("SHOW DATABASES")}
    assert staging not in left and f"{live}_old" not in left


def test_the_fingerprint_leaves_out_volatile_tables_and_sees_any_other_change(run_module, mariadb, databases):
    live, _ = databases
    first = swap(run_module, mariadb, live, state="read", volatile=["jos_session"])
    mariadb("INSERT INTO jos_session VALUES (1, 'a visit')", live)
    assert swap(run_module, mariadb, live, state="read", volatile=["jos_session"])["fingerprint"] == first["fingerprint"]
    mariadb("UPDATE jos_content SET title = 'edited'", live)
    changed = swap(run_module, mariadb, live, state="read", volatile=["jos_session"])
    assert not changed["changed"] and changed["fingerprint"] != first["fingerprint"]


def test_check_mode_renames_nothing(run_module, mariadb, databases):
    live, staging = databases
    checked = swap(run_module, mariadb, live, staging=staging, _ansible_check_mode=True)
    assert checked["changed"] and mariadb("SELECT title FROM jos_content", live) == [("old",)]


@pytest.mark.parametrize("what", ["view", "trigger"])
def test_a_staging_database_with_what_cannot_move_is_refused_before_anything_is_renamed(run_module, mariadb,
                                                                                        databases, what):
    live, staging = databases
    if what == "view":
        mariadb("CREATE VIEW v AS SELECT * FROM jos_content", staging)
    else:
        mariadb("CREATE TRIGGER t BEFORE INSERT ON jos_content FOR EACH ROW SET NEW.title = NEW.title", staging)
    refused = swap(run_module, mariadb, live, staging=staging)
    assert refused["failed"] and f"{what}s, which cannot move" in refused["msg"]
    assert mariadb("SELECT title FROM jos_content", live) == [("old",)]


@pytest.mark.parametrize("name", ["portal`; DROP DATABASE mysql; --", "portal old", ""])
def test_a_name_that_is_not_an_identifier_swaps_nothing(run_module, mariadb, databases, name):
    live, staging = databases
    refused = swap(run_module, mariadb, live, staging=staging, aside=name or "x y")
    assert refused["failed"] and "nothing was swapped" in refused["msg"]
    assert mariadb("SELECT title FROM jos_content", live) == [("old",)]
