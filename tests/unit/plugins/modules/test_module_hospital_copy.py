import json
import os
import stat
import sys
from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.modules import hospital_copy

FAKE = Path(__file__).with_name("fake_restic.py")
PASSWORD = "the hospital's key"


@pytest.fixture
def street(tmp_path, monkeypatch):
    """A store with records, a repository folder, and the fake restic first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    restic = bin_dir / "restic"
    restic.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE} \"$@\"\n")
    restic.chmod(restic.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RESTIC_LOG", str(tmp_path / "calls.jsonl"))
    store = tmp_path / "store"
    for path, text in {"register/releases.yml": "releases: []\n", "backups/production-1/manifest.yml": "id: 1\n",
                       "locks/production.lock": "held\n", "audit/runs.jsonl": "{}\n"}.items():
        (store / path).parent.mkdir(parents=True, exist_ok=True)
        (store / path).write_text(text)
    return tmp_path


def calls(tmp_path):
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def copy(run_module, tmp_path, **more):
    store = tmp_path / "store"
    args = {"repository": str(tmp_path / "repo"), "password": PASSWORD, "paths": [str(store)], "init": True,
            "exclude": [str(store / "locks"), str(store / "hospital-copy")], "record": str(store / "hospital-copy/last.json")}
    return run_module(hospital_copy, **{**args, **more})


def recover(run_module, tmp_path, **more):
    return run_module(hospital_copy, **{"action": "recover", "repository": str(tmp_path / "repo"), "password": PASSWORD,
                                        **more})


def snapshots(tmp_path):
    return [json.loads(p.read_text()) for p in (tmp_path / "repo").glob("snap-*.json")]


def test_the_first_copy_initialises_the_repository_and_a_second_one_adds_nothing(run_module, street):
    first = copy(run_module, street)
    assert first["changed"] and first["initialised"] and first["summary"]["files_new"] == 3, first
    record = json.loads((street / "store/hospital-copy/last.json").read_text())
    assert record["snapshot"] == first["snapshot"] and record["date"] == record["checked"]
    # The record the first copy wrote changed no folder the copy holds: the second finds nothing new.
    second = copy(run_module, street)
    assert not second["changed"] and second["snapshot"] == first["snapshot"], second
    assert len(snapshots(street)) == 1, "a copy with nothing new wrote a snapshot"
    assert json.loads((street / "store/hospital-copy/last.json").read_text())["date"] == record["date"]
    # The password only ever reached restic through its environment.
    assert all(PASSWORD not in " ".join(c["argv"]) and c["password"] == PASSWORD for c in calls(street))


def test_a_change_a_new_file_and_a_removal_each_make_a_new_snapshot_and_the_locks_never_go(run_module, street):
    copy(run_module, street)
    store = street / "store"
    for change in (lambda: (store / "audit/runs.jsonl").write_text("{}\n{}\n"),
                   lambda: (store / "backups/production-2").mkdir() or (store / "backups/production-2/x").write_text("x"),
                   lambda: (store / "backups/production-2/x").unlink()):
        change()
        assert copy(run_module, street)["changed"]
    (store / "locks/test.lock").write_text("held\n")
    assert not copy(run_module, street)["changed"], "a lock taken or released is not the store's content"
    assert not [f for s in snapshots(street) for f in s["files"] if "/locks/" in f or "/hospital-copy/" in f]


def test_check_mode_writes_nothing_and_takes_no_lock(run_module, street):
    result = copy(run_module, street, _ansible_check_mode=True)
    assert result["changed"] and result["initialised"] and not (street / "repo").exists()
    copy(run_module, street)
    (street / "store/register/releases.yml").write_text("releases: [1]\n")
    (street / "calls.jsonl").unlink()
    result = copy(run_module, street, _ansible_check_mode=True)
    assert result["changed"] and len(snapshots(street)) == 1
    assert all("--no-lock" in c["argv"] for c in calls(street)), "check mode read the repository under a lock"


def test_a_repository_that_is_missing_does_not_answer_or_refuses_the_key_fails_saying_so(run_module, street, monkeypatch):
    copy(run_module, street)
    wrong = run_module(hospital_copy, repository=str(street / "repo"), password="guess", paths=[str(street / "store")])
    assert wrong["failed"] and "wrong password" in wrong["msg"]
    missing = copy(run_module, street, init=False, repository=str(street / "repo-typo"))
    assert missing["failed"] and "holds no restic repository (or the path is wrong)" in missing["msg"]
    assert not (street / "repo-typo").exists(), "a mistyped repository was created"
    monkeypatch.setenv("FAKE_RESTIC_FAIL", "backup")
    (street / "store/register/releases.yml").write_text("changed\n")
    failed = copy(run_module, street)
    assert failed["failed"] and "restic backup failed: Fatal: backup: connection lost" in failed["msg"]


def test_an_unreadable_record_is_written_anew(run_module, street):
    copy(run_module, street)
    for junk in ("{not json", "[1, 2]", ""):
        (street / "store/hospital-copy/last.json").write_text(junk)
        result = copy(run_module, street)
        assert not result["failed"] and json.loads((street / "store/hospital-copy/last.json").read_text())["snapshot"]


def test_an_sftp_repository_is_reached_with_its_key_and_pinned_host_keys_only():
    option = hospital_copy.ssh_option("sftp:otapcopy@10.0.0.30:/repository", "/etc/k/id", "/etc/k/known_hosts")
    assert option[0] == "-o" and option[1].startswith("sftp.command=ssh -i /etc/k/id ")
    for word in ("IdentitiesOnly=yes", "IdentityAgent=none", "BatchMode=yes", "StrictHostKeyChecking=yes",
                 "UserKnownHostsFile=/etc/k/known_hosts", "otapcopy@10.0.0.30 -s sftp"):
        assert word in option[1]
    assert hospital_copy.ssh_option("/srv/repo", None, None) == []
    for bad in ("sftp:host:/repository", "sftp:otapcopy@host:relative", "sftp:a@b:/x; rm -rf /",
                "sftp:-Jevil@host:/repository", "sftp:otapcopy@-oProxyCommand=x:/repository"):
        with pytest.raises(ValueError, match="is not sftp:USER@HOST:/PATH"):
            hospital_copy.ssh_option(bad, "/k", "/h")
    with pytest.raises(ValueError, match="needs ssh_key and known_hosts"):
        hospital_copy.ssh_option("sftp:otapcopy@host:/repository", "/k", None)


def test_one_backup_comes_back_only_where_the_store_lacks_it_and_nothing_above_it_changes(run_module, street):
    copy(run_module, street)
    store, backup = street / "store", street / "store/backups/production-1"
    refused = recover(run_module, street, include=str(backup))
    assert refused["failed"] and "never overwrites the agreed place" in refused["msg"]
    (backup / "manifest.yml").unlink()
    backup.rmdir()
    os.chmod(store / "backups", 0o710)
    before = os.stat(store / "backups")
    recovered = recover(run_module, street, include=str(backup) + "/")
    assert recovered["changed"] and (backup / "manifest.yml").read_text() == "id: 1\n"
    after = os.stat(store / "backups")
    assert (stat.S_IMODE(after.st_mode), after.st_uid) == (0o710, before.st_uid), "the recovery touched backups/ itself"
    assert sorted(p.name for p in (store / "backups").iterdir()) == ["production-1"], "the staging folder was left behind"
    gone = recover(run_module, street, include=str(store / "backups/production-9"))
    assert gone["failed"] and "holds no" in gone["msg"] and not (store / "backups/production-9").exists()


def test_the_whole_store_comes_back_with_what_was_there_set_aside_inside_it(run_module, street):
    copy(run_module, street)
    store = street / "store"
    (store / "register/releases.yml").write_text("releases: [rebuilt]\n")
    (store / "rebuilt.txt").write_text("the new host\n")
    check = recover(run_module, street, include=str(store), set_aside=True, _ansible_check_mode=True)
    assert check["changed"] and (store / "rebuilt.txt").exists() and not list(store.glob(".before-recover-*"))
    result = recover(run_module, street, include=str(store), set_aside=True)
    assert result["changed"] and (store / "register/releases.yml").read_text() == "releases: []\n"
    aside = Path(result["set_aside"])
    assert aside.parent == store and aside.name.startswith(".before-recover-")
    assert (aside / "register/releases.yml").read_text() == "releases: [rebuilt]\n"
    assert (aside / "rebuilt.txt").exists() and not (store / "rebuilt.txt").exists()
    assert not (store / "locks").is_dir() or not list((store / "locks").iterdir()), "the copy brought locks back"
    assert not list(store.glob(".recover-*")), "the staging folder was left behind"


def test_an_older_copy_is_recovered_by_its_id_and_a_bad_id_is_refused(run_module, street):
    first = copy(run_module, street)["snapshot"]
    (street / "store/register/releases.yml").write_text("releases: [later]\n")
    copy(run_module, street)
    register = street / "store/register"
    for bad in ("../x", "latest; rm", "0123"):
        refused = recover(run_module, street, include=str(register), set_aside=True, snapshot=bad)
        assert refused["failed"] and "is not a snapshot's id" in refused["msg"]
    unknown = recover(run_module, street, include=str(register), set_aside=True, snapshot="ffffffff")
    assert unknown["failed"] and "with id ffffffff" in unknown["msg"]
    result = recover(run_module, street, include=str(register), set_aside=True, snapshot=first)
    assert result["snapshot"] == first and (register / "releases.yml").read_text() == "releases: []\n"


def test_nothing_to_recover_from_fails_saying_so(run_module, street):
    result = recover(run_module, street, include=str(street / "nowhere"))
    assert result["failed"] and "holds no restic repository" in result["msg"]


def test_the_summary_is_read_from_restic_s_last_json_line_and_decides_the_change():
    out = '{"message_type":"status"}\n{"message_type":"summary","files_new":0,"files_changed":0,"dirs_changed":1}\n{oops\n'
    summary = hospital_copy.summary_of(out)
    assert hospital_copy.anything_to_copy(summary, first=False)
    assert not hospital_copy.anything_to_copy({"files_new": 0, "files_changed": 0, "dirs_new": 0, "dirs_changed": 0}, False)
    assert hospital_copy.anything_to_copy({}, first=True)
    for junk in ("Fatal: nothing\n", '"a string"\n', "[1]\n"):
        with pytest.raises(ValueError):
            hospital_copy.summary_of(junk)
