import os

import pytest
import yaml

from ansible_collections.otap.street.plugins.module_utils.release_package import (
    manifest_bytes,
    scan_source,
    sha256_bytes,
    write_package,
)
from ansible_collections.otap.street.plugins.modules import release_gate

DATE = "2026-12-04T10:00:00Z"


def package(tmp_path, store, release, text):
    src = tmp_path / f"src-{release}"
    (src / "files").mkdir(parents=True)
    (src / "RELEASE.md").write_text(f"# Release {release}\n\nA footer.\n")
    (src / "files" / "footer.php").write_text(text)
    manifest = scan_source(src, release, release - 1, "agency", DATE)
    checksum = write_package(src, manifest, store / "packages" / f"release-{release}.tar.gz", mtime=1795600000)
    return checksum, sha256_bytes(manifest_bytes(manifest))


@pytest.fixture
def store(tmp_path):
    """A store with release 3 registered, on Test and Acceptance; returns (store, what a host staged it from)."""
    store = tmp_path / "store"
    for folder in ("packages", "register", "approvals", "snapshots"):
        (store / folder).mkdir(parents=True)
    checksum, staged = package(tmp_path, store, 3, "<?php echo 'v3';\n")
    (store / "register" / "releases.yml").write_text(yaml.safe_dump({"releases": [
        {"release": 3, "sha256": checksum, "title": "Release 3"}]}))
    (store / "register" / "deployments.yml").write_text(yaml.safe_dump({"deployments": [
        {"env": env, "release": 3, "from_release": 2, "result": "done"} for env in ("test", "acceptance")]}))
    (store / "snapshots" / "acceptance-20261204T100000Z.yml").write_text("packages: {}\n")
    return store, staged


def facts(link, database, package):
    """What module joomla_facts returns of an Acceptance host (the keys the gate reads, and more)."""
    return {"release_link": link, "release_database": database, "release_package": package,
            "joomla_version": {"version": "5.2.1"}, "changed": False}


def approve(run_module, store, served=None, approver="carla", **args):
    store, staged = store
    return run_module(release_gate, store_dir=str(store), approve=True, approver=approver,
                      approvers=["carla", "dirk"], date=DATE, recorded_by="root",
                      **({"snapshot": args.pop("snapshot")} if "snapshot" in args else
                         {"release": 3, "served": served if served is not None else
                          {"acc": facts(3, 3, staged)}}), **args)


def test_a_webmaster_approves_what_acceptance_serves_from_the_registered_package(run_module, store):
    result = approve(run_module, store)
    assert not result["failed"] and not result["changed"], result
    assert result["approval"]["approved_by"] == "carla" and result["approval"]["recorded_by"] == "root"
    assert result["approval"]["sha256"] == yaml.safe_load((store[0] / "register" / "releases.yml").read_text()
                                                          )["releases"][0]["sha256"]


@pytest.mark.parametrize("approver", ["bram", "root", "", "carla\n", "CARLA"])
def test_anyone_but_the_webmaster_s_party_is_refused(run_module, store, approver):
    result = approve(run_module, store, approver=approver)
    assert result["failed"] and "only the webmaster's party does (carla, dirk, in otap_people)" in result["msg"]


def test_a_tree_staged_from_another_package_is_refused(run_module, store):
    result = approve(run_module, store, served={"acc": facts(3, 3, "0" * 64)})
    assert result["failed"] and "staged from another package than the registered one" in result["msg"]


def test_a_database_that_records_another_release_is_refused(run_module, store):
    result = approve(run_module, store, served={"acc": facts(3, 2, store[1])})
    assert result["failed"] and "acc's database records release 2, not 3" in result["msg"]


@pytest.mark.parametrize("damage", ["replaced", "missing"])
def test_a_store_package_that_is_no_longer_the_registered_one_is_refused(run_module, store, tmp_path, damage):
    path = store[0] / "packages" / "release-3.tar.gz"
    if damage == "missing":
        os.unlink(path)
    else:
        package(tmp_path / "other", store[0], 3, "<?php echo 'not what was registered';\n")
    result = approve(run_module, store)
    assert result["failed"] and "The store's package of release 3 is missing or no longer the registered" in result["msg"]


