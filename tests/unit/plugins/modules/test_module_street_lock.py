import pytest

from ansible_collections.otap.street.plugins.modules import street_lock


def take(run_module, path, run_id, **extra):
    return run_module(street_lock, path=str(path), run_id=run_id, holder="ops@ctl", purpose="release 4", **extra)


def test_a_lock_is_taken_once_and_says_who_holds_it(run_module, tmp_path):
    path = tmp_path / "locks" / "production.lock"
    first = take(run_module, path, "run-1")
    assert first["changed"] and first["lock"]["holder"] == "ops@ctl"
    assert not take(run_module, path, "run-1")["changed"]
    other = take(run_module, path, "run-2")
    assert other["failed"]
    assert "locked by ops@ctl since" in other["msg"] and "run run-1" in other["msg"]
    assert "otap_break_lock=true" in other["msg"]


def test_only_the_holder_releases_it(run_module, tmp_path):
    path = tmp_path / "production.lock"
    take(run_module, path, "run-1")
    assert not run_module(street_lock, path=str(path), run_id="run-2", state="absent")["changed"]
    assert path.exists()
    assert run_module(street_lock, path=str(path), run_id="run-1", state="absent")["changed"]
    assert not path.exists()


def test_force_breaks_a_stale_lock(run_module, tmp_path):
    path = tmp_path / "production.lock"
    take(run_module, path, "run-1")
    broken = take(run_module, path, "run-2", force=True)
    assert broken["changed"] and broken["broken"]["run_id"] == "run-1"
    assert broken["lock"]["run_id"] == "run-2"


def test_check_mode_takes_nothing(run_module, tmp_path):
    path = tmp_path / "production.lock"
    assert take(run_module, path, "run-1", _ansible_check_mode=True)["changed"]
    assert not path.exists()


@pytest.mark.parametrize("content", [b"", b"\x00\xff garbage", b"just a string\n", b"- a\n- list\n", b"{unclosed"])
def test_an_empty_or_garbage_lock_holds_until_broken_on_purpose(run_module, tmp_path, content):
    path = tmp_path / "test.lock"
    path.write_bytes(content)
    refused = take(run_module, path, "run-1")
    assert refused["failed"] and "is empty or unreadable" in refused["msg"] and "otap_break_lock=true" in refused["msg"]
    assert not run_module(street_lock, path=str(path), run_id="run-1", state="absent")["changed"]
    assert path.read_bytes() == content
    broken = take(run_module, path, "run-1", force=True)
    assert broken["changed"] and broken["lock"]["run_id"] == "run-1" and broken["broken"] == {"unreadable": str(path)}
