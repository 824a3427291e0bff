# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record an OS update leaves at the agreed place: which packages moved to which versions."""

from __future__ import annotations

DOCUMENTATION = r"""
name: os_snapshot
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: The snapshot record of an OS update, from what moved on each host
description:
  - Turns what an OS update moved on each host (C(os_update_plan.plan) per host, C(package -> {from, to}))
    into the snapshot recorded at the agreed place (C(snapshots/<id>.yml)), which Acceptance installs from
    Test's, and Production from an approved one of Acceptance's. A package that moved on several hosts
    is recorded once, at the version the last host took (the hosts of one environment take the same).
options:
  _input:
    description: Each host's moves, C(host -> package -> {from, to}); hosts that moved nothing may be left out.
    type: dict
    required: true
  snapshot:
    description: The snapshot's id (C(<env>-<date>)).
    type: str
    required: true
  environment:
    description: The environment updated.
    type: str
    required: true
  date:
    description: When (ISO 8601, UTC).
    type: str
    required: true
  applied_by:
    description: Who ran the update.
    type: str
    required: true
  installed_from:
    description: The snapshot whose versions were installed (none for Test and Development).
    type: str
"""

EXAMPLES = r"""
- name: Record what moved
  ansible.builtin.copy:
    dest: /srv/otap-store/snapshots/test-20261206T010000Z.yml
    content: "{{ moved | otap.street.os_snapshot(snapshot='test-20261206T010000Z', environment='test',
                 date='2026-12-06T01:00:00Z', applied_by='ops') | to_nice_yaml(sort_keys=false) }}"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: C(snapshot), C(environment), C(date), C(applied_by), C(installed_from), C(packages) (name -> version)
    and C(hosts) (the moves, as given, of the hosts that moved something).
  type: dict
"""


def os_snapshot(moved: dict, snapshot: str, environment: str, date: str, applied_by: str,
                installed_from: str | None = None) -> dict:
    """See DOCUMENTATION."""
    hosts = {host: moves for host, moves in (moved or {}).items() if moves}
    packages = {name: move["to"] for moves in hosts.values() for name, move in moves.items()}
    return {"snapshot": snapshot, "environment": environment, "date": date, "applied_by": applied_by,
            "installed_from": installed_from or None, "packages": packages, "hosts": hosts}


class FilterModule:
    def filters(self):
        return {"os_snapshot": os_snapshot}
