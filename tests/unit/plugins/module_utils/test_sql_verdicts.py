"""The allow-list's kept passes (sql_policy.Verdicts): a script is parsed once, and a pass is
never taken for a script, a policy or a declaration it was not given for."""

import os

import pytest

from ansible_collections.otap.street.plugins.module_utils import sql_policy
from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    scan_source,
    write_package,
)
from ansible_collections.otap.street.plugins.module_utils.sql_policy import Verdicts, sql_violations

DROP = "DROP TABLE #__otap_cache;\n"
DELETE = "DELETE FROM #__content WHERE id = 3;\n"  # passes only in a release that declares a Joomla update


@pytest.fixture
def parses(monkeypatch):
    """How many scripts the allow-list really parsed."""
    count = {"scripts": 0}
    real = sql_policy.script_violations

    def counting(*args, **kwargs):
        count["scripts"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(sql_policy, "script_violations", counting)
    return count


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "verdicts"


def kept(folder):
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def test_a_script_that_passed_is_not_parsed_again(parses, folder):
    assert sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder)) == []
    assert sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder)) == []
    assert parses["scripts"] == 1 and len(kept(folder)) == 1
    assert os.stat(folder).st_mode & 0o777 == 0o700


def test_a_refusal_is_not_kept_and_refuses_again(parses, folder):
    for _ in range(2):
        found = sql_violations("sql/1.sql", "GRANT ALL ON *.* TO 'x'@'%';\n", verdicts=Verdicts(folder))
        assert found and "GRANT" in str(found[0]), found
    assert parses["scripts"] == 2 and kept(folder) == []


def test_a_pass_without_a_joomla_update_is_not_one_with_it_and_the_reverse(folder):
    assert sql_violations("sql/1.sql", DELETE, joomla_update=True, verdicts=Verdicts(folder)) == []
    refused = sql_violations("sql/1.sql", DELETE, joomla_update=False, verdicts=Verdicts(folder))
    assert refused and "content" in str(refused[0]), refused


def test_a_pass_before_a_table_became_content_is_not_one_after(folder):
    assert sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder)) == []
    refused = sql_violations("sql/1.sql", DROP, sql_policy.DEFAULT_CONTENT_TABLES + ("otap_cache",),
                             verdicts=Verdicts(folder))
    assert refused and "content" in str(refused[0]), refused


@pytest.mark.parametrize("changed", [
    DROP.replace(";", " ;"),                       # one byte more
    DROP.lower(),                                  # same statement, other bytes
    DROP + "DROP TABLE #__content;\n",             # a statement appended
])
def test_other_bytes_are_parsed_again(parses, folder, changed):
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))
    found = sql_violations("sql/1.sql", changed, verdicts=Verdicts(folder))
    assert parses["scripts"] == 2
    assert bool(found) == ("#__content" in changed), found


def test_a_pass_under_another_policy_or_parser_is_not_trusted(parses, folder, monkeypatch):
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))
    monkeypatch.setattr(sql_policy.sqlglot, "__version__", "0.0.1")
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))
    original = sql_policy.inspect.getsource
    monkeypatch.setattr(sql_policy.inspect, "getsource",
                        lambda module: original(module) + ("\n# changed" if module is sql_policy else ""))
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))
    assert parses["scripts"] == 3 and len(kept(folder)) == 3


def test_without_the_policy_source_nothing_is_kept_or_trusted(parses, folder, monkeypatch):
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))

    def unreadable(module):
        raise OSError("no source")

    monkeypatch.setattr(sql_policy.inspect, "getsource", unreadable)
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))
    assert parses["scripts"] == 3 and len(kept(folder)) == 1


@pytest.mark.parametrize("unsafe", ["group-writable", "world-writable", "link"])
def test_a_folder_others_may_write_is_not_used(parses, tmp_path, unsafe):
    """A pass planted by another account would let a refused script through: such a folder is not
    read, nor written."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    refused = "GRANT ALL ON *.* TO 'x'@'%';\n"
    key = Verdicts(real).key(refused, sql_policy.DEFAULT_CONTENT_TABLES, False)
    (real / key).write_text("passed\n")
    folder = real
    if unsafe == "link":
        folder = tmp_path / "link"
        folder.symlink_to(real)
    else:
        os.chmod(real, 0o770 if unsafe == "group-writable" else 0o703)
    assert sql_violations("sql/1.sql", refused, verdicts=Verdicts(folder)), "a planted pass was trusted"
    assert sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder)) == []
    assert kept(real) == [key] and parses["scripts"] == 2


def test_check_mode_reads_the_passes_and_keeps_none(parses, folder):
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder, remember=False))
    assert kept(folder) == []
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder))
    sql_violations("sql/1.sql", DROP, verdicts=Verdicts(folder, remember=False))
    assert parses["scripts"] == 2


def test_packaging_and_every_verification_after_it_parse_the_sql_once(source, tmp_path, parses, folder):
    manifest = scan_source(source, 2, 1, "agency", "2026-12-07T10:00:00Z", verdicts=Verdicts(folder))
    package = tmp_path / "release-2.tar.gz"
    checksum = write_package(source, manifest, package, mtime=1795600000)
    for _ in range(3):  # at packaging, then before the rollouts to Test and Acceptance
        assert verify_package(package, 2, checksum, check_sql=True, verdicts=Verdicts(folder))["sql"]
    assert parses["scripts"] == 1
    (source / "sql" / "001-badge.sql").write_text("ALTER TABLE #__content DROP COLUMN badge;\n")
    with pytest.raises(PackageRefused, match="content"):
        scan_source(source, 2, 1, "agency", "2026-12-07T10:00:00Z", verdicts=Verdicts(folder))
