#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incidents, change requests and sync requests, kept in the store as numbered records."""

from __future__ import annotations

DOCUMENTATION = r"""
module: store_request
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Open, take, comment on, resolve and close the procedure's incidents and requests
description:
  - Keeps each incident as C(incidents/incident-N.yml) and each change or sync request as
    C(requests/request-N.yml) in the store, numbered like releases, with who opened it, its state
    (open, assigned, resolved, closed), its owner, the releases that answer it and its history.
  - The person acting is looked up by name in I(people) (the records of filter otap.street.contacts);
    their party decides what they may do (module_utils/requests has the table), never a variable.
  - Texts are data, kept verbatim. Repeating the last action with the same words changes nothing, so
    a retried run adds nothing.
  - I(action=answer_syncs) resolves every open sync request for I(env), for the sync that answers them.
  - I(action=answer_release) resolves, with I(release), the incidents and change requests that the
    releases I(carried) name in the register (their RELEASE.md's C(Answers:)), when they have gone
    live on Production. Only records opened before the release naming them was packaged are
    resolved; closed, resolved or missing ones and sync requests are left alone and returned as skipped.
  - I(action=check_answers) refuses, before a package is stored, I(answers) that name no open
    incident or change request.
options:
  store_dir:
    description: The store's top folder.
    type: path
    required: true
  action:
    description: What to do.
    type: str
    required: true
    choices: [open, assign, comment, resolve, close, answer_syncs, answer_release, check_answers, show]
  kind:
    description: What is opened (with I(action=open)).
    type: str
    choices: [incident, change, sync]
  number:
    description: The record (incidents and requests are numbered apart); required unless opening.
    type: int
  incident:
    description: Whether I(number) names an incident (else a change or sync request).
    type: bool
    default: false
  person:
    description: Who acts (AWX's user, or the name given); must be a name in I(people).
    type: str
    default: ""
  people:
    description: The procedure's people, as filter otap.street.contacts returns them (each with C(name) and C(party)).
    type: list
    elements: dict
    default: []
  title:
    description: The title (opening).
    type: str
    default: ""
  text:
    description: What the person says (required for a comment).
    type: str
    default: ""
  env:
    description: The environment (a sync request's, required; an incident's, optional).
    type: str
    default: ""
  owner:
    description: Whom an assignment gives it to (a person of the acting party; default the person acting).
    type: str
    default: ""
  release:
    description: The release that answers it (recorded with a resolve).
    type: int
    default: 0
  answers:
    description: What a release answers (with I(action=check_answers)), each C(incident N) or C(request N).
    type: list
    elements: str
    default: []
  carried:
    description: The releases a rollout on Production carried (with I(action=answer_release)).
    type: list
    elements: int
    default: []
  by:
    description: The run that answers (with I(action=answer_syncs) and I(action=answer_release)).
    type: str
    default: ""
  date:
    description: When, ISO 8601 UTC (required by the actions that write).
    type: str
requirements:
  - PyYAML
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: The webmaster reports an incident
  otap.street.store_request:
    store_dir: /srv/otap-store
    action: open
    kind: incident
    person: carla
    people: "{{ otap_people | otap.street.contacts }}"
    title: The appointments page shows an error
    date: "{{ now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ') }}"
"""

RETURN = r"""
record:
  description: The record after the action, or the one shown.
  type: dict
  returned: success, except with I(action=answer_syncs) and a I(show) of all
step:
  description: The step this run added to the record's history (empty when it added none, a retry).
  type: dict
  returned: with an action other than answer_syncs and show
answered:
  description: >-
    The sync requests resolved (numbers, with I(action=answer_syncs)), or the incidents and requests
    resolved (C(what), C(title), C(opened_by), with I(action=answer_release)).
  type: list
  elements: raw
  returned: success
skipped:
  description: What a release names but does not resolve, and why (with I(action=answer_release)).
  type: list
  elements: str
  returned: with I(action=answer_release)
records:
  description: Every incident and request (with I(action=show) and no I(number)).
  type: list
  elements: dict
  returned: success
"""

import fcntl
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import requests
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml, yaml
from ansible_collections.otap.street.plugins.module_utils.store_file import load_list

NAME = re.compile(r"^(incident|request)-([1-9][0-9]*)\.yml$")
ANSWER = re.compile(r"(incident|request) ([1-9][0-9]*)")


