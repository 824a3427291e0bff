from ansible_collections.otap.street.plugins.filter.os_snapshot import os_snapshot

MOVES = {
    "prod1": {"mariadb-server": {"from": "1:10.11.6", "to": "1:10.11.9"}, "tzdata": {"from": "2024a", "to": "2024b"}},
    "prod2": {"mariadb-server": {"from": "1:10.11.6", "to": "1:10.11.9"}},
    "prod3": {},
}


def test_the_record_names_each_package_once_and_the_hosts_that_moved():
    record = os_snapshot(MOVES, snapshot="production-20261206T010000Z", environment="production",
                         date="2026-12-06T01:00:00Z", applied_by="ops", installed_from="acceptance-20261201T090000Z")
    assert list(record) == ["snapshot", "environment", "date", "applied_by", "installed_from", "packages", "hosts"]
    assert record["packages"] == {"mariadb-server": "1:10.11.9", "tzdata": "2024b"}
    assert list(record["hosts"]) == ["prod1", "prod2"] and record["installed_from"] == "acceptance-20261201T090000Z"


def test_a_lower_environment_installs_from_no_snapshot_and_nothing_moved_is_empty():
    record = os_snapshot({"test": {}}, snapshot="test-x", environment="test", date="d", applied_by="ops",
                         installed_from="")
    assert record["installed_from"] is None and record["packages"] == {} and record["hosts"] == {}
