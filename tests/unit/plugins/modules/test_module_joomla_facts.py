import os
import shutil
from pathlib import Path

from ansible_collections.otap.street.plugins.modules import joomla_facts

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "joomla-site" / "site"
CONFIG = "<?php\nclass JConfig\n{\n    public $sitename = 'Portal';\n    public $password = 'pw';\n" \
         "    public $secret = 's';\n    public $db = 'portal';\n    public $dbprefix = 'jos_';\n}\n"


def site(tmp_path):
    root = tmp_path / "portal"
    shutil.copytree(FIXTURE, root / "releases" / "3")
    (root / "releases" / "2").mkdir()
    (root / "shared").mkdir()
    (root / "shared" / "configuration.php").write_text(CONFIG)
    os.symlink("releases/3", root / "current")
    return root


def test_a_site_is_read_without_its_secrets(run_module, tmp_path):
    result = run_module(joomla_facts, root=str(site(tmp_path)), database=False)
    assert not result["changed"]
    assert result["joomla_version"]["version"] == "5.2.1"
    assert result["settings"] == {"sitename": "Portal", "db": "portal", "dbprefix": "jos_"}
    assert result["release_link"] == 3 and result["releases_on_disk"] == [2, 3]
    assert "release_database" not in result
    assert result["release_package"] == ""


def test_the_package_the_served_release_was_staged_from_is_read_from_its_stamp(run_module, tmp_path):
    root = site(tmp_path)
    (root / "releases" / ".3.staged").write_text("e" * 64)
    (root / "releases" / ".2.staged").write_text("f" * 64)
    assert run_module(joomla_facts, root=str(root), database=False)["release_package"] == "e" * 64


def test_a_folder_that_is_no_site_says_so(run_module, tmp_path):
    result = run_module(joomla_facts, root=str(tmp_path), database=False)
    assert result["failed"] and "is not a site laid out by otap.street" in result["msg"]


def test_the_release_the_database_records_and_the_sql_it_ran_are_read_from_it(run_module, tmp_path, mariadb):
    root = site(tmp_path)
    (root / "shared" / "configuration.php").write_text(CONFIG.replace("'portal'", "'factsdb'"))
    mariadb("CREATE DATABASE factsdb")
    fresh = run_module(joomla_facts, root=str(root), login_unix_socket=mariadb.socket)
    assert not fresh["failed"] and (fresh["release_database"], fresh["release_sql"]) == (0, 0), fresh
    mariadb("CREATE TABLE jos_otap_release_history (id INT AUTO_INCREMENT PRIMARY KEY, release_number INT)", "factsdb")
    mariadb("INSERT INTO jos_otap_release_history (release_number) VALUES (2), (3), (2)", "factsdb")
    mariadb("CREATE TABLE jos_otap_schema_history (release_number INT, success TINYINT)", "factsdb")
    mariadb("INSERT INTO jos_otap_schema_history VALUES (2, 1), (3, 1), (4, 0)", "factsdb")
    read = run_module(joomla_facts, root=str(root), login_unix_socket=mariadb.socket)
    assert (read["release_database"], read["release_sql"]) == (2, 3), "the last record (a rollback), the SQL that ran"
    gone = run_module(joomla_facts, root=str(root), login_unix_socket=str(tmp_path / "none.sock"))
    assert gone["failed"] and "cannot connect to MariaDB" in gone["msg"]