def path_of(store: str, incident: bool, number: int) -> str:
    return os.path.join(store, "incidents" if incident else "requests",
                        f"{'incident' if incident else 'request'}-{number}.yml")


def read(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def write(path: str, record: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(record, handle, sort_keys=False, allow_unicode=True)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def numbers(folder: str) -> list[int]:
    if not os.path.isdir(folder):
        return []
    return sorted(int(m.group(2)) for m in map(NAME.match, os.listdir(folder)) if m)


def same_as_last(record: dict, action: str, person: str, text: str, owner: str, release: int) -> bool:
    """The step repeats the record's last one word for word (a retried run): nothing to add."""
    last = record["history"][-1]
    if action == "assign":
        owner = owner or person
    return (last["action"], last["by"], last.get("text", ""), last.get("owner", ""), last.get("release", 0)) == \
        (action, person, text, owner if action == "assign" else "", release)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store_dir=dict(type="path", required=True),
            action=dict(type="str", required=True,
                        choices=["open", "assign", "comment", "resolve", "close", "answer_syncs", "answer_release",
                                 "check_answers", "show"]),
            kind=dict(type="str", choices=list(requests.KINDS)),
            number=dict(type="int"),
            incident=dict(type="bool", default=False),
            person=dict(type="str", default=""),
            people=dict(type="list", elements="dict", default=[]),
            title=dict(type="str", default=""),
            text=dict(type="str", default=""),
            env=dict(type="str", default=""),
            owner=dict(type="str", default=""),
            release=dict(type="int", default=0),
            answers=dict(type="list", elements="str", default=[]),
            carried=dict(type="list", elements="int", default=[]),
            by=dict(type="str", default=""),
            date=dict(type="str"),
        ),
        required_if=[("action", "open", ["kind", "date"]), ("action", "answer_syncs", ["env", "by", "date"]),
                     ("action", "answer_release", ["release", "carried", "by", "date"])]
        + [("action", action, ["date"]) for action in ("assign", "comment", "resolve", "close")],
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p = module.params
    store, action = p["store_dir"], p["action"]
    if not os.path.isdir(store):
        module.fail_json(msg=f"{store} is not the store (run playbooks/site.yml first)")
    lock = os.open(store, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time: numbers and histories never interleave
        if not module.check_mode:
            for name in ("incidents", "requests"):
                os.makedirs(os.path.join(store, name), mode=0o755, exist_ok=True)
        try:
            if action == "answer_syncs":
                return answer_syncs(module, p)
            if action == "answer_release":
                return answer_release(module, p)
            if action == "check_answers":
                return check_answers(module, p)
            if action == "show":
                return show(module, p)
            person = next((c for c in p["people"] if c.get("name") and c["name"] == p["person"]), None)
            if person is None:
                module.fail_json(msg=f"{p['person'] or 'Nobody'} is not a person of otap_people: say who acts "
                                     "(-e otap_person=NAME; in AWX, the job's user) (nothing was changed).")
            if action == "open":
                return open_record(module, p, person)
            return act(module, p, person)
        except requests.Refused as refusal:
            module.fail_json(msg=f"{refusal} (nothing was changed).")
    finally:
        os.close(lock)


def open_record(module, p, person):
    incident = p["kind"] == "incident"
    folder = os.path.join(p["store_dir"], "incidents" if incident else "requests")
    existing = numbers(folder)
    for number in existing:  # the same person opening the same thing again: the one they opened
        record = read(path_of(p["store_dir"], incident, number))
        if (record["kind"], record["opened_by"], record["title"], record["state"], record["env"],
                record["history"][0]["text"]) == (p["kind"], person["name"], p["title"], "open", p["env"], p["text"]):
            module.exit_json(changed=False, record=record, step={})
    number = (existing[-1] if existing else 0) + 1
    record = requests.opened(number, p["kind"], person["name"], person["party"], p["title"], p["text"], p["env"],
                             p["date"])
    if not module.check_mode:
        write(path_of(p["store_dir"], incident, number), record)
    module.exit_json(changed=True, record=record, step=record["history"][-1])


def act(module, p, person):
    if not p["number"]:
        module.fail_json(msg="Say which one: -e otap_request=N (nothing was changed).")
    path = path_of(p["store_dir"], p["incident"], p["number"])
    if not os.path.isfile(path):
        module.fail_json(msg=f"No {'incident' if p['incident'] else 'request'} {p['number']} in the store "
                             "(nothing was changed).")
    record = read(path)
    if same_as_last(record, p["action"], person["name"], p["text"], p["owner"], p["release"]):
        module.exit_json(changed=False, record=record, step={})
    owner = p["owner"]
    if owner and not any(c.get("name") == owner and c["party"] == person["party"] for c in p["people"]):
        module.fail_json(msg=f"{owner} is not a person of the {person['party']}'s party: a record is given to "
                             "someone of the party that takes it (nothing was changed).")
    new = requests.acted(record, p["action"], person["name"], person["party"], p["text"], p["date"], owner,
                         p["release"])
    if not module.check_mode:
        write(path, new)
    module.exit_json(changed=True, record=new, step=new["history"][-1])


def answer_syncs(module, p):
    folder = os.path.join(p["store_dir"], "requests")
    answered = []
    for number in numbers(folder):
        path = path_of(p["store_dir"], False, number)
        record = read(path)
        if record["kind"] == "sync" and record["env"] == p["env"] and record["state"] in ("open", "assigned"):
            new = requests.acted(record, "resolve", p["by"], "operations", f"Answered by {p['by']}.", p["date"])
            if not module.check_mode:
                write(path, new)
            answered.append(number)
    module.exit_json(changed=bool(answered), answered=answered)


def answerable(store: str, what: str) -> tuple[str, dict | None]:
    """The record `what` names and why it cannot be answered ("" when it can)."""
    found = ANSWER.fullmatch(what)
    if not found:
        return "not 'incident N' or 'request N'", None
    path = path_of(store, found.group(1) == "incident", int(found.group(2)))
    if not os.path.isfile(path):
        return "not in the store", None
    try:
        record = read(path)
        kind, state = record["kind"], record["state"]
    except (OSError, TypeError, KeyError, yaml.YAMLError) as error:
        return f"unreadable ({error})", None
    if kind == "sync":
        return "a sync request (a sync answers it, not a release)", record
    if state not in ("open", "assigned"):
        return f"already {state}", record
    return "", record


def check_answers(module, p):
    problems = [f"{what}: {why}" for what in p["answers"] for why in [answerable(p["store_dir"], what)[0]] if why]
    if problems:
        module.fail_json(msg="RELEASE.md's Answers: names what no release may answer: " + "; ".join(problems)
                         + " (name open incidents and change requests only; nothing was stored).", problems=problems)
    module.exit_json(changed=False)


def answer_release(module, p):
    register = load_list(os.path.join(p["store_dir"], "register", "releases.yml"), "releases")
    answered, skipped = [], []
    for entry in register:
        if int(entry.get("release", 0)) not in p["carried"]:
            continue
        for what in entry.get("answers") or []:
            why, record = answerable(p["store_dir"], what)
            if not why and str(record["opened_at"]) > str(entry.get("date", "")):
                why = f"opened after release {entry['release']} named it"
            if why:
                skipped.append(f"{what}: {why}")
                continue
            # The agency's release answers it (the agency may solve incidents and resolves changes).
            new = requests.acted(record, "resolve", p["by"], "developer",
                                 f"Release {p['release']} is live on production.", p["date"], release=p["release"])
            if not module.check_mode:
                write(path_of(p["store_dir"], record["kind"] == "incident", record["number"]), new)
            answered.append({"what": what, "title": record["title"], "opened_by": record["opened_by"]})
    module.exit_json(changed=bool(answered), answered=answered, skipped=skipped)


def show(module, p):
    if p["number"]:
        path = path_of(p["store_dir"], p["incident"], p["number"])
        if not os.path.isfile(path):
            module.fail_json(msg=f"No {'incident' if p['incident'] else 'request'} {p['number']} in the store.")
        module.exit_json(changed=False, record=read(path))
    module.exit_json(changed=False, records=[read(path_of(p["store_dir"], incident, n))
                                             for incident in (True, False)
                                             for n in numbers(os.path.join(p["store_dir"],
                                                                           "incidents" if incident else "requests"))])


if __name__ == "__main__":
    main()
