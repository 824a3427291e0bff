import json
import os

from ansible_collections.otap.street.plugins.modules import deployment_record


def record(run_module, path, env, release, result="done", **extra):
    entry = dict(env=env, release=release, from_release=release - 1, date=f"2026-11-24T10:0{release}:00Z",
                 by="ops", result=result, **extra)
    return run_module(deployment_record, path=str(path), state="present", entry=entry)


def test_standing_follows_successes_and_rollbacks(run_module, tmp_path):
    path = tmp_path / "deployments.yml"
    record(run_module, path, "test", 2)
    record(run_module, path, "test", 3)
    record(run_module, path, "acceptance", 2)
    record(run_module, path, "acceptance", 3, result="failed")
    record(run_module, path, "test", 2, result="rolled_back")
    result = run_module(deployment_record, path=str(path))
    assert result["current"] == {"test": 2, "acceptance": 2}
    assert result["reached"] == {"test": 3, "acceptance": 2}


def test_the_same_entry_is_recorded_once(run_module, tmp_path):
    path = tmp_path / "deployments.yml"
    assert record(run_module, path, "test", 2, run_id="r1")["changed"]
    assert not record(run_module, path, "test", 2, run_id="r1")["changed"]


def test_an_unknown_result_is_refused(run_module, tmp_path):
    result = record(run_module, tmp_path / "d.yml", "test", 2, result="maybe")
    assert result["failed"] and "done, failed, rolled_back" in result["msg"]


def audited(run_module, path, log, env, release, result="done", title="", **module_args):
    entry = dict(env=env, release=release, from_release=release - 1, date=f"2026-11-24T10:0{release}:00Z",
                 by="ops", result=result, run_id=f"r{release}")
    return run_module(deployment_record, path=str(path), state="present", entry=entry, audit_log=str(log),
                      **module_args,
                      audit_title=title)


def test_a_rollout_that_went_live_or_was_rolled_back_gets_one_audit_line_and_a_failed_one_none(run_module, tmp_path):
    path, log = tmp_path / "register" / "deployments.yml", tmp_path / "audit" / "releases.jsonl"
    first = audited(run_module, path, log, "test", 2, title='Footer "links" \u00e9 {{ x }}')
    assert first["changed"] and first["audited"]
    assert not audited(run_module, path, log, "test", 2, title='Footer "links" \u00e9 {{ x }}')["changed"]
    failed = audited(run_module, path, log, "test", 3, result="failed", title="Badge")
    assert failed["changed"] and not failed["audited"]
    assert audited(run_module, path, log, "test", 2, result="rolled_back")["audited"]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["release"], line["result"], line.get("title")) for line in lines] == [
        (2, "done", 'Footer "links" \u00e9 {{ x }}'), (2, "rolled_back", None)]
    assert list(lines[0]) == ["env", "release", "from_release", "date", "by", "result", "run_id", "title"]
    assert oct(log.stat().st_mode & 0o777) == "0o644"
    assert [d["result"] for d in run_module(deployment_record, path=str(path))["deployments"]] == [
        "done", "failed", "rolled_back"]


def test_the_audit_line_goes_after_the_lines_already_there_even_one_without_its_line_end(run_module, tmp_path):
    log = tmp_path / "releases.jsonl"
    log.write_text('{"kept": 1}\n{"kept": 2}')
    audited(run_module, tmp_path / "d.yml", log, "production", 4)
    kept = log.read_text().splitlines()
    assert kept[:2] == ['{"kept": 1}', '{"kept": 2}'] and json.loads(kept[2])["release"] == 4 and len(kept) == 3


def test_check_mode_says_the_audit_line_would_be_added_and_writes_nothing(run_module, tmp_path):
    path, log = tmp_path / "d.yml", tmp_path / "releases.jsonl"
    done = audited(run_module, path, log, "test", 2, _ansible_check_mode=True)
    assert done["changed"] and done["audited"] and not log.exists() and not path.exists()


def test_an_audit_log_that_cannot_be_written_fails_the_call_after_the_register_has_the_entry(run_module, tmp_path):
    path, log = tmp_path / "d.yml", tmp_path / "releases.jsonl"
    log.mkdir()
    done = audited(run_module, path, log, "test", 2)
    assert done["failed"] and done["msg"].startswith(f"the audit log {log} cannot be read")
    assert [d["release"] for d in run_module(deployment_record, path=str(path))["deployments"]] == [2]


def test_a_new_audit_log_is_readable_by_all_whatever_the_umask(run_module, tmp_path):
    log = tmp_path / "audit" / "releases.jsonl"
    kept = os.umask(0o077)
    try:
        audited(run_module, tmp_path / "d.yml", log, "test", 2)
    finally:
        os.umask(kept)
    assert oct(log.stat().st_mode & 0o777) == "0o644" and oct(log.parent.stat().st_mode & 0o777) == "0o755"


def test_a_byte_that_is_not_text_in_the_audit_log_does_not_stop_the_lines_after_it(run_module, tmp_path):
    log = tmp_path / "releases.jsonl"
    log.write_bytes(b'{"title": "Caf\xe9"}\n')
    assert audited(run_module, tmp_path / "d.yml", log, "test", 2)["audited"]
    assert not audited(run_module, tmp_path / "d.yml", log, "test", 2)["changed"]
    assert log.read_bytes().startswith(b'{"title": "Caf\xe9"}\n') and len(log.read_bytes().splitlines()) == 2
