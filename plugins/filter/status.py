# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The street's report: where each environment stands, from what its hosts and the store say."""

from __future__ import annotations

DOCUMENTATION = r"""
name: street_status
author: otap.street maintainers (!UNKNOWN)
version_added: 0.3.0
short_description: Where every environment of the street stands, and what has drifted
description:
  - Combines what each site host says (its release, the release its database records, Joomla's
    version, a fingerprint of its code tree, pending OS updates, the site's answer) with what the
    store records (rollouts, OS update snapshots and approvals, syncs, backups) and the production
    pair's state into one report, per environment.
  - Drift is named in words - a host whose code is not the release the register records for its
    environment, a database recording another release than the code, nodes of one environment
    with different code trees, a tree that differs from Production's tree of the same release, a
    lower environment behind Production, a failing site, and with I(backup_age_max) an
    environment whose last backup is older than that or missing (a nightly backup that did not happen),
    and with I(hospital_copy_age_max) a copy at the hospital that was last level with the store longer
    ago than that, or none.
options:
  _input:
    description: Per host - C(env), C(release), C(release_database), C(joomla), C(tree), C(pending) (list), C(http).
    type: dict
    required: true
  store:
    description: >-
      C(current) (env to release), C(deployments), C(snapshots) and C(approvals) (ids), C(syncs) and C(backups)
      (lists, or the text of JSON lines files), C(requests) (the incidents and requests module store_request shows),
      C(hospital_copy) (the record module hospital_copy writes, or its JSON text; empty - none).
    type: dict
    required: true
  pair:
    description: >-
      C(vip_holder), C(primary), per node C(role), C(lag_seconds), C(last_error), and C(uploads), how far the
      standby's uploads are behind (C(differences), C(lag_seconds), C(error); the failover role's C(failover_uploads)).
    type: dict
    required: true
  now:
    description: The report's time (ISO 8601, UTC).
    type: str
    required: true
  order:
    description: The environments in the order of the street.
    type: list
    elements: str
    default: [development, test, acceptance, production]
  uploads_lag_max:
    description: The standby's uploads may be this many seconds behind before it is drift.
    type: int
    default: 60
  backup_age_max:
    description: Hours an environment's last backup may be old before it is drift (0 - not checked).
    type: int
    default: 0
  hospital_copy_age_max:
    description: Hours since the hospital's copy was last level with the store before it is drift (0 - not checked).
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Build the report
  ansible.builtin.set_fact:
    report: "{{ hosts_state | otap.street.street_status(store_state, pair_state, now(utc=true).isoformat()) }}"
"""

RETURN = r"""
_value:
  description: >-
    C(generated), C(environments) (list, in street order), C(production) (the pair, and its C(summary) in words),
    C(drift) (all messages),
    C(open_requests) (incidents and requests not closed, oldest first, each with C(age_hours), its C(name) and
    C(overdue), an incident open longer than a day), C(hospital_copy) (C(snapshot), C(date) of its last snapshot,
    C(checked) when it was last found level with the store, C(age_hours) since then, C(late) beyond
    I(hospital_copy_age_max); none when there is no copy); each environment's C(last_backup) is C(late) when older
    than 26 hours (a night missed), C(laptop_snapshot) (the agency's last laptop snapshot, recorded with the
    syncs as environment C(laptop): C(date), C(release), C(file), C(age_hours); none when there is none).
  type: dict
"""

import json
from datetime import datetime, timezone

from ansible_collections.otap.street.plugins.filter.uploads_summary import uploads_summary

# A nightly backup older than this missed a night; an incident open longer than this is overdue.
BACKUP_HOURS = 26
INCIDENT_HOURS = 24


def _utc(moment: str) -> datetime:
    """An ISO 8601 time; one without a zone (Ansible's now(utc=true)) is UTC."""
    parsed = datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _age_hours(then: str | None, now: datetime) -> float | None:
    return round((now - _utc(then)).total_seconds() / 3600, 1) if then else None


def _records(entries: list[dict] | str) -> list[dict]:
    """Records as a list, or as the text of a JSON lines file."""
    if isinstance(entries, str):
        return [json.loads(line) for line in entries.splitlines() if line.strip()]
    return list(entries)


