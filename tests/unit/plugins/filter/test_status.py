from ansible_collections.otap.street.plugins.filter.status import street_status

NOW = "2026-11-24T12:00:00+00:00"


def host(env, release, tree="t4", **more):
    return {"env": env, "release": release, "release_database": release, "joomla": "5.2.1", "tree": tree,
            "pending": [], "http": 200} | more


HOSTS = {"dev": host("development", 4), "test": host("test", 4), "acc": host("acceptance", 4),
         "prod1": host("production", 4), "prod2": host("production", 4)}
STORE = {
    "current": {"development": 4, "test": 4, "acceptance": 4, "production": 4},
    "deployments": [{"env": "test", "release": 4, "date": "2026-11-20T10:00:00Z", "result": "done"},
                    {"env": "test", "release": 5, "date": "2026-11-21T10:00:00Z", "result": "failed"}],
    "syncs": '{"env": "test", "date": "2026-11-23T06:00:00+00:00", "release": 3}\n'
             '{"env": "test", "date": "2026-11-24T06:00:00+00:00", "release": 4}\n',
    "backups": [{"env": "production", "id": "production-20261124T020000Z-r4", "date": "2026-11-24T02:00:00+00:00"}],
    "snapshots": ["acceptance-20261118", "acceptance-20261120", "test-20261119"],
    "approvals": ["release-4", "os-acceptance-20261120"],
}
PAIR = {"vip_holder": "prod1", "primary": "prod1",
        "nodes": {"prod1": {"role": "primary"}, "prod2": {"role": "standby", "lag_seconds": 0, "last_error": ""}}}


def env(report, name):
    return next(e for e in report["environments"] if e["env"] == name)


def test_a_level_street_has_no_drift_and_says_when_things_last_happened():
    report = street_status(HOSTS, STORE, PAIR, NOW)
    assert [e["env"] for e in report["environments"]] == ["development", "test", "acceptance", "production"]
    assert report["drift"] == []
    test = env(report, "test")
    assert (test["release"], test["release_date"], test["joomla"]) == (4, "2026-11-20T10:00:00Z", ["5.2.1"])
    assert test["last_sync"] == {"date": "2026-11-24T06:00:00+00:00", "release": 4, "age_hours": 6.0}
    assert env(report, "production")["last_backup"]["age_hours"] == 10.0
    assert env(report, "acceptance")["last_snapshot"] == "acceptance-20261120"
    assert report["last_approved_snapshot"] == "acceptance-20261120"


def test_drift_is_named_in_words():
    hosts = HOSTS | {"dev": host("development", 3), "test": host("test", 4, tree="edited"),
                     "acc": host("acceptance", 4, release_database=3, http=500),
                     "prod2": host("production", 4, tree="other")}
    report = street_status(hosts, STORE, PAIR | {"vip_holder": None}, NOW)
    assert report["drift"] == [
        "development: dev serves release 3, the register says 4",
        "development: behind Production (release 3 < 4)",
        "test: code tree differs from Production's release 4",
        "acceptance: acc's database records release 3, its code is release 4",
        "acceptance: acc's site answers 500",
        "production: the code trees of prod1 and prod2 differ",
        "production: no node holds the VIP",
    ]


def test_a_stray_node_or_a_replication_error_is_drift():
    pair = PAIR | {"nodes": {"prod1": {"role": "primary"}, "prod2": {"role": "stray", "last_error": ""}}}
    assert street_status(HOSTS, STORE, pair, NOW)["drift"] == [
        "production: prod2 is stray (neither primary nor standby)"]
    pair = PAIR | {"nodes": {"prod1": {"role": "primary"}, "prod2": {"role": "standby", "last_error": "Error 1062"}}}
    assert street_status(HOSTS, STORE, pair, NOW)["drift"] == ["production: prod2's replication: Error 1062"]


def test_uploads_the_standby_lacks_too_long_or_cannot_be_compared_are_drift():
    def drift(uploads, **limits):
        return street_status(HOSTS, STORE, PAIR | {"uploads": uploads}, NOW, **limits)["drift"]

    assert drift(None) == drift({"differences": 0, "lag_seconds": None, "error": ""}) == []
    assert drift({"differences": 3, "lag_seconds": 60, "error": ""}) == []
    assert drift({"differences": 3, "lag_seconds": 61, "error": ""}) == [
        "production: the standby's uploads are 61s behind (3 differences)"]
    assert drift({"differences": 3, "lag_seconds": 61, "error": ""}, uploads_lag_max=120) == []
    assert drift({"differences": None, "lag_seconds": None, "error": "refused: prod2 follows nobody"}) == [
        "production: the standby's uploads cannot be compared with the primary's: refused: prod2 follows nobody"]


