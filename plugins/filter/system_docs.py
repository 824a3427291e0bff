# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operations' system documentation: what the inventory and the hosts say, as one record."""

from __future__ import annotations

DOCUMENTATION = r"""
name: system_docs
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: The street's system documentation from the inventory and what the hosts report
description:
  - Puts together, per environment, its hosts with their addresses, the versions they run (OS,
    MariaDB, PHP, Apache, Joomla) and the firewall's rules as each host enforces them; the
    agreed place; what each party may do where (role access); the scheduled runs; and the
    contacts per party with their function and escalation.
  - Also C(nft_rules), which reads C(nft -j list table inet otap_firewall) into rules in words - what,
    protocol, ports, from where (C(everyone) when no source set limits it).
options:
  _input:
    description: >-
      Per host - C(groups) (its inventory groups), C(address), C(os), C(packages) (name to version), C(joomla),
      C(firewall) (the rules C(nft_rules) read).
    type: dict
    required: true
  people:
    description: otap_people, read with P(otap.street.contacts#filter).
    type: list
    elements: dict
    required: true
  parties:
    description: access_parties (role access) - per party C(groups), C(shell), C(ssh), C(sudo), C(fetch).
    type: dict
    required: true
  accounts:
    description: access_people (role access) - C(name), C(party), C(state).
    type: list
    elements: dict
    required: true
  schedules:
    description: The scheduled runs (AWX's awx_schedules) - C(name), C(job_template), C(extra_vars), C(rrule).
    type: list
    elements: dict
    required: true
  now:
    description: When the documentation was generated (ISO 8601, UTC).
    type: str
    required: true
  vip:
    description: Production's service address (the VIP), when there is a pair.
    type: str
    default: ""
  environments:
    description: The environments in the order of the street (the inventory's otap_environments).
    type: list
    elements: str
    default: [development, test, acceptance, production]
"""

EXAMPLES = r"""
- name: Put the documentation together
  ansible.builtin.set_fact:
    docs: >-
      {{ hosts_seen | otap.street.system_docs(otap_people | otap.street.contacts(['webmaster', 'operations', 'developer']),
         access_parties, access_people, awx_schedules, now(utc=true).isoformat(), otap_vip, otap_environments) }}
"""

RETURN = r"""
_value:
  description: >-
    C(generated), C(environments) (in street order, each with C(hosts)), C(store) (the agreed place's hosts),
    C(access) (per party), C(schedules), C(contacts).
  type: dict
"""

import re

# The street of the procedure, when the inventory names none.
ENVIRONMENTS = ["development", "test", "acceptance", "production"]
# The versions the documentation names, and the Debian packages they are read from.
SOFTWARE = {"MariaDB": r"mariadb-server", "PHP": r"php[0-9.]+-fpm", "Apache": r"apache2",
            "keepalived": r"keepalived", "restic": r"restic", "OpenSSH": r"openssh-server"}
DAYS = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday",
        "SU": "Sunday"}


def _sources(right, sets: dict) -> list[str]:
    if isinstance(right, str) and right.startswith("@"):
        return sets.get(right[1:], [])
    return [_address(right)]


def _address(element) -> str:
    if isinstance(element, dict) and "prefix" in element:
        return f"{element['prefix']['addr']}/{element['prefix']['len']}"
    if isinstance(element, dict) and "range" in element:
        return "-".join(element["range"])
    return str(element)


def nft_rules(listing: dict) -> list[dict]:
    """The accept rules of a table, in words: what (the rule's comment), protocol, ports, sources."""
    items = listing.get("nftables", [])
    sets = {i["set"]["name"]: [_address(e) for e in i["set"].get("elem", [])] for i in items if "set" in i}
    rules = []
    for item in items:
        rule = item.get("rule")
        if not rule or not rule.get("comment") or not any("accept" in e for e in rule["expr"]):
            continue
        protocol, ports, sources = "", [], None
        for expr in (e["match"] for e in rule["expr"] if "match" in e):
            left, right = expr["left"], expr["right"]
            payload = left.get("payload", {})
            if payload.get("field") == "saddr":
                sources = (sources or []) + _sources(right, sets)
            elif payload.get("field") == "dport":
                protocol = payload["protocol"]
                ports = right["set"] if isinstance(right, dict) and "set" in right else [right]
            elif payload.get("field") == "protocol" or left.get("meta", {}).get("key") == "l4proto":
                protocol = ", ".join(right["set"]) if isinstance(right, dict) else str(right)
        rules.append({"what": rule["comment"], "protocol": protocol, "ports": [str(p) for p in ports],
                      "sources": sorted(set(sources)) if sources is not None else ["everyone"]})
    merged: dict[str, dict] = {}
    for rule in rules:  # a set's IPv4 and IPv6 halves are two rules with one comment
        kept = merged.setdefault(rule["what"], rule)
        if kept is not rule:
            kept["sources"] = sorted(set(kept["sources"]) | set(rule["sources"]))
    return list(merged.values())


