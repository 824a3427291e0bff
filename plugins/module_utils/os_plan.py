# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an OS update changes on a Debian host: parsing apt's simulation and policy output, and
the plan that takes a host to exactly the approved package versions."""

from __future__ import annotations

import re

# apt-get -s prints one line per package it would install or upgrade:
#   Inst less [590-2] (590-2.1~deb12u2 Debian-Security:12/stable-security [amd64])
#   Inst newpkg (1.0 Debian:12/stable [all])
_INST = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? \((?P<new>\S+) ")


class PlanError(Exception):
    """An approved version the host cannot get, or output apt should not give."""


def pending_upgrades(simulation: str) -> dict[str, dict[str, str | None]]:
    """{package: {from, to}} from the output of `apt-get -s dist-upgrade`."""
    plan = {}
    for line in simulation.splitlines():
        match = _INST.match(line)
        if match:
            plan[match["name"]] = {"from": match["old"], "to": match["new"]}
    return plan


def installed_versions(dpkg_query: str) -> dict[str, str]:
    """{package: version} of installed packages from
    `dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Status}\\n'`."""
    versions = {}
    for line in dpkg_query.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] == "installed":
            versions[parts[0].split(":")[0]] = parts[1]
    return versions


def available_versions(policy: str) -> list[str]:
    """Versions an `apt-cache policy PACKAGE` version table offers from a repository (not only
    the copy installed from /var/lib/dpkg/status)."""
    versions, current = [], None
    for line in policy.splitlines():
        match = re.match(r"^ (?:\*\*\*| {3}) (\S+) \d+$", line)
        if match:
            current = match.group(1)
            continue
        source = line.strip()
        if current and source and re.match(r"^-?\d+ ", source) and "/var/lib/dpkg/status" not in source:
            if current not in versions:
                versions.append(current)
    return versions


def plan_to_approved(approved: dict[str, str], installed: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """{package: {from, to}} for every approved package whose installed version differs."""
    return {name: {"from": installed.get(name), "to": str(version)}
            for name, version in sorted(approved.items()) if installed.get(name) != str(version)}


def check_available(plan: dict, offered: dict[str, list[str]]) -> None:
    """Fail naming every package whose approved version no repository offers any more."""
    missing = [f"{name} {step['to']} (offered: {', '.join(offered.get(name, [])) or 'none'})"
               for name, step in sorted(plan.items()) if step["to"] not in offered.get(name, [])]
    if missing:
        raise PlanError("the approved versions are no longer available from the repositories: "
                        + "; ".join(missing) + ". Approve a newer Acceptance snapshot; nothing was changed.")


def split(plan: dict, deliberate: str) -> tuple[dict, dict]:
    """(ordinary, deliberate) parts of a plan: packages matching the `deliberate` pattern (MariaDB)
    are upgraded on their own, with the server stopped and started under the play's control."""
    pattern = re.compile(deliberate)
    ordinary = {n: s for n, s in plan.items() if not pattern.search(n)}
    return ordinary, {n: s for n, s in plan.items() if pattern.search(n)}
