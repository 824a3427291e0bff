import pytest
import yaml

from ansible_collections.otap.street.plugins.modules import store_request

DATE = "2026-12-04T10:00:00Z"
PEOPLE = [{"party": "webmaster", "name": "carla"}, {"party": "operations", "name": "anna"},
          {"party": "operations", "name": "joost"}, {"party": "developer", "name": "bram"},
          {"party": "operations", "name": ""}]


@pytest.fixture
def store(tmp_path):
    (tmp_path / "store").mkdir()
    return tmp_path / "store"


def run(run_module, store, **args):
    return run_module(store_request, store_dir=str(store), people=PEOPLE, date=DATE, **args)


def test_records_are_numbered_per_folder_and_kept_as_yaml(run_module, store):
    first = run(run_module, store, action="open", kind="incident", person="carla", title="Page down")
    change = run(run_module, store, action="open", kind="change", person="carla", title="A banner")
    second = run(run_module, store, action="open", kind="incident", person="anna", title="Disk full")
    assert (first["record"]["number"], change["record"]["number"], second["record"]["number"]) == (1, 1, 2)
    kept = yaml.safe_load((store / "incidents" / "incident-2.yml").read_text())
    assert kept == second["record"] and kept["opened_by"] == "anna" and kept["party"] == "operations"
    assert (store / "requests" / "request-1.yml").is_file()


def test_the_party_comes_from_the_people_never_from_the_caller(run_module, store):
    result = run(run_module, store, action="open", kind="change", person="bram", title="My own change")
    assert result["failed"] and "The developer may not open a change request" in result["msg"]
    for who in ("mallory", "", "Carla"):
        result = run(run_module, store, action="open", kind="incident", person=who, title="x")
        assert result["failed"] and "is not a person of otap_people" in result["msg"]
    assert not (store / "incidents" / "incident-1.yml").exists()


def test_a_retried_action_changes_nothing(run_module, store):
    args = dict(action="open", kind="incident", person="carla", title="Page down")
    assert run(run_module, store, **args)["changed"]
    again = run(run_module, store, **args)
    assert not again["changed"] and again["record"]["number"] == 1 and again["step"] == {}
    take = dict(action="assign", number=1, incident=True, person="anna")
    assert run(run_module, store, **take)["changed"] and not run(run_module, store, **take)["changed"]
    # Giving it to someone else is a new step, not a retry; so is the same title with other words.
    handed = run(run_module, store, **take, owner="joost")
    assert handed["changed"] and handed["record"]["owner"] == "joost"
    other = run(run_module, store, **args, text="It is down again.")
    assert other["changed"] and other["record"]["number"] == 2


def test_an_assignment_stays_within_the_taking_party(run_module, store):
    run(run_module, store, action="open", kind="incident", person="carla", title="Page down")
    result = run(run_module, store, action="assign", number=1, incident=True, person="anna", owner="bram")
    assert result["failed"] and "bram is not a person of the operations's party" in result["msg"]
    result = run(run_module, store, action="assign", number=1, incident=True, person="anna", owner="joost")
    assert result["record"]["owner"] == "joost"


def test_a_missing_record_and_a_wrong_step_are_refused(run_module, store):
    result = run(run_module, store, action="close", number=4, incident=True, person="carla")
    assert result["failed"] and "No incident 4 in the store" in result["msg"]
    run(run_module, store, action="open", kind="incident", person="carla", title="Page down")
    result = run(run_module, store, action="close", number=1, incident=True, person="carla")
    assert result["failed"] and "cannot be closed" in result["msg"]


def test_a_sync_resolves_the_sync_requests_for_its_environment_only(run_module, store):
    run(run_module, store, action="open", kind="sync", person="bram", title="Test level", env="test")
    run(run_module, store, action="open", kind="sync", person="bram", title="Acceptance level", env="acceptance")
    result = run(run_module, store, action="answer_syncs", env="test", by="sync.yml run 20261204T1000Z-1")
    assert result["answered"] == [1] and result["changed"]
    kept = yaml.safe_load((store / "requests" / "request-1.yml").read_text())
    assert kept["state"] == "resolved" and kept["history"][-1]["by"] == "sync.yml run 20261204T1000Z-1"
    assert yaml.safe_load((store / "requests" / "request-2.yml").read_text())["state"] == "open"
    assert not run(run_module, store, action="answer_syncs", env="test", by="again")["changed"]