def test_a_snapshot_is_approved_by_a_webmaster_only_when_acceptance_recorded_it(run_module, store):
    result = approve(run_module, store, snapshot="acceptance-20261204T100000Z")
    assert not result["failed"] and result["approval"] == {
        "snapshot": "acceptance-20261204T100000Z", "approved_by": "carla", "approved_at": DATE, "note": "",
        "recorded_by": "root"}
    assert "only the webmaster's party" in approve(run_module, store, approver="bram",
                                                   snapshot="acceptance-20261204T100000Z")["msg"]
    for name in ("acceptance-20261205T100000Z", "acceptance-../../register/releases", "test-20261204T100000Z"):
        result = approve(run_module, store, snapshot=name)
        assert result["failed"] and f"No snapshot {name} of acceptance in the store" in result["msg"]


def test_a_register_entry_without_a_checksum_is_never_approved(run_module, store):
    path = store[0] / "register" / "releases.yml"
    register = yaml.safe_load(path.read_text())
    del register["releases"][0]["sha256"]
    path.write_text(yaml.safe_dump(register))
    result = approve(run_module, store)
    assert result["failed"] and "names no package checksum" in result["msg"]


def lock_of(path, run_id="run-1", **more):
    return {"path": str(path), "run_id": run_id, "holder": "ops@ctl", "purpose": "release 3 to test", **more}


def test_an_open_gate_takes_the_lock_and_hands_back_the_register_it_read_under_it(run_module, store, tmp_path):
    path = tmp_path / "locks" / "test.lock"
    gate = run_module(release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path))
    assert not gate["failed"] and gate["changed"] and gate["locked"] is False, gate
    assert gate["lock"]["run_id"] == "run-1" and path.exists()
    assert [entry["release"] for entry in gate["releases"]] == [3]
    again = run_module(release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path))
    assert not again["failed"] and not again["changed"], "the run's own lock, already held"


def test_a_closed_gate_gives_the_lock_back_and_another_run_s_lock_stops_the_gate_unread(run_module, store, tmp_path):
    path = tmp_path / "production.lock"
    refused = run_module(release_gate, store_dir=str(store[0]), release=3, env="production", lock=lock_of(path))
    assert refused["failed"] and refused["refusals"] and not path.exists(), refused
    run_module(release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path, "other-run"))
    locked = run_module(release_gate, store_dir=str(store[0]), release=3, env="production", lock=lock_of(path))
    assert locked["failed"] and locked["locked"] and "refusals" not in locked, locked
    assert "run other-run" in locked["msg"] and "otap_break_lock=true" in locked["msg"]
    assert path.exists(), "another run's lock stays"
    broken = run_module(release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path, force=True))
    assert not broken["failed"] and broken["broken"]["run_id"] == "other-run" and broken["lock"]["run_id"] == "run-1"


def test_check_mode_takes_no_lock(run_module, store, tmp_path):
    path = tmp_path / "test.lock"
    gate = run_module(release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path),
                      _ansible_check_mode=True)
    assert not gate["failed"] and not path.exists()


# An adversarial review's findings, mended.

def test_a_gate_that_cannot_read_the_store_gives_the_lock_back(run_module, store, tmp_path):
    """The lock is taken before the store is read; an unreadable record (here the approval) makes
    the call fail with an exception, past the give-back, and the playbook's rescue has no unlock:
    the run leaves its lock and every later run is 'locked' until someone breaks it."""
    path = tmp_path / "production.lock"
    (store[0] / "approvals" / "release-3.yml").write_text("sha256: [not closed\n")
    try:
        result = run_module(release_gate, store_dir=str(store[0]), release=3, env="production", lock=lock_of(path))
    except Exception as error:  # noqa: BLE001 - a crash is a failed call too
        result = {"failed": True, "crash": repr(error)}
    assert result["failed"]
    assert not path.exists(), f"the failed gate left its lock: {path.read_text()!r} ({result})"