def _when(rrule: str) -> str:
    """An RFC 5545 rule of awx_schedules in words."""
    start = re.search(r"DTSTART:\d{8}T(\d\d)(\d\d)", rrule)
    at = f" at {start[1]}:{start[2]} UTC" if start else ""
    parts = dict(p.split("=", 1) for p in rrule.split("RRULE:", 1)[-1].split(";") if "=" in p)
    frequency, interval = parts.get("FREQ", ""), int(parts.get("INTERVAL", "1"))
    if frequency == "MINUTELY":
        return f"every {interval} minutes"
    if frequency == "HOURLY":
        return "every hour" if interval == 1 else f"every {interval} hours"
    if frequency == "WEEKLY":
        days = [DAYS.get(d, d) for d in parts.get("BYDAY", "").split(",") if d]
        return f"every {' and '.join(days) or 'week'}{at}"
    if frequency == "DAILY":
        return f"every day{at}"
    return rrule


def _sudo(rules: list[str]) -> str:
    if not rules:
        return "none"
    if any("(ALL:ALL)" in r or "(ALL)" in r for r in rules):
        return "full (root)"
    users = sorted({m for r in rules for m in re.findall(r"\((\S+?)\)", r)})
    return "as " + ", ".join(users) if users else "; ".join(rules)


def system_docs(hosts: dict, people: list[dict], parties: dict, accounts: list[dict], schedules: list[dict],
                now: str, vip: str = "", environments: list[str] | None = None) -> dict:
    """The documentation; see DOCUMENTATION."""
    def host_record(name: str) -> dict:
        seen = hosts[name]
        packages = seen.get("packages", {})
        versions = {label: next((v for p, v in sorted(packages.items()) if re.fullmatch(pattern, p)), None)
                    for label, pattern in SOFTWARE.items()}
        return {"name": name, "address": seen.get("address"), "os": seen.get("os"),
                "versions": {k: v for k, v in versions.items() if v} | ({"Joomla": seen["joomla"]} if seen.get("joomla") else {}),
                "firewall": seen.get("firewall", [])}

    street = list(environments or ENVIRONMENTS)
    environments = []
    for env in street:
        members = sorted(n for n, h in hosts.items() if env in h.get("groups", []))
        if members:
            environments.append({"env": env, "hosts": [host_record(n) for n in members],
                                 "vip": vip if env == "production" else ""})
    store = [host_record(n) for n in sorted(n for n, h in hosts.items() if "release_store" in h.get("groups", []))]
    access = []
    for party, grant in parties.items():
        where = grant.get("groups", [])
        access.append({
            "party": party,
            "accounts": sorted(a["name"] for a in accounts if a.get("party") == party and a.get("state", "present") == "present"),
            "where": [g for g in street if g in where or ("joomla" in where)] + (["store"] if "release_store" in where else []),
            "login": "SSH with a key" if grant.get("ssh", True) else "no SSH login",
            "shell": grant.get("shell", "/bin/bash") not in ("/usr/sbin/nologin", "/bin/false"),
            "sudo": _sudo(grant.get("sudo", [])),
            # Role access's `fetch`: a read-only SFTP jail in a folder, and nothing else, on those hosts.
            "reads": [f"{folder} on the {'store' if group == 'release_store' else group} (SFTP, read-only, jailed)"
                      for group, folder in (grant.get("fetch") or {}).items()],
        })
    runs = [{"name": s["name"], "job": s["job_template"], "when": _when(s["rrule"]),
             "environment": (s.get("extra_vars") or {}).get("otap_env", "every one")} for s in schedules]
    # Who is called for what: per party its first contacts, then those escalated to.
    contacts = sorted(({"party": p["party"], "name": p.get("name", ""), "function": p.get("function", ""),
                        "email": p.get("email", ""), "phone": p.get("phone", ""),
                        "called": "on escalation" if p.get("escalation") else "first"} for p in people),
                      key=lambda c: (c["party"] != "operations", c["party"], c["called"] != "first"))
    return {"generated": now, "environments": environments, "store": store, "access": access,
            "schedules": runs, "contacts": contacts}


class FilterModule:
    def filters(self):
        return {"system_docs": system_docs, "nft_rules": nft_rules}
