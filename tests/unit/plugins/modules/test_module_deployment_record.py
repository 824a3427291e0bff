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
