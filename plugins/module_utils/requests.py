# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The procedure's conversations as records: incidents, change requests and sync requests.

Pure functions over one record, so each party rule has a unit test; module store_request reads
and writes the records in the store (incidents/ and requests/, numbered like releases).

Who may do what (PROCEDURE.md):
- the webmaster reports incidents and outages; operations logs them (opens one on the webmaster's
  word), takes them and stays responsible until they are solved; the agency may solve a site
  incident (with a release);
- the webmaster asks for changes; the agency takes them and builds releases for them;
- the agency asks for a sync when it starts work; operations runs it (the sync that answers the
  request resolves it);
- the one who asked closes what was resolved (operations, which stays responsible for incidents,
  may close an incident too).
"""

from __future__ import annotations

KINDS = ("incident", "change", "sync")
ACTIONS = ("open", "assign", "comment", "resolve", "close")
PARTIES = ("webmaster", "operations", "developer")
STATES = ("open", "assigned", "resolved", "closed")
SYNC_ENVS = ("development", "test", "acceptance", "laptop")

MAY = {
    "open": {"incident": {"webmaster", "operations"}, "change": {"webmaster"}, "sync": {"developer"}},
    "assign": {"incident": {"operations"}, "change": {"developer"}, "sync": {"operations"}},
    "comment": {kind: set(PARTIES) for kind in KINDS},
    "resolve": {"incident": {"operations", "developer"}, "change": {"developer"}, "sync": {"operations"}},
    "close": {"incident": {"webmaster", "operations"}, "change": {"webmaster"}, "sync": {"developer"}},
}
# The states an action may start from.
FROM = {"assign": {"open", "assigned"}, "comment": {"open", "assigned", "resolved"},
        "resolve": {"open", "assigned"}, "close": {"resolved"}}
DONE = {"assign": "assigned", "comment": "commented on", "resolve": "resolved", "close": "closed"}
TO = {"open": "open", "assign": "assigned", "comment": None, "resolve": "resolved", "close": "closed"}
TITLE_MAX, TEXT_MAX = 200, 20000


class Refused(Exception):
    """The action is not the party's to take, or not now; the message says why and what to do."""


def folder(kind: str) -> str:
    """Incidents in incidents/, change and sync requests in requests/."""
    return "incidents" if kind == "incident" else "requests"


def _text(value, what: str, limit: int, required: bool) -> str:
    value = "" if value is None else str(value)
    if required and not value.strip():
        raise Refused(f"Say the {what}")
    if len(value) > limit:
        raise Refused(f"The {what} is longer than {limit} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value) or (what == "title" and "\n" in value):
        raise Refused(f"The {what} holds control characters")
    return value


def label(kind: str) -> str:
    return "an incident" if kind == "incident" else f"a {kind} request"


def check(action: str, kind: str, party: str, state: str | None) -> None:
    """Refuse an action the party may not take on this kind, or not in this state."""
    if action not in ACTIONS or kind not in KINDS:
        raise Refused(f"Unknown action {action!r} or kind {kind!r}: actions {', '.join(ACTIONS)}; kinds {', '.join(KINDS)}")
    allowed = MAY[action][kind]
    if party not in allowed:
        raise Refused(f"The {party} may not {action} {label(kind)} (only the {' or the '.join(sorted(allowed))})")
    if action != "open" and state not in FROM[action]:
        raise Refused(f"It is {state}: {label(kind)} that is {state} cannot be {DONE[action]} "
                      f"(only one that is {' or '.join(sorted(FROM[action]))})")


def opened(number: int, kind: str, person: str, party: str, title: str, text: str, env: str, now: str) -> dict:
    """A new record."""
    check("open", kind, party, None)
    if kind == "sync" and env not in SYNC_ENVS:
        raise Refused(f"Say which environment to sync: one of {', '.join(SYNC_ENVS)} (never Production)")
    record = {"number": number, "kind": kind, "title": _text(title, "title", TITLE_MAX, True),
              "state": "open", "opened_by": person, "party": party, "opened_at": now, "owner": "",
              "env": env if kind == "sync" else (env or ""), "releases": [],
              "history": [{"at": now, "by": person, "party": party, "action": "open",
                           "text": _text(text, "text", TEXT_MAX, False)}]}
    return record


def acted(record: dict, action: str, person: str, party: str, text: str, now: str, owner: str = "",
          release: int = 0) -> dict:
    """The record after `person` of `party` took `action` on it (a new dict; the old one is untouched)."""
    if action == "open":
        raise Refused("A record is opened once")
    check(action, record["kind"], party, record["state"])
    owns_incidents = record["kind"] == "incident" and party == "operations"
    if action == "close" and person != record["opened_by"] and not owns_incidents:
        raise Refused(f"Only {record['opened_by']}, who opened it, closes it"
                      + (" (or operations)" if record["kind"] == "incident" else ""))
    if owner and action != "assign":
        raise Refused("Only an assignment gives it to someone (-e otap_request_owner goes with assign)")
    if release and action != "resolve":
        raise Refused("Only a resolution names the release that solves it (-e otap_release goes with resolve)")
    new = dict(record, history=list(record["history"]), releases=list(record.get("releases", [])))
    words = _text(text, "text", TEXT_MAX, action == "comment")
    entry = {"at": now, "by": person, "party": party, "action": action, "text": words}
    if action == "assign":
        new["owner"] = owner or person
        entry["owner"] = new["owner"]
    if release:
        new["releases"] = sorted(set(new["releases"]) | {int(release)})
        entry["release"] = int(release)
    if TO[action]:
        new["state"] = TO[action]
    new["history"].append(entry)
    return new