def test_pending_updates_are_listed_per_environment():
    hosts = HOSTS | {"test": host("test", 4, pending=["less 590-2", "tzdata 2026b"])}
    assert env(street_status(hosts, STORE, PAIR, NOW), "test")["pending_updates"] == ["less 590-2", "tzdata 2026b"]


def test_times_with_and_without_a_zone_are_utc():
    store = STORE | {"syncs": [{"env": "test", "date": "2026-11-24T06:00:00", "release": 4}],
                     "backups": [{"env": "test", "id": "b", "date": "2026-11-24T02:00:00Z"}]}
    report = street_status(HOSTS, store, PAIR, "2026-11-24T12:00:00")
    assert env(report, "test")["last_sync"]["age_hours"] == 6.0 and env(report, "test")["last_backup"]["age_hours"] == 10.0


def test_a_missed_or_missing_backup_is_drift_when_an_age_is_set():
    def drift(backups, hours):
        return street_status({"prod1": HOSTS["prod1"], "acc": HOSTS["acc"]}, STORE | {"backups": backups},
                             PAIR, NOW, backup_age_max=hours)["drift"]

    last_night = [{"env": env, "id": f"{env}-1", "date": "2026-11-24T02:00:00+00:00"}
                  for env in ("acceptance", "production")]
    assert drift(last_night, 0) == [] and drift(last_night, 26) == []
    two_nights = [dict(b, date="2026-11-23T02:00:00+00:00") if b["env"] == "production" else b for b in last_night]
    assert drift(two_nights, 26) == ["production: the last backup is 34 hours old (at most 26: a backup was missed)"]
    assert drift(last_night[1:], 26) == ["acceptance: no backup"]
    assert drift([], 0) == []


def test_incidents_and_requests_not_closed_are_listed_oldest_first_with_their_age():
    records = [{"kind": "change", "number": 2, "title": "A banner", "state": "assigned", "owner": "bram",
                "opened_by": "carla", "opened_at": "2026-11-24T08:00:00Z"},
               {"kind": "incident", "number": 1, "title": "Page down", "state": "closed", "owner": "anna",
                "opened_by": "carla", "opened_at": "2026-11-20T08:00:00Z"},
               {"kind": "incident", "number": 2, "title": "Slow", "state": "open", "owner": "",
                "opened_by": "anna", "opened_at": "2026-11-23T12:00:00Z"}]
    listed = street_status(HOSTS, STORE | {"requests": records}, PAIR, NOW)["open_requests"]
    assert [(r["kind"], r["number"], r["age_hours"]) for r in listed] == [("incident", 2, 24.0), ("change", 2, 4.0)]
    assert [(r["name"], r["overdue"]) for r in listed] == [("Incident 2", False), ("Change request 2", False)]
    a_day_and_more = [dict(r, opened_at="2026-11-23T11:00:00Z") for r in records]
    overdue = {r["name"]: r["overdue"] for r in street_status(HOSTS, STORE | {"requests": a_day_and_more}, PAIR, NOW)["open_requests"]}
    assert overdue == {"Incident 2": True, "Change request 2": False}, "only an incident open longer than a day is overdue"
    assert street_status(HOSTS, STORE, PAIR, NOW)["open_requests"] == []


