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
    args = {"repository": str(tmp_path / "repo"), "password": PASSWORD, "paths": [str(store)],
            "exclude": [str(store / "locks"), str(store / "hospital-copy.json")], "record": str(store / "hospital-copy.json")}
    return run_module(hospital_copy, **{**args, **more})


def test_the_first_copy_initialises_the_repository_and_a_second_one_adds_nothing(run_module, street):
    first = copy(run_module, street)
    assert first["changed"] and first["initialised"] and first["summary"]["files_new"] == 3, first
    record = json.loads((street / "store" / "hospital-copy.json").read_text())
    assert record["snapshot"] == first["snapshot"] and record["date"] == record["checked"]
    second = copy(run_module, street)
    assert not second["changed"] and second["snapshot"] == first["snapshot"], second
    assert [c["argv"][c["argv"].index("backup") + 1] == "--dry-run" for c in calls(street) if "backup" in c["argv"]] \
        == [True, False, True], "a copy with nothing new wrote a snapshot"
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
    snapshots = [json.loads(p.read_text()) for p in (street / "repo").glob("snap-*.json")]
    assert not [f for s in snapshots for f in s["files"] if "/locks/" in f or f.endswith("hospital-copy.json")]


def test_check_mode_writes_nothing_and_says_what_a_copy_would_do(run_module, street):
    result = copy(run_module, street, _ansible_check_mode=True)
    assert result["changed"] and result["initialised"] and not (street / "repo").exists()
    copy(run_module, street)
    (street / "store/register/releases.yml").write_text("releases: [1]\n")
    result = copy(run_module, street, _ansible_check_mode=True)
    assert result["changed"] and len(list((street / "repo").glob("snap-*.json"))) == 1


def test_a_repository_that_does_not_answer_or_refuses_the_key_fails_saying_so(run_module, street, monkeypatch):
    copy(run_module, street)
    wrong = run_module(hospital_copy, repository=str(street / "repo"), password="guess", paths=[str(street / "store")])
    assert wrong["failed"] and "wrong password" in wrong["msg"]
    monkeypatch.setenv("FAKE_RESTIC_FAIL", "backup")
    (street / "store/register/releases.yml").write_text("changed\n")
    failed = copy(run_module, street)
    assert failed["failed"] and "restic backup failed: Fatal: backup: connection lost" in failed["msg"]
    missing = copy(run_module, street, init=False, repository=str(street / "elsewhere"))
    assert missing["failed"] and "holds no restic repository" in missing["msg"]


def test_an_sftp_repository_is_reached_with_its_key_and_pinned_host_keys_only():
    option = hospital_copy.ssh_option("sftp:otapcopy@10.0.0.30:/repository", "/etc/k/id", "/etc/k/known_hosts")
    assert option[0] == "-o" and option[1].startswith("sftp.command=ssh -i /etc/k/id ")
    for word in ("IdentitiesOnly=yes", "IdentityAgent=none", "BatchMode=yes", "StrictHostKeyChecking=yes",
                 "UserKnownHostsFile=/etc/k/known_hosts", "otapcopy@10.0.0.30 -s sftp"):
        assert word in option[1]
    assert hospital_copy.ssh_option("/srv/repo", None, None) == []
    for bad in ("sftp:host:/repository", "sftp:otapcopy@host:relative", "sftp:a@b:/x; rm -rf /"):
        with pytest.raises(ValueError):
            hospital_copy.ssh_option(bad, "/k", "/h") if ";" not in bad else hospital_copy.ssh_option(bad, None, None)
    with pytest.raises(ValueError):
        hospital_copy.ssh_option("sftp:otapcopy@host:/repository", "/k", None)


def test_one_backup_comes_back_only_where_the_store_lacks_it(run_module, street):
    copy(run_module, street)
    store, backup = street / "store", street / "store/backups/production-1"
    args = {"action": "recover", "repository": str(street / "repo"), "password": PASSWORD, "include": [str(backup)]}
    refused = run_module(hospital_copy, **args)
    assert refused["failed"] and "never overwrites the agreed place" in refused["msg"]
    (backup / "manifest.yml").unlink()
    backup.rmdir()
    recovered = run_module(hospital_copy, **args)
    assert recovered["changed"] and (backup / "manifest.yml").read_text() == "id: 1\n"
    gone = run_module(hospital_copy, **{**args, "include": [str(store / "backups/production-9")]})
    assert gone["failed"] and "holds no" in gone["msg"]


def test_the_whole_store_comes_back_with_what_was_there_set_aside(run_module, street):
    copy(run_module, street)
    store = street / "store"
    (store / "register/releases.yml").write_text("releases: [rebuilt]\n")
    result = run_module(hospital_copy, action="recover", repository=str(street / "repo"), password=PASSWORD,
                        include=[str(store)], set_aside=True)
    assert result["changed"] and (store / "register/releases.yml").read_text() == "releases: []\n"
    aside = Path(result["set_aside"][str(store)])
    assert (aside / "register/releases.yml").read_text() == "releases: [rebuilt]\n"
    assert not (store / "locks").exists(), "the copy brought locks back"
    check = run_module(hospital_copy, action="recover", repository=str(street / "repo"), password=PASSWORD,
                       include=[str(store)], set_aside=True, _ansible_check_mode=True)
    assert check["changed"] and sorted(p.name for p in street.iterdir()).count(aside.name) == 1


def test_nothing_to_recover_from_fails_saying_so(run_module, street):
    result = run_module(hospital_copy, action="recover", repository=str(street / "repo"), password=PASSWORD,
                        include=[str(street / "nowhere")])
    assert result["failed"] and "holds no restic repository" in result["msg"]


def test_the_summary_is_read_from_restic_s_last_json_line_and_decides_the_change():
    out = '{"message_type":"status"}\n{"message_type":"summary","files_new":0,"files_changed":0,"dirs_changed":1}\n'
    summary = hospital_copy.summary_of(out)
    assert hospital_copy.anything_to_copy(summary, first=False)
    assert not hospital_copy.anything_to_copy({"files_new": 0, "files_changed": 0, "dirs_new": 0, "dirs_changed": 0}, False)
    assert hospital_copy.anything_to_copy({}, first=True)
    with pytest.raises(ValueError):
        hospital_copy.summary_of("Fatal: nothing\n")


def test_an_older_copy_is_recovered_by_its_id_and_a_bad_id_is_refused(run_module, street):
    first = copy(run_module, street)["snapshot"]
    (street / "store/register/releases.yml").write_text("releases: [later]\n")
    copy(run_module, street)
    target = street / "elsewhere"
    args = {"action": "recover", "repository": str(street / "repo"), "password": PASSWORD, "target": str(target),
            "include": [str(street / "store/register")]}
    result = run_module(hospital_copy, **args, snapshot=first)
    assert result["snapshot"] == first
    assert (target / str(street / "store/register/releases.yml").lstrip("/")).read_text() == "releases: []\n"
    for bad in ("../x", "latest; rm", "0123"):
        refused = run_module(hospital_copy, **args, snapshot=bad)
        assert refused["failed"] and "is not a snapshot's id" in refused["msg"]
    unknown = run_module(hospital_copy, **{**args, "target": str(street / "t2")}, snapshot="ffffffff")
    assert unknown["failed"] and "with id ffffffff" in unknown["msg"]
