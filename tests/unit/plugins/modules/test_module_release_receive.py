"""A node takes packages in (release_receive): it keeps only what it verified itself."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.modules import release_package, release_receive


@pytest.fixture(name="agency")
def fixture_agency(tmp_path):
    key = tmp_path / "agency"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return {"key": str(key), "signers": [{"principal": "agency", "key": (tmp_path / "agency.pub").read_text()}]}


def package(run_module, tmp_path: Path, agency, number: int, text: str) -> dict:
    """Build and sign release `number` into the controller's cache (tmp_path/cache)."""
    src = tmp_path / f"src-{number}"
    (src / "files").mkdir(parents=True)
    (src / "RELEASE.md").write_text(f"Release {number}\n")
    (src / "files" / "index.php").write_text(text)
    built = run_module(release_package, src=str(src), dest_dir=str(tmp_path / "cache"), last_release=number - 1,
                       author="agency", date="2026-11-24T10:00:00Z", signing_key=agency["key"])
    assert not built["failed"], built
    return {"release": number, "sha256": built["sha256"]}


def receive(run_module, tmp_path: Path, agency, releases: list[dict], **extra) -> dict:
    return run_module(release_receive, incoming=str(tmp_path / "cache"), work_dir=str(tmp_path / "work"),
                      releases=releases, signers=agency["signers"], **extra)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_the_node_keeps_verifies_and_unpacks_every_release_and_a_second_call_changes_nothing(run_module, tmp_path,
                                                                                              agency):
    releases = [package(run_module, tmp_path, agency, 2, "two\n"), package(run_module, tmp_path, agency, 3, "three\n")]
    first = receive(run_module, tmp_path, agency, releases)
    assert not first["failed"] and first["changed"], first
    assert [r["release"] for r in first["releases"]] == [2, 3] and first["releases"][0]["signed_by"] == "agency"
    work = tmp_path / "work"
    assert {mode(work / f) for f in ("", "packages", "unpacked", "backups")} == {0o700}
    for number in (2, 3):
        for name in (f"release-{number}.tar.gz", f"release-{number}.tar.gz.sig"):
            assert (work / "packages" / name).read_bytes() == (tmp_path / "cache" / name).read_bytes()
            assert mode(work / "packages" / name) == 0o600
    assert (work / "unpacked" / "3" / "files" / "index.php").read_text() == "three\n"
    assert sorted(p.name for p in (work / "packages").iterdir()) == [
        "release-2.tar.gz", "release-2.tar.gz.sig", "release-3.tar.gz", "release-3.tar.gz.sig"]
    second = receive(run_module, tmp_path, agency, releases)
    assert not second["failed"] and not second["changed"], second


@pytest.mark.parametrize("spoil", ["bytes appended", "signed by an intruder", "checksum of another package",
                                   "no signature"])
def test_a_package_the_node_cannot_verify_is_neither_kept_nor_unpacked(run_module, tmp_path, agency, spoil):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    cache = tmp_path / "cache"
    if spoil == "bytes appended":
        with (cache / "release-2.tar.gz").open("ab") as handle:
            handle.write(b"x")
    elif spoil == "signed by an intruder":
        intruder = tmp_path / "intruder"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(intruder)], check=True)
        (cache / "release-2.tar.gz.sig").unlink()
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(intruder), "-n", "otap-release",
                        str(cache / "release-2.tar.gz")], check=True)
    elif spoil == "checksum of another package":
        entry = entry | {"sha256": "0" * 64}
    else:
        (cache / "release-2.tar.gz.sig").unlink()
    result = receive(run_module, tmp_path, agency, [entry])
    assert result["failed"] and "release-2.tar.gz" in result["msg"], result
    packages = tmp_path / "work" / "packages"
    assert list(packages.iterdir()) == [], "nothing of a refused package is kept, no temporary copy either"
    assert list((tmp_path / "work" / "unpacked").iterdir()) == []


def test_a_package_altered_on_the_node_is_put_back_as_verified(run_module, tmp_path, agency):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    receive(run_module, tmp_path, agency, [entry])
    kept = tmp_path / "work" / "packages" / "release-2.tar.gz"
    kept.write_bytes(b"altered")
    kept.chmod(0o644)
    (tmp_path / "work" / "packages").chmod(0o755)
    again = receive(run_module, tmp_path, agency, [entry])
    assert not again["failed"] and again["changed"]
    assert kept.read_bytes() == (tmp_path / "cache" / "release-2.tar.gz").read_bytes() and mode(kept) == 0o600
    assert mode(tmp_path / "work" / "packages") == 0o700


def test_a_work_folder_that_is_a_link_is_refused(run_module, tmp_path, agency):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "work" / "packages").symlink_to(tmp_path / "elsewhere")
    result = receive(run_module, tmp_path, agency, [entry])
    assert result["failed"] and "is not a folder" in result["msg"]
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_check_mode_verifies_and_makes_nothing(run_module, tmp_path, agency):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    result = receive(run_module, tmp_path, agency, [entry], _ansible_check_mode=True)
    assert not result["failed"] and result["changed"] and result["releases"][0]["signed_by"] == "agency"
    assert not (tmp_path / "work").exists()
    spoiled = tmp_path / "cache" / "release-2.tar.gz"
    shutil.copy(spoiled, tmp_path / "kept")
    with spoiled.open("ab") as handle:
        handle.write(b"x")
    assert receive(run_module, tmp_path, agency, [entry], _ansible_check_mode=True)["failed"]
    os.replace(tmp_path / "kept", spoiled)


