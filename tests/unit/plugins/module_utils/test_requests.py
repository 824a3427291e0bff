import pytest

from ansible_collections.otap.street.plugins.module_utils.requests import Refused, acted, opened

NOW = "2026-12-04T10:00:00Z"


def incident():
    return opened(1, "incident", "carla", "webmaster", "The appointments page fails", "Since 09:40.", "production", NOW)


def test_an_incident_travels_open_assigned_resolved_closed_with_its_history():
    record = incident()
    assert (record["state"], record["opened_by"], record["owner"]) == ("open", "carla", "")
    record = acted(record, "assign", "anna", "operations", "", NOW)
    assert (record["state"], record["owner"]) == ("assigned", "anna")
    record = acted(record, "comment", "bram", "developer", "A release fixes it.", NOW)
    record = acted(record, "resolve", "bram", "developer", "", NOW, release=7)
    assert (record["state"], record["releases"]) == ("resolved", [7])
    record = acted(record, "close", "carla", "webmaster", "Works again.", NOW)
    assert record["state"] == "closed"
    assert [(h["action"], h["by"]) for h in record["history"]] == [
        ("open", "carla"), ("assign", "anna"), ("comment", "bram"), ("resolve", "bram"), ("close", "carla")]


def test_an_action_leaves_the_record_it_was_given_alone():
    record = incident()
    acted(record, "assign", "anna", "operations", "", NOW)
    assert record["state"] == "open" and len(record["history"]) == 1


@pytest.mark.parametrize(("kind", "party"), [
    ("incident", "developer"),   # the agency does not report incidents to itself
    ("change", "operations"),    # changes are the webmaster's to ask
    ("change", "developer"),
    ("sync", "webmaster"),       # the agency asks for syncs when it starts work
    ("sync", "operations"),
])
def test_only_the_procedure_s_party_opens_each_kind(kind, party):
    with pytest.raises(Refused, match=f"The {party} may not open"):
        opened(1, kind, "someone", party, "A title", "", "test", NOW)


@pytest.mark.parametrize(("action", "party", "says"), [
    ("assign", "webmaster", "The webmaster may not assign an incident (only the operations)"),
    ("assign", "developer", "may not assign"),
    ("resolve", "webmaster", "may not resolve an incident"),
    ("close", "developer", "may not close an incident"),
])
def test_only_the_procedure_s_party_takes_each_step(action, party, says):
    with pytest.raises(Refused, match=says.replace("(", r"\(").replace(")", r"\)")):
        acted(incident(), action, "someone", party, "", NOW)


def test_steps_out_of_order_are_refused():
    with pytest.raises(Refused, match="an incident that is open cannot be closed"):
        acted(incident(), "close", "carla", "webmaster", "", NOW)
    closed = acted(acted(incident(), "resolve", "anna", "operations", "", NOW), "close", "anna", "operations", "", NOW)
    for action, party in (("comment", "webmaster"), ("resolve", "operations"), ("assign", "operations")):
        with pytest.raises(Refused, match="that is closed cannot be"):
            acted(closed, action, "anna", party, "more", NOW)
    with pytest.raises(Refused, match="opened once"):
        acted(incident(), "open", "carla", "webmaster", "", NOW)


def test_a_change_is_asked_by_the_webmaster_taken_and_resolved_by_the_agency_closed_by_the_webmaster():
    record = opened(2, "change", "carla", "webmaster", "A banner for the flu campaign", "", "", NOW)
    record = acted(record, "assign", "bram", "developer", "", NOW)
    with pytest.raises(Refused, match="The operations may not resolve a change request"):
        acted(record, "resolve", "anna", "operations", "", NOW)
    record = acted(acted(record, "resolve", "bram", "developer", "", NOW, release=8), "close", "carla", "webmaster",
                   "", NOW)
    assert (record["state"], record["releases"]) == ("closed", [8])


def test_a_sync_request_names_a_lower_environment():
    for env in ("production", "", "prod1"):
        with pytest.raises(Refused, match="never Production"):
            opened(3, "sync", "bram", "developer", "Test level with Production", "", env, NOW)
    assert opened(3, "sync", "bram", "developer", "Test level", "", "test", NOW)["env"] == "test"


@pytest.mark.parametrize(("title", "text", "says"), [
    ("", "", "Say the title"),
    ("   ", "", "Say the title"),
    ("two\nlines", "", "title holds control characters"),
    ("bell\a", "", "title holds control characters"),
    ("x" * 201, "", "title is longer than 200"),
    ("ok", "x" * 20001, "text is longer than 20000"),
    ("ok", "escape \x1b[31m red", "text holds control characters"),
])
def test_texts_a_person_typed_are_checked_and_kept_as_data(title, text, says):
    with pytest.raises(Refused, match=says):
        opened(1, "incident", "carla", "webmaster", title, text, "", NOW)


def test_a_template_in_a_text_is_kept_verbatim():
    text = "{{ lookup('pipe', 'id') }} and {% raw %}"
    assert opened(1, "incident", "carla", "webmaster", text[:40], text, "", NOW)["history"][0]["text"] == text


def test_a_comment_needs_words():
    with pytest.raises(Refused, match="Say the text"):
        acted(incident(), "comment", "anna", "operations", " ", NOW)


def test_the_one_who_asked_closes_and_operations_may_close_an_incident():
    resolved = acted(incident(), "resolve", "anna", "operations", "", NOW)
    with pytest.raises(Refused, match="Only carla, who opened it, closes it"):
        acted(resolved, "close", "dirk", "webmaster", "", NOW)
    assert acted(resolved, "close", "joost", "operations", "", NOW)["state"] == "closed"
    change = acted(opened(2, "change", "carla", "webmaster", "A banner", "", "", NOW), "resolve", "bram", "developer",
                   "", NOW)
    with pytest.raises(Refused, match="Only carla, who opened it, closes it$"):
        acted(change, "close", "dirk", "webmaster", "", NOW)


def test_an_owner_goes_with_an_assignment_and_a_release_with_a_resolution():
    with pytest.raises(Refused, match="Only an assignment gives it to someone"):
        acted(incident(), "comment", "anna", "operations", "hm", NOW, owner="joost")
    with pytest.raises(Refused, match="Only a resolution names the release"):
        acted(incident(), "comment", "anna", "operations", "hm", NOW, release=99)
