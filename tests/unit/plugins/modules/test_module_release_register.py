import yaml

from ansible_collections.otap.street.plugins.modules import release_register


def entry(number, title="A release"):
    return {"release": number, "date": "2026-11-24T10:00:00Z", "title": title, "author": "agency",
            "sha256": f"{number:064x}"}


def test_releases_are_added_in_sequence_and_readable(run_module, tmp_path):
    path = str(tmp_path / "register" / "releases.yml")
    assert run_module(release_register, path=path, state="present", entry=entry(1))["changed"]
    result = run_module(release_register, path=path, state="present", entry=entry(2))
    assert result["changed"] and result["last"]["release"] == 2
    text = (tmp_path / "register" / "releases.yml").read_text()
    assert text.startswith("# Release register")
    assert [r["release"] for r in yaml.safe_load(text)["releases"]] == [1, 2]


def test_the_same_entry_again_changes_nothing(run_module, tmp_path):
    path = str(tmp_path / "releases.yml")
    run_module(release_register, path=path, state="present", entry=entry(1))
    again = run_module(release_register, path=path, state="present", entry=entry(1))
    assert not again["changed"] and not again["failed"]


def test_a_taken_number_is_refused(run_module, tmp_path):
    path = str(tmp_path / "releases.yml")
    run_module(release_register, path=path, state="present", entry=entry(1))
    result = run_module(release_register, path=path, state="present", entry=entry(1, "Other"))
    assert result["failed"] and "already registered as 'A release'" in result["msg"]


def test_a_gap_is_refused(run_module, tmp_path):
    path = str(tmp_path / "releases.yml")
    run_module(release_register, path=path, state="present", entry=entry(1))
    result = run_module(release_register, path=path, state="present", entry=entry(3))
    assert result["failed"] and "out of sequence: the next release is 2" in result["msg"]


def test_check_mode_predicts_without_writing(run_module, tmp_path):
    path = tmp_path / "releases.yml"
    result = run_module(release_register, path=str(path), state="present", entry=entry(1), _ansible_check_mode=True)
    assert result["changed"] and not path.exists()


def test_query_of_a_missing_register_is_empty(run_module, tmp_path):
    result = run_module(release_register, path=str(tmp_path / "none.yml"))
    assert result["releases"] == [] and result["last"] == {}


def test_a_release_is_withdrawn_once_and_keeps_its_number(run_module, tmp_path):
    path = str(tmp_path / "releases.yml")
    for number in (1, 2):
        run_module(release_register, path=path, state="present", entry=entry(number))
    mark = {"release": 2, "by": "ops", "date": "2026-11-24T11:00:00Z", "reason": "SQL fails"}
    result = run_module(release_register, path=path, state="withdrawn", entry=mark)
    assert result["changed"] and result["releases"][1]["withdrawn"]["reason"] == "SQL fails"
    assert not run_module(release_register, path=path, state="withdrawn", entry=mark)["changed"]
    after = run_module(release_register, path=path, state="present", entry=entry(3))
    assert after["changed"] and [r["release"] for r in after["releases"]] == [1, 2, 3]