def test_an_unpacked_tree_changed_after_it_was_unpacked_is_unpacked_again(run_module, tmp_path, agency):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    receive(run_module, tmp_path, agency, [entry])
    unpacked = tmp_path / "work" / "unpacked" / "2"
    (unpacked / "files" / "index.php").write_text("<?php system($_GET['c']);\n")
    (unpacked / "files" / "shell.php").write_text("<?php\n")
    again = receive(run_module, tmp_path, agency, [entry])
    assert not again["failed"] and again["changed"]
    assert (unpacked / "files" / "index.php").read_text() == "two\n" and not (unpacked / "files" / "shell.php").exists()


@pytest.mark.parametrize("spot", ["a link to a folder", "a file"])
def test_what_stands_where_the_unpacked_tree_belongs_is_replaced_by_it(run_module, tmp_path, agency, spot):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    receive(run_module, tmp_path, agency, [entry])
    unpacked, elsewhere = tmp_path / "work" / "unpacked" / "2", tmp_path / "elsewhere"
    shutil.copytree(unpacked, elsewhere)
    shutil.rmtree(unpacked)
    if spot == "a file":
        unpacked.write_text("x")
    else:
        unpacked.symlink_to(elsewhere)
    again = receive(run_module, tmp_path, agency, [entry])
    assert not again["failed"] and again["changed"]
    assert unpacked.is_dir() and not unpacked.is_symlink() and (unpacked / "files" / "index.php").read_text() == "two\n"


def test_a_work_folder_someone_else_made_is_not_taken_over(run_module, tmp_path, agency):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    work = tmp_path / "work"
    (work / "unpacked" / "2").mkdir(parents=True)
    (work / "unpacked" / "2" / "planted.php").write_text("<?php\n")
    os.chown(work, 65534, 65534)
    result = receive(run_module, tmp_path, agency, [entry])
    assert result["failed"] and "belongs to user 65534" in result["msg"]
    assert work.stat().st_uid == 65534 and not (work / "packages").exists()


@pytest.mark.parametrize("release", [-1, 0, True, 2.9, "٢", "02", "3/../../x", None, 10**30])
def test_a_release_that_is_not_a_release_number_is_refused_before_anything_is_made(run_module, tmp_path, agency,
                                                                                   release):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    result = receive(run_module, tmp_path, agency, [entry | {"release": release}])
    assert result["failed"] and "is not a release number" in result["msg"], result
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("sha256", ["", None, "0" * 63, "A" * 64])
def test_a_release_without_the_register_checksum_is_refused(run_module, tmp_path, agency, sha256):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    result = receive(run_module, tmp_path, agency, [entry | {"sha256": sha256}])
    assert result["failed"] and "has no register checksum" in result["msg"], result
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("name", ["release-2.tar.gz", "release-2.tar.gz.sig"])
def test_a_folder_where_a_package_file_belongs_fails_cleanly_and_leaves_no_copy(run_module, tmp_path, agency, name):
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    (tmp_path / "work" / "packages" / name).mkdir(parents=True)
    result = receive(run_module, tmp_path, agency, [entry])
    assert result["failed"] and "is a folder" in result["msg"], result
    assert sorted(p.name for p in (tmp_path / "work" / "packages").iterdir()) == [name]


def live_site(tmp_path: Path) -> Path:
    """A site serving release 1 (index.php and a template), its uploads in shared/."""
    root = tmp_path / "portal"
    (root / "releases" / "1" / "templates").mkdir(parents=True)
    (root / "shared" / "images").mkdir(parents=True)
    (root / "releases" / "1" / "index.php").write_text("one\n")
    (root / "releases" / "1" / "templates" / "t.php").write_text("template\n")
    os.symlink(str(root / "shared" / "images"), root / "releases" / "1" / "images")
    return root


def test_with_a_site_the_node_stages_the_trees_in_order_on_the_live_one_and_a_second_call_changes_nothing(
        run_module, tmp_path, agency):
    root = live_site(tmp_path)
    releases = [package(run_module, tmp_path, agency, 2, "two\n"), package(run_module, tmp_path, agency, 3, "three\n")]
    checked = receive(run_module, tmp_path, agency, releases, stage_root=str(root), stage_base=1,
                      _ansible_check_mode=True)
    assert not checked["failed"] and checked["staged"] == [2, 3] and sorted(os.listdir(root / "releases")) == ["1"]
    first = receive(run_module, tmp_path, agency, releases, stage_root=str(root), stage_base=1)
    assert not first["failed"] and first["staged"] == [2, 3], first
    assert (root / "releases" / "3" / "index.php").read_text() == "three\n"
    assert (root / "releases" / "1" / "index.php").read_text() == "one\n", "the live release was changed"
    assert os.stat(root / "releases" / "3" / "templates" / "t.php").st_ino == \
        os.stat(root / "releases" / "1" / "templates" / "t.php").st_ino, "an unchanged file was copied"
    assert os.readlink(root / "releases" / "3" / "images") == str(root / "shared" / "images")
    second = receive(run_module, tmp_path, agency, releases, stage_root=str(root), stage_base=1)
    assert not second["failed"] and not second["changed"] and second["staged"] == [], second


def test_a_tree_that_cannot_be_staged_fails_the_call_and_leaves_nothing_under_its_number(run_module, tmp_path, agency):
    root = live_site(tmp_path)
    entry = package(run_module, tmp_path, agency, 2, "two\n")
    failed = receive(run_module, tmp_path, agency, [entry], stage_root=str(root), stage_base=7)
    assert failed["failed"] and "not staged" in failed["msg"] and "on top of release 7" in failed["msg"], failed
    assert sorted(os.listdir(root / "releases")) == ["1"]