def test_a_lock_whose_writing_fails_leaves_no_empty_lock_behind(run_module, store, tmp_path, monkeypatch):
    """The lock file is created empty (O_EXCL) and written after: a write that fails (a full disk,
    a run killed at that moment) leaves an empty lock, which stops every later run."""
    import errno

    from ansible_collections.otap.street.plugins.module_utils import env_lock

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(env_lock.yaml, "safe_dump", full_disk)
    path = tmp_path / "test.lock"
    try:
        run_module(release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path))
    except OSError:
        pass
    monkeypatch.undo()
    assert not path.exists(), f"a half-written lock stands: {path.read_text()!r}"


def test_a_fifo_at_the_lock_path_fails_the_gate_instead_of_hanging(run_module, store, tmp_path):
    """env_lock.read opens the lock path for reading whatever it is: a FIFO there blocks the run
    forever (no timeout in the module)."""
    import threading

    path = tmp_path / "test.lock"
    os.mkfifo(path)
    results = []
    worker = threading.Thread(target=lambda: results.append(run_module(
        release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path))), daemon=True)
    worker.start()
    worker.join(5)
    hung = worker.is_alive()
    if hung:  # let the blocked reader go: a writer that closes at once gives it end of file
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    assert not hung, "the gate hung on a FIFO at the lock path"


def test_a_lock_broken_on_purpose_for_a_run_the_gates_refuse_is_put_back(run_module, store, tmp_path):
    path = tmp_path / "production.lock"
    run_module(release_gate, store_dir=str(store[0]), release=3, env="test", lock=lock_of(path, "other-run"))
    refused = run_module(release_gate, store_dir=str(store[0]), release=3, env="production",
                         lock=lock_of(path, force=True))
    assert refused["failed"] and refused["refusals"], refused
    assert yaml.safe_load(path.read_text())["run_id"] == "other-run", "the other run's lock is back"


def test_production_s_gate_hands_over_the_content_tables_the_approval_accepted(run_module, store):
    """What the webmaster accepted on Acceptance is what the SQL may write on Production, no more."""
    folder, _staged = store
    deployments = yaml.safe_load((folder / "register" / "deployments.yml").read_text())
    change = {"table": "#__users", "rows_before": 3, "rows_after": 4, "rows_changed_or_removed": 0, "rows_new": 1,
              "declared": False}
    deployments["deployments"][1]["content_changes"] = [change]
    (folder / "register" / "deployments.yml").write_text(yaml.safe_dump(deployments))
    refused = approve(run_module, store)
    assert refused["failed"] and "#__users (0 of 3 rows changed or removed, 1 new or rewritten" in refused["msg"]
    approval = approve(run_module, store, accept_content_changes=True)["approval"]
    (folder / "approvals" / "release-3.yml").write_text(yaml.safe_dump(approval))
    gate = run_module(release_gate, store_dir=str(folder), release=3, env="production")
    assert not gate["failed"] and gate["content_accepted"] == ["#__users"], gate
    assert approval["content_declared"] == [] and gate["content_agreed"] == ["#__users"]
    del approval["content_changes_accepted"]  # an approval that accepted nothing hands over nothing
    (folder / "approvals" / "release-3.yml").write_text(yaml.safe_dump(approval))
    gate = run_module(release_gate, store_dir=str(folder), release=3, env="production")
    assert not gate["failed"] and gate["content_accepted"] == [] and gate["content_agreed"] == [], gate
    del approval["content_declared"]  # recorded before approvals showed declarations: the releases' own count
    (folder / "approvals" / "release-3.yml").write_text(yaml.safe_dump(approval))
    gate = run_module(release_gate, store_dir=str(folder), release=3, env="production")
    assert not gate["failed"] and gate["content_agreed"] is None, gate
