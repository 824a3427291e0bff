import json
from datetime import datetime, timedelta, timezone

import yaml

from ansible_collections.otap.street.plugins.modules import backup_catalog

START = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)


def backup(root, env, when, release=4):
    backup_id = f"{env}-{when:%Y%m%dT%H%M%SZ}-r{release}"
    (root / backup_id).mkdir(parents=True)
    (root / backup_id / "manifest.yml").write_text(yaml.safe_dump(
        {"id": backup_id, "env": env, "date": when.isoformat(), "release": release}))
    return backup_id


def test_old_backups_go_by_the_policy_per_environment_and_the_index_lists_the_rest(run_module, tmp_path):
    production = [backup(tmp_path, "production", START + timedelta(days=d)) for d in range(10)]
    test = backup(tmp_path, "test", START)
    result = run_module(backup_catalog, path=str(tmp_path), daily=3, weekly=0, monthly=0)
    assert result["changed"] and result["kept"] == {"production": production[-3:], "test": [test]}
    assert result["removed"] == production[:-3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(production[-3:] + [test, "index.jsonl"])
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [i["id"] for i in index] == [test] + production[-3:]


def test_a_second_run_changes_nothing_and_check_mode_removes_nothing(run_module, tmp_path):
    for d in range(3):
        backup(tmp_path, "test", START + timedelta(days=d))
    assert run_module(backup_catalog, path=str(tmp_path), daily=7)["changed"]
    assert not run_module(backup_catalog, path=str(tmp_path), daily=7)["changed"]
    result = run_module(backup_catalog, path=str(tmp_path), daily=1, weekly=0, monthly=0, _ansible_check_mode=True)
    assert result["changed"] and len(result["removed"]) == 2 and len(list(tmp_path.iterdir())) == 4


def test_a_backup_that_is_still_being_written_is_left_alone(run_module, tmp_path):
    (tmp_path / "test-20261124T020000Z-r4").mkdir()
    result = run_module(backup_catalog, path=str(tmp_path))
    assert result["removed"] == [] and (tmp_path / "test-20261124T020000Z-r4").is_dir()


def test_dates_with_and_without_a_zone_are_both_utc(run_module, tmp_path):
    naive = backup(tmp_path, "test", datetime(2026, 11, 2, 2, 0))
    aware = backup(tmp_path, "test", START)
    result = run_module(backup_catalog, path=str(tmp_path), daily=1, weekly=0, monthly=0)
    assert result["kept"] == {"test": [naive]} and result["removed"] == [aware]
