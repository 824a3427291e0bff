import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.contacts import contacts

PEOPLE = {
    "webmaster": [{"name": "carla", "email": "carla@portal.example.org", "phone": "+31 20 555 0103",
                   "function": "webmaster"}],
    "operations": ["operations@hosting.example.net",
                   {"name": "anna", "email": "anna@hosting.example.net", "function": "support desk"},
                   {"name": "joost", "phone": "+31 20 555 0199", "function": "account manager", "escalation": True}],
    "developer": [{"name": "bram", "email": "bram@agency.example.com"}],
}


def test_every_person_of_the_parties_asked_for_in_order_with_every_key():
    assert contacts(PEOPLE, ["operations"]) == [
        {"party": "operations", "name": "", "email": "operations@hosting.example.net", "phone": "", "function": "",
         "escalation": False},
        {"party": "operations", "name": "anna", "email": "anna@hosting.example.net", "phone": "",
         "function": "support desk", "escalation": False},
        {"party": "operations", "name": "joost", "email": "", "phone": "+31 20 555 0199",
         "function": "account manager", "escalation": True},
    ]
    assert [p["name"] for p in contacts(PEOPLE)] == ["carla", "", "anna", "joost", "bram"]
    assert contacts(PEOPLE, ["nobody"]) == [] and contacts({}) == [] and contacts(None) == []


@pytest.mark.parametrize(("people", "says"), [
    ({"webmaster": "carla@portal.example.org"}, "otap_people.webmaster is a list"),
    (["carla"], "maps each party"),
    ({"webmaster": [{"phone": "+31"}]}, "needs a name or a mail address"),
    ({"webmaster": [{"name": "carla", "role": "approver"}]}, "unknown keys role"),
    ({"webmaster": [{"name": ["carla"]}]}, "name of a person of webmaster is text"),
    ({"webmaster": [42]}, "a mail address or a mapping"),
    ({"webmaster": ["carla"]}, "is not one mail address"),
    ({"webmaster": ["a@example.org, b@example.org"]}, "is not one mail address"),
    ({"webmaster": ["a@example.org\nBcc: all@example.org"]}, "is not one mail address"),
    ({"webmaster": [{"name": "carla"}], "operations": [{"name": "carla"}]}, "carla named more than once"),
])
def test_a_person_the_filter_cannot_read_is_refused_naming_the_party(people, says):
    with pytest.raises(AnsibleFilterError, match=says):
        contacts(people)


def test_routine_news_reaches_whom_each_party_calls_first_and_escalation_only_a_party_without_them():
    people = PEOPLE | {"developer": [{"name": "bram", "email": "bram@agency.example.com"},
                                     {"name": "petra", "email": "petra@agency.example.com", "escalation": True}],
                       "webmaster": [{"name": "carla", "email": "carla@portal.example.org", "escalation": True}]}
    assert [p["name"] for p in contacts(people, first=True)] == ["carla", "", "anna", "bram"]
    assert [p["name"] for p in contacts(people, ["developer"], first=True)] == ["bram"]
    assert [p["name"] for p in contacts(people, ["developer"])] == ["bram", "petra"]
