# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The production pair's report (failover.yml -e otap_action=status) as the lines an operator reads."""

from __future__ import annotations

DOCUMENTATION = r"""
name: failover_summary
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: The production pair's report in lines an operator reads
description:
  - Says the record of P(otap.street.failover_report#filter) in lines - the VIP, where it is and
    what it answers, the database's primary (and what to run when the two are apart), the uploads'
    replication state, and per node its database, replication, site and last failover decision.
options:
  _input:
    description: The record P(otap.street.failover_report#filter) returns.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Report the pair
  ansible.builtin.debug:
    msg: "{{ failover_report | otap.street.failover_summary }}"
"""

RETURN = r"""
_value:
  description: The lines, first the pair, then the uploads (when read), then each node and its last decision.
  type: list
  elements: str
"""

import time

from ansible_collections.otap.street.plugins.filter.uploads_summary import uploads_summary


def _node(n: dict) -> list[str]:
    said = f"{n['node']}: {'holds the VIP, ' if n['holds_vip'] else ''}database {n['database']}"
    said += " (read_only)" if n["read_only"] else " (writable)"
    if n["replicating_from"]:
        lag = "?" if n["lag_seconds"] is None else n["lag_seconds"]
        said += f", replicating from {n['replicating_from']} io={n['io_running']} sql={n['sql_running']} lag={lag}s"
    if n["last_error"]:
        said += f", error: {n['last_error']}"
    said += f", site HTTP {n['site_status']} release {n['site_release'] or '?'}"
    lines = [said]
    decision = n.get("last_decision")
    if decision:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(decision.get("time") or 0))
        lines.append(f"{n['node']}: last failover decision ({when} UTC, on {decision.get('state')}): "
                     f"{decision.get('outcome')}")
    return lines


def failover_summary(report: dict) -> list[str]:
    """See DOCUMENTATION."""
    apart = "" if report["vip_on_primary"] else \
        " (VIP and primary apart: run failover.yml -e otap_action=switchover)"
    lines = [f"Production pair: VIP {report['vip']} on {report['vip_holder'] or 'no node'}, database primary "
             f"{report['primary'] or 'none'}{apart}; the VIP answers HTTP {report['vip_site_status']} "
             f"with release {report['vip_site_release'] or '?'}"]
    if report.get("uploads"):
        lines.append(f"Uploads: {uploads_summary(report['uploads'])}")
    for node in report["nodes"]:
        lines += _node(node)
    return lines


class FilterModule:
    def filters(self):
        return {"failover_summary": failover_summary}