def _last(entries: list[dict] | str, env: str, **match) -> dict | None:
    entries = _records(entries)
    chosen = [e for e in entries if e.get("env") == env and all(e.get(k) == v for k, v in match.items())]
    return chosen[-1] if chosen else None


def _hospital_copy(record, moment: datetime) -> tuple[dict | None, str]:
    """The hospital copy's record (module hospital_copy writes it) and its age; or what makes it unreadable."""
    if isinstance(record, str):
        if not record.strip():
            return None, ""
        try:
            record = json.loads(record)
        except ValueError:
            return None, "not JSON"
    if not record:
        return None, ""
    try:
        if not record["checked"]:
            raise ValueError("no time it was checked")
        return {"snapshot": record.get("snapshot"), "date": record.get("date"), "checked": record["checked"],
                "age_hours": _age_hours(record["checked"], moment)}, ""
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return None, f"{type(error).__name__}: {error}"


def _open_request(request: dict, age_hours: float) -> dict:
    """An open incident or request as the report lists it: named (C(Incident 3), C(Change request 4)),
    and C(overdue) when an incident has been open longer than INCIDENT_HOURS."""
    kind = request["kind"]
    return {"kind": kind, "number": request["number"], "title": request["title"], "state": request["state"],
            "owner": request.get("owner", ""), "opened_by": request["opened_by"], "opened_at": request["opened_at"],
            "age_hours": age_hours,
            "name": f"{'Incident' if kind == 'incident' else kind.capitalize() + ' request'} {request['number']}",
            "overdue": kind == "incident" and age_hours > INCIDENT_HOURS}


def _pair_summary(pair: dict) -> str:
    """The pair in one sentence: where the VIP and the primary are, each node's role (a standby's
    replication and lag), the uploads' replication; '' without a pair."""
    if not pair.get("nodes"):
        return ""
    nodes = []
    for name, node in pair["nodes"].items():
        said = f"{name} {node.get('role')}"
        if node.get("role") == "standby":
            running = "running" if node.get("io_running") == "Yes" and node.get("sql_running") == "Yes" else "stopped"
            lag = node.get("lag_seconds")
            said += f" (replication {running}, lag {'unknown' if lag is None else f'{lag} s'})"
        nodes.append(said)
    summary = (f"VIP on {pair.get('vip_holder') or 'no node'}, database primary {pair.get('primary') or 'none'}; "
               f"{'; '.join(nodes)}.")
    uploads = uploads_summary(pair.get("uploads"))
    return f"{summary} Uploads: {uploads}." if uploads else summary


