# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The production pair's report (failover.yml -e otap_action=status), from what was read of it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: failover_report
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: One record of the production pair - VIP, primary, each node's database, site and last decision
description:
  - Combines the pair's database state (fact C(mariadb_pair) of the failover role's C(state) entry
    point), which nodes hold the VIP, the front page each node and the VIP answered, each node's
    last promotion decision (the keepalived notify hook's JSON) and the uploads' replication state.
  - A site that did not answer is status -1; one that did not answer HTTP 200 with a page naming its
    release has release "". A decision file that is not JSON is reported as unreadable, never fails
    the report.
options:
  _input:
    description: C(mariadb_pair) - C(primary), and per node C(role), C(read_only), C(gtid_binlog_pos),
      C(replicating_from), C(io_running), C(sql_running), C(lag_seconds), C(last_error).
    type: dict
    required: true
  nodes:
    description: The pair's nodes (inventory names), in order.
    type: list
    elements: str
    required: true
  addresses:
    description: Each node's address (its ansible_host), by name.
    type: dict
    required: true
  vip:
    description: The VIP's address.
    type: str
    required: true
  vip_holders:
    description: The nodes that hold the VIP.
    type: list
    elements: str
    required: true
  sites:
    description: The answers of lookup C(otap.street.site_release) for each node's address and the VIP (C(address),
      C(status), C(release)).
    type: list
    elements: dict
    required: true
  decisions:
    description: The results of ansible.builtin.slurp of each node's decision file (C(item.item) the node, C(content)).
    type: list
    elements: dict
    required: true
  uploads:
    description: The uploads' replication state (C(differences), C(lag_seconds), C(error)), or none.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Put the report together
  ansible.builtin.set_fact:
    report: >-
      {{ mariadb_pair | otap.street.failover_report(nodes, addresses, vip, holders,
         query('otap.street.site_release', addresses.values() | list + [vip]), decisions.results, uploads) }}
"""

RETURN = r"""
_value:
  description: C(vip), C(vip_holder), C(primary), C(vip_on_primary), C(vip_site_status), C(vip_site_release),
    C(uploads), C(nodes) (per node C(node), C(holds_vip), C(database), C(read_only), C(gtid_binlog_pos),
    C(replicating_from), C(io_running), C(sql_running), C(lag_seconds), C(last_error), C(site_status),
    C(site_release), C(last_decision)).
  type: dict
"""

import base64
import json


def _site(answer: dict) -> dict:
    status, release = answer.get("status"), answer.get("release")
    return {"status": -1 if status is None else status, "release": "" if release is None else str(release)}


def _decision(result: dict):
    try:
        return json.loads(base64.b64decode(result["content"]))
    except (KeyError, ValueError, TypeError) as error:
        return {"time": 0, "state": "?", "outcome": f"unreadable ({error})"}


def failover_report(pair, nodes, addresses, vip, vip_holders, sites, decisions, uploads) -> dict:
    """See DOCUMENTATION."""
    answers = {answer["address"]: _site(answer) for answer in sites}
    last = {result["item"]["item"]: _decision(result) for result in decisions}
    missing = {"status": -1, "release": ""}
    records = []
    for name in nodes:
        db = pair["nodes"][name]
        site = answers.get(addresses[name], missing)
        records.append({
            "node": name, "holds_vip": name in vip_holders, "database": db["role"], "read_only": db["read_only"],
            "gtid_binlog_pos": db["gtid_binlog_pos"], "replicating_from": db.get("replicating_from") or "",
            "io_running": db["io_running"], "sql_running": db["sql_running"], "lag_seconds": db["lag_seconds"],
            "last_error": db["last_error"], "site_status": site["status"], "site_release": site["release"],
            "last_decision": last.get(name)})
    at_vip = answers.get(vip, missing)
    return {"vip": vip, "vip_holder": ",".join(vip_holders), "primary": pair["primary"],
            "vip_on_primary": list(vip_holders) == [pair["primary"]], "vip_site_status": at_vip["status"],
            "vip_site_release": at_vip["release"], "uploads": uploads, "nodes": records}


class FilterModule:
    def filters(self):
        return {"failover_report": failover_report}