def test_check_mode_writes_nothing(run_module, store):
    result = run(run_module, store, action="open", kind="incident", person="carla", title="Page down",
                 _ansible_check_mode=True)
    assert result["changed"] and not (store / "incidents").exists()



def register(store, *entries):
    (store / "register").mkdir(exist_ok=True)
    (store / "register" / "releases.yml").write_text(yaml.safe_dump({"releases": list(entries)}))


def test_a_release_live_on_production_resolves_what_it_answers_and_nothing_else(run_module, store):
    run(run_module, store, action="open", kind="incident", person="carla", title="Page down")
    run(run_module, store, action="open", kind="incident", person="anna", title="Disk full")
    run(run_module, store, action="resolve", number=2, incident=True, person="anna")
    run(run_module, store, action="open", kind="change", person="carla", title="A banner")
    run(run_module, store, action="open", kind="sync", person="bram", title="Test level", env="test")
    later = run_module(store_request, store_dir=str(store), people=PEOPLE, date="2026-12-05T09:00:00Z",
                       action="open", kind="incident", person="carla", title="Opened after the release named it")
    assert later["record"]["number"] == 3
    register(store, {"release": 6, "date": "2026-12-04T11:00:00Z", "answers": ["incident 9"]},
             {"release": 7, "date": "2026-12-04T11:00:00Z",
              "answers": ["incident 1", "incident 2", "request 1", "request 2", "incident 3", "incident x"]},
             {"release": 8, "date": "2026-12-04T11:00:00Z", "answers": ["request 1"]})
    result = run(run_module, store, action="answer_release", release=7, carried=[7], by="release.yml run 1")
    assert not result["failed"], result
    assert result["answered"] == [{"what": "incident 1", "title": "Page down", "opened_by": "carla"},
                                  {"what": "request 1", "title": "A banner", "opened_by": "carla"}]
    assert result["skipped"] == ["incident 2: already resolved",
                                 "request 2: a sync request (a sync answers it, not a release)",
                                 "incident 3: opened after release 7 named it",
                                 "incident x: not 'incident N' or 'request N'"]
    kept = yaml.safe_load((store / "incidents" / "incident-1.yml").read_text())
    assert (kept["state"], kept["releases"], kept["history"][-1]["by"]) == ("resolved", [7], "release.yml run 1")
    again = run(run_module, store, action="answer_release", release=7, carried=[6, 7], by="release.yml run 2")
    assert not again["changed"] and again["skipped"][:2] == ["incident 9: not in the store",
                                                            "incident 1: already resolved"]


def test_a_package_may_name_only_open_incidents_and_change_requests(run_module, store):
    run(run_module, store, action="open", kind="incident", person="carla", title="Page down")
    run(run_module, store, action="open", kind="sync", person="bram", title="Test level", env="test")
    assert not run(run_module, store, action="check_answers", answers=["incident 1"])["failed"]
    result = run(run_module, store, action="check_answers", answers=["incident 1", "incident 4", "request 1"])
    assert result["failed"] and result["problems"] == [
        "incident 4: not in the store", "request 1: a sync request (a sync answers it, not a release)"]
    (store / "incidents" / "incident-1.yml").write_text("")
    assert "incident 1: unreadable" in run(run_module, store, action="check_answers", answers=["incident 1"])["msg"]


def test_a_step_that_writes_needs_its_date_and_a_reading_does_not(run_module, store):
    result = run_module(store_request, store_dir=str(store), people=PEOPLE, action="open", kind="incident",
                        person="carla", title="Page down")
    assert result["failed"] and "date" in result["msg"]
    assert not run_module(store_request, store_dir=str(store), action="show")["failed"]