def street_status(hosts: dict, store: dict, pair: dict, now: str,
                  order: list[str] | None = None, uploads_lag_max: int = 60, backup_age_max: int = 0,
                  hospital_copy_age_max: int = 0) -> dict:
    """The report; see DOCUMENTATION."""
    moment = _utc(now)
    order = order or ["development", "test", "acceptance", "production"]
    envs = [e for e in order if any(h["env"] == e for h in hosts.values())]
    production_hosts = [h for h in hosts.values() if h["env"] == "production"]
    production_release = max((h["release"] for h in production_hosts), default=0)
    production_trees = {h["tree"] for h in production_hosts}
    snapshots = store.get("snapshots", [])
    report = {"generated": now, "environments": [], "production": pair | {"summary": _pair_summary(pair)}, "drift": []}
    for env in envs:
        members = {name: h for name, h in sorted(hosts.items()) if h["env"] == env}
        releases = sorted({h["release"] for h in members.values()})
        release = releases[-1] if releases else 0
        recorded = store.get("current", {}).get(env)
        drift = []
        for name, h in members.items():
            if recorded is not None and h["release"] != recorded:
                drift.append(f"{name} serves release {h['release']}, the register says {recorded}")
            if h.get("release_database") and h["release_database"] != h["release"]:
                drift.append(f"{name}'s database records release {h['release_database']}, its code is release {h['release']}")
            if h.get("http") != 200:
                drift.append(f"{name}'s site answers {h.get('http')}")
        if len({h["tree"] for h in members.values()}) > 1:
            drift.append(f"the code trees of {' and '.join(members)} differ")
        if env != "production" and production_hosts:
            if release < production_release:
                drift.append(f"behind Production (release {release} < {production_release})")
            elif release == production_release and {h["tree"] for h in members.values()} - production_trees:
                drift.append(f"code tree differs from Production's release {release}")
        deployment = _last(store.get("deployments", []), env, result="done")
        sync = _last(store.get("syncs", []), env)
        backup = _last(store.get("backups", []), env)
        snapshot = ([s for s in sorted(snapshots) if s.startswith(env + "-")] or [None])[-1]
        backup_age = _age_hours(backup["date"], moment) if backup else None
        if backup_age_max and backup_age is None:
            drift.append("no backup")
        elif backup_age_max and backup_age > backup_age_max:
            drift.append(f"the last backup is {backup_age:.0f} hours old (at most {backup_age_max}: a backup was missed)")
        report["environments"].append({
            "env": env,
            "hosts": members,
            "release": release,
            "release_date": deployment.get("date") if deployment else None,
            # The expedited path: the rollout carried an urgent fix (RELEASE.md's Urgent:), and why.
            "release_urgent": deployment.get("urgent") if deployment else None,
            "joomla": sorted({h.get("joomla") for h in members.values()}),
            "pending_updates": sorted({p for h in members.values() for p in h.get("pending", [])}),
            "last_snapshot": snapshot,
            "last_sync": {"date": sync["date"], "release": sync.get("release"),
                          "age_hours": _age_hours(sync["date"], moment)} if sync else None,
            "last_backup": {"id": backup["id"], "date": backup["date"], "age_hours": backup_age,
                            "late": backup_age is None or backup_age > BACKUP_HOURS} if backup else None,
            "drift": drift,
        })
        report["drift"] += [f"{env}: {d}" for d in drift]
    approved = [a for a in store.get("approvals", []) if a.startswith("os-")]
    report["last_approved_snapshot"] = sorted(approved)[-1].removeprefix("os-") if approved else None
    for name, node in pair.get("nodes", {}).items():
        if node.get("role") not in ("primary", "standby"):
            report["drift"].append(f"production: {name} is {node.get('role')} (neither primary nor standby)")
        elif node.get("last_error"):
            report["drift"].append(f"production: {name}'s replication: {node['last_error']}")
    uploads = pair.get("uploads") or {}
    if uploads and (uploads.get("error") or uploads.get("differences") is None):
        report["drift"].append(f"production: {uploads_summary(uploads)}")
    elif (uploads.get("lag_seconds") or 0) > uploads_lag_max:
        report["drift"].append(f"production: the standby's uploads are {uploads['lag_seconds']}s behind "
                               f"({uploads['differences']} differences)")
    if production_hosts and not pair.get("vip_holder"):
        report["drift"].append("production: no node holds the VIP")
    copy, unreadable = _hospital_copy(store.get("hospital_copy"), moment)
    report["hospital_copy"] = copy and copy | {"late": bool(hospital_copy_age_max) and copy["age_hours"] > hospital_copy_age_max}
    if unreadable:
        report["drift"].append(f"the record of the hospital's copy cannot be read ({unreadable})")
    elif hospital_copy_age_max and not copy:
        report["drift"].append("the store has no copy at the hospital")
    elif hospital_copy_age_max and copy["age_hours"] > hospital_copy_age_max:
        report["drift"].append(f"the hospital's copy was last level with the store {copy['age_hours']:.0f} hours ago "
                               f"(at most {hospital_copy_age_max}: a copy was missed)")
    laptop = _last(store.get("syncs", []), "laptop")
    # The agency's laptop snapshot (playbooks/snapshot.yml), recorded with the syncs.
    report["laptop_snapshot"] = {"date": laptop["date"], "release": laptop.get("release"), "file": laptop.get("file"),
                                 "age_hours": _age_hours(laptop["date"], moment)} if laptop else None
    report["open_requests"] = sorted(
        (_open_request(r, _age_hours(r["opened_at"], moment)) for r in store.get("requests", []) if r.get("state") != "closed"),
        key=lambda r: r["opened_at"])
    return report


class FilterModule:
    def filters(self):
        return {"street_status": street_status}