def test_the_hospital_s_copy_shows_its_age_and_a_missed_or_missing_one_is_drift_when_an_age_is_set():
    def report(copy, hours):
        return street_status({"prod1": HOSTS["prod1"]}, STORE | {"hospital_copy": copy}, PAIR, NOW,
                             hospital_copy_age_max=hours)

    record = '{"snapshot": "43f8b769", "date": "2026-11-23T02:00:00+00:00", "checked": "2026-11-24T02:00:00+00:00"}'
    shown = report(record, 26)
    assert shown["hospital_copy"] == {"snapshot": "43f8b769", "date": "2026-11-23T02:00:00+00:00",
                                      "checked": "2026-11-24T02:00:00+00:00", "age_hours": 10.0, "late": False}
    assert shown["drift"] == [], "the copy's age counts from when it was last level with the store"
    stale = report(record.replace("2026-11-24T02", "2026-11-22T12"), 26)
    assert stale["drift"] == ["the hospital's copy was last level with the store 48 hours ago (at most 26: a copy was missed)"]
    assert stale["hospital_copy"]["late"] and not report(record.replace("2026-11-24T02", "2026-11-22T12"), 0)["hospital_copy"]["late"]
    assert report("", 26)["drift"] == ["the store has no copy at the hospital"] and report("", 26)["hospital_copy"] is None
    assert report("", 0)["drift"] == [] and report(None, 0)["hospital_copy"] is None
    for junk in ("{cut sh", '"a string"', '{"snapshot": "x"}', '{"checked": "yesterday"}', '{"checked": null}', "[1]"):
        shown = report(junk, 0)
        assert shown["hospital_copy"] is None and len(shown["drift"]) == 1, junk
        assert shown["drift"][0].startswith("the record of the hospital's copy cannot be read"), junk


def test_a_release_that_came_the_expedited_way_is_reported_urgent_with_its_reason():
    store = STORE | {"deployments": STORE["deployments"] + [
        {"env": "production", "release": 4, "date": "2026-11-24T09:00:00Z", "result": "done", "urgent": "form down"},
        {"env": "production", "release": 5, "date": "2026-11-24T10:00:00Z", "result": "failed", "urgent": "later"}]}
    report = street_status(HOSTS, store, PAIR, NOW)
    assert env(report, "production")["release_urgent"] == "form down"
    assert env(report, "test")["release_urgent"] is None


def test_the_agency_s_laptop_snapshot_shows_its_age_and_is_no_environment_s_sync():
    syncs = (STORE["syncs"] + '{"env": "laptop", "date": "2026-11-24T06:00:00+00:00", "release": 5, '
             '"file": "snapshot-20261124T060000Z-release-4.tar.gz"}\n')
    report = street_status(HOSTS, STORE | {"syncs": syncs}, PAIR, NOW)
    assert report["laptop_snapshot"] == {"date": "2026-11-24T06:00:00+00:00", "release": 5, "age_hours": 6.0,
                                         "file": "snapshot-20261124T060000Z-release-4.tar.gz"}
    assert "laptop" not in [e["env"] for e in report["environments"]]
    assert env(report, "test")["last_sync"]["release"] == 4
    assert street_status(HOSTS, STORE, PAIR, NOW)["laptop_snapshot"] is None


def test_a_backup_older_than_a_night_and_two_hours_is_late():
    def late(date):
        store = STORE | {"backups": [dict(STORE["backups"][0], date=date)]}
        return env(street_status(HOSTS, store, PAIR, NOW), "production")["last_backup"]["late"]

    assert not late("2026-11-24T02:00:00+00:00") and not late("2026-11-23T10:00:00+00:00")
    assert late("2026-11-23T09:50:00+00:00")


def test_the_pair_is_summed_up_in_one_sentence_with_its_uploads():
    pair = PAIR | {"nodes": {"prod1": {"role": "primary"},
                             "prod2": {"role": "standby", "io_running": "Yes", "sql_running": "Yes", "lag_seconds": 0}},
                   "uploads": {"differences": 2, "lag_seconds": 3, "error": ""}}
    assert street_status(HOSTS, STORE, pair, NOW)["production"]["summary"] == (
        "VIP on prod1, database primary prod1; prod1 primary; prod2 standby (replication running, lag 0 s). "
        "Uploads: 2 differences not yet on the standby, the oldest saved 3 s ago.")
    stopped = pair | {"vip_holder": "", "primary": None, "uploads": None,
                      "nodes": {"prod1": {"role": "stray"}, "prod2": {"role": "standby", "io_running": "No"}}}
    assert street_status(HOSTS, STORE, stopped, NOW)["production"]["summary"] == (
        "VIP on no node, database primary none; prod1 stray; prod2 standby (replication stopped, lag unknown).")
    assert street_status(HOSTS, STORE, {}, NOW)["production"]["summary"] == ""
    assert "summary" not in pair, "the pair given is not changed"


def test_an_uploads_comparison_that_failed_without_a_word_is_drift_too():
    pair = PAIR | {"uploads": {"differences": None, "lag_seconds": None, "error": ""}}
    assert street_status(HOSTS, STORE, pair, NOW)["drift"] == [
        "production: the standby's uploads cannot be compared with the primary's: the comparison failed without a word"]
