import os
import tarfile

import pytest

from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    declarations,
    scan_source,
    write_package,
)

DATE = "2026-11-24T10:00:00Z"


def build(src, tmp_path, release=2, **kwargs):
    manifest = scan_source(src, release, release - 1, "agency", DATE, **kwargs)
    dest = tmp_path / f"release-{release}.tar.gz"
    checksum = write_package(src, manifest, dest, mtime=1795600000)
    return manifest, dest, checksum


def test_manifest_lists_everything_with_checksums_and_modes(source, tmp_path):
    manifest, _, _ = build(source, tmp_path)
    assert manifest["title"] == "New footer"
    assert manifest["release"] == 2 and manifest["previous"] == 1
    assert [(f["path"], f["mode"]) for f in manifest["files"]] == [
        ("cli.sh", "0755"), ("templates/cassiopeia/index.php", "0644")]
    assert manifest["sql"][0]["script"] == "001-badge.sql"
    assert manifest["deletions"] == ["media/old.js"]


def test_packages_are_reproducible(source, tmp_path):
    _, first, sum1 = build(source, tmp_path)
    data1 = first.read_bytes()
    _, second, sum2 = build(source, tmp_path)
    assert sum1 == sum2 and data1 == second.read_bytes()


def test_the_manifest_comes_first_in_the_package(source, tmp_path):
    _, package, _ = build(source, tmp_path)
    with tarfile.open(package, "r:gz") as tar:
        assert tar.getnames()[0] == "manifest.yml"


def test_declarations_come_from_release_md_trailers():
    declared, problems = declarations("# Joomla 5.2.2\n\nSecurity update.\n\nJoomla-Update: core 5.2.2\n"
                                      "Content-Changes: #__menu, #__modules\nContent-Changes: #__menu\n")
    assert declared == {"joomla_update": "core 5.2.2", "content_changes": ["#__menu", "#__modules"]}
    assert problems == []
    assert declarations("Title\n")[0] == {}
    assert "not a table name" in str(declarations("T\nContent-Changes: jos_menu\n")[1][0])


def test_a_declared_joomla_update_may_delete_rows_it_names(source, tmp_path):
    (source / "sql" / "002-menu.sql").write_text("DELETE FROM `#__menu` WHERE `link` = 'index.php?option=com_old';\n")
    with pytest.raises(PackageRefused, match="content-delete"):
        build(source, tmp_path)
    (source / "RELEASE.md").write_text("# Joomla 5.2.2\n\nJoomla-Update: core 5.2.2\nContent-Changes: #__menu\n")
    manifest, _, _ = build(source, tmp_path)
    assert manifest["declares"] == {"joomla_update": "core 5.2.2", "content_changes": ["#__menu"]}


def refusal(excinfo) -> str:
    return "; ".join(str(v) for v in excinfo.value.violations)


@pytest.mark.parametrize(("mutate", "rule"), [
    (lambda s: (s / "RELEASE.md").unlink(), "RELEASE.md: missing"),
    (lambda s: (s / "RELEASE.md").write_text("\n\n"), "empty title"),
    (lambda s: (s / "files" / "images").mkdir() or (s / "files" / "images" / "x.png").write_bytes(b"x"),
     "files/images/x.png: content path"),
    (lambda s: (s / "files" / "configuration.php").write_text("<?php"), "files/configuration.php: content path"),
    (lambda s: os.symlink("/etc/passwd", s / "files" / "passwd"), "files/passwd: link"),
    (lambda s: os.mkfifo(s / "files" / "pipe"), "files/pipe: fifo"),
    (lambda s: (s / "sql" / "002.sql").write_text("TRUNCATE #__content;"), "sql/002.sql:1: [content-truncate]"),
    (lambda s: (s / "sql" / "002.sql").write_text("GRANT ALL ON *.* TO x;"), "sql/002.sql:1: [statement-kind]"),
    (lambda s: (s / "delete.txt").write_text("images/portal/hospital.svg\n"), "content path"),
    (lambda s: (s / "delete.txt").write_text("../../etc/passwd\n"), "path escape"),
    (lambda s: (s / "notes.txt").write_text("x"), "notes.txt: unexpected entry"),
])
def test_sources_that_break_the_policy_are_refused(source, tmp_path, mutate, rule):
    mutate(source)
    with pytest.raises(PackageRefused) as excinfo:
        build(source, tmp_path)
    assert rule in refusal(excinfo)


def test_an_empty_release_is_refused(tmp_path):
    src = tmp_path / "empty"
    src.mkdir()
    (src / "RELEASE.md").write_text("Nothing\n")
    with pytest.raises(PackageRefused, match="empty release"):
        scan_source(src, 2, 1, "agency", DATE)


def test_a_release_names_the_incidents_and_requests_it_answers():
    declared, problems = declarations("Fix\n\nAnswers: incident 12, Request 3\nanswers: incident 2, incident 12\n")
    assert problems == [] and declared == {"answers": ["incident 2", "incident 12", "request 3"]}
    for wrong in ("incident", "incident 0", "incident -1", "ticket 4", "incident 4; rm -rf /", "request 1x"):
        declared, problems = declarations(f"Fix\n\nAnswers: {wrong}\n")
        assert problems and "is not 'incident N' or 'request N'" in str(problems[0]), wrong


def test_only_the_fix_of_a_site_incident_is_declared_urgent_and_says_why():
    declared, problems = declarations("Fix\n\nAnswers: incident 4\nUrgent: the appointment form is down\n")
    assert problems == [] and declared == {"answers": ["incident 4"], "urgent": "the appointment form is down"}
    for notes in ("Fix\n\nUrgent: the form is down\n", "Fix\n\nAnswers: request 3\nUrgent: the boss wants it\n",
                  "Fix\n\nAnswers: incident x\nurgent: now\n"):
        declared, problems = declarations(notes)
        assert any("only the fix of a site incident is urgent" in str(p) for p in problems), notes
    declared, problems = declarations("Fix\n\nAnswers: incident 4\nUrgent:\n")
    assert [str(p) for p in problems if "says why" in str(p)], "an urgent release without a reason"
