# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The procedure's people (otap_people), one record per person, for mails and approvals."""

from __future__ import annotations

DOCUMENTATION = r"""
name: contacts
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: The people of the parties named, one record each
description:
  - Reads C(otap_people), which maps each party (C(webmaster), C(operations), C(developer)) to its
    people. A person is a mail address, or a mapping with C(name) (the account they work under,
    in AWX or on the controller), C(email), C(phone), C(function) (support desk, project lead,
    account manager, site developer, webmaster) and C(escalation) (true for whom operations calls
    when the first contact does not solve it).
  - Returns one record per person of the parties asked for, in the inventory's order, each with
    every key (empty when not given) and its C(party).
  - Refuses a person with neither name nor address, an unknown key, a party that is not a list, and
    a name given twice (a name is one person of one party - it decides what they may do).
options:
  _input:
    description: C(otap_people).
    type: dict
    required: true
  parties:
    description: The parties whose people to return (all when omitted).
    type: list
    elements: str
  first:
    description:
      - Only whom each party has called first - its people without C(escalation) - for routine news. A party whose
        people are all C(escalation) people is still reached, through them.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Mail operations
  community.general.mail:
    to: "{{ otap_people | otap.street.contacts(['operations']) | map(attribute='email') | select | unique }}"
    subject: A backup failed

- name: Tell the first contacts of the webmaster's party, not those called on escalation
  community.general.mail:
    to: "{{ otap_people | otap.street.contacts(['webmaster'], first=true) | map(attribute='email') | select | unique }}"
    subject: Release 12 is live on Production

- name: Who may approve for Production
  ansible.builtin.set_fact:
    approvers: "{{ otap_people | otap.street.contacts(['webmaster']) | map(attribute='name') | select | list }}"
"""

RETURN = r"""
_value:
  description: One record per person (C(party), C(name), C(email), C(phone), C(function), C(escalation)).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

KEYS = ("name", "email", "phone", "function", "escalation")


def person(party: str, entry) -> dict:
    if isinstance(entry, str):
        entry = {"email": entry}
    if not isinstance(entry, dict):
        raise AnsibleFilterError(f"contacts: a person of {party} is a mail address or a mapping, not {entry!r}")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise AnsibleFilterError(f"contacts: a person of {party} has unknown keys {', '.join(map(str, unknown))} "
                                 f"(known: {', '.join(KEYS)})")
    record = {"party": party, **{key: entry.get(key) or "" for key in KEYS[:4]},
              "escalation": bool(entry.get("escalation", False))}
    for key in KEYS[:4]:
        if not isinstance(record[key], str):
            raise AnsibleFilterError(f"contacts: {key} of a person of {party} is text, not {record[key]!r}")
    if not (record["name"] or record["email"]):
        raise AnsibleFilterError(f"contacts: a person of {party} needs a name or a mail address")
    if record["email"] and ("@" not in record["email"] or any(c.isspace() or c in ",;<>" for c in record["email"])):
        raise AnsibleFilterError(f"contacts: {record['email']!r} ({party}) is not one mail address")
    return record


def contacts(people, parties=None, first=False) -> list[dict]:
    """One record per person of `parties` (all when None) in otap_people; see DOCUMENTATION for `first`."""
    if not people:
        return []
    if not isinstance(people, dict):
        raise AnsibleFilterError("contacts: otap_people maps each party to a list of people")
    everyone = []
    for party, entries in people.items():
        if not isinstance(entries, list):
            raise AnsibleFilterError(f"contacts: otap_people.{party} is a list of people")
        everyone += [person(party, entry) for entry in entries]
    names = [p["name"] for p in everyone if p["name"]]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise AnsibleFilterError(f"contacts: {', '.join(twice)} named more than once in otap_people (a name is one "
                                 "person of one party: it decides what they may do)")
    chosen = [p for p in everyone if parties is None or p["party"] in parties]
    if first:
        called_first = {p["party"] for p in chosen if not p["escalation"]}
        chosen = [p for p in chosen if not p["escalation"] or p["party"] not in called_first]
    return chosen


class FilterModule:
    def filters(self):
        return {"contacts": contacts}
