# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The production pair's database roles, decided from what each node's MariaDB says now."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pair_state
author: otap.street maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Decide the database role of each node of a replication pair
description:
  - Takes the registered results of module C(otap.street.pair_node_info) on every node of the
    pair (C(@@read_only), the GTID positions, the replica status, whether it holds the VIP), and
    says which node is the primary and what each other node is, from the servers' runtime state,
    never from the inventory.
  - C(primary) is the one writable node. C(standby) replicates from the primary. C(new) has
    never written a transaction and replicates from nobody (joins by replication). C(stray) is
    read-only, replicates from nobody (or from a node that is not the primary) and has data of
    its own; a primary that failed and came back, or a diverged node; it must be reseeded.
  - When no node is writable and every other node replicates from one read-only node, that node
    is still the primary (it restarted and came back read-only; nobody was promoted).
  - When no node has data yet, the pair is new and O(first_primary) becomes its primary.
  - A primary that is still read-only (new, or back from a restart) is made writable by the
    caller; the filter only names it.
  - Two writable nodes is an error, the filter refuses to pick one.
options:
  _input:
    description: Results of the loop of C(otap.street.pair_node_info), one per node (C(item) = node).
    type: list
    elements: dict
    required: true
  addresses:
    description: Each node's address, as replicas name their primary (C(Master_Host)).
    type: dict
    required: true
  first_primary:
    description: The node that becomes the primary when the pair is built.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Decide the roles of the pair
  ansible.builtin.set_fact:
    mariadb_pair: >-
      {{ __nodes.results | otap.street.pair_state(dict(pair | zip(pair | map('extract', hostvars, 'ansible_host'))),
         pair[0]) }}
"""

RETURN = r"""
_value:
  description: The pair.
  type: dict
  contains:
    primary:
      description: The primary node, or null when there is none.
      type: str
    nodes:
      description: Per node its role, read_only, GTID positions, replication threads, lag, last error, reconnect interval
        and whether it holds the address pair_node_info looked for (C(holds_address), none when none).
      type: dict
"""

from ansible.errors import AnsibleFilterError


def _node(info: dict, names_by_address: dict[str, str]) -> dict:
    replica = info["replica"]
    is_replica = bool(replica.get("Is_Replica"))
    lag = replica.get("Seconds_Behind_Master")
    return {
        "read_only": bool(info["read_only"]),
        "gtid_binlog_pos": info.get("gtid_binlog_pos") or "",
        "gtid_slave_pos": info.get("gtid_slave_pos") or "",
        "holds_address": info.get("holds_address"),
        "replicating_from": names_by_address.get(replica.get("Master_Host", ""), replica.get("Master_Host"))
        if is_replica else None,
        "io_running": replica.get("Slave_IO_Running", "") if is_replica else "",
        "sql_running": replica.get("Slave_SQL_Running", "") if is_replica else "",
        "lag_seconds": None if lag in (None, "", "NULL") else int(lag),
        "connect_retry": int(replica.get("Connect_Retry") or 0) if is_replica else None,
        "last_error": (replica.get("Last_IO_Error") or replica.get("Last_SQL_Error") or "") if is_replica else "",
    }


def pair_state(infos: list, addresses: dict, first_primary: str) -> dict:
    """Roles of the pair's nodes from their runtime state; see DOCUMENTATION."""
    names_by_address = {str(address): name for name, address in addresses.items()}
    try:
        nodes = {info["item"]: _node(info, names_by_address) for info in infos}
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"pair_state: a node's state is incomplete ({error!r})") from error
    if first_primary not in nodes:
        raise AnsibleFilterError(f"pair_state: first_primary {first_primary!r} is not a node of the pair")

    writable = sorted(name for name, node in nodes.items() if not node["read_only"])
    if len(writable) > 1:
        raise AnsibleFilterError(
            f"Both {' and '.join(writable)} accept writes: the pair has two primaries. Nothing was changed; "
            "decide which node's data to keep and rebuild the other with failover.yml -e otap_action=reseed "
            "after making it read-only.")

    if writable:
        primary = writable[0]
    else:
        sources = {node["replicating_from"] for node in nodes.values() if node["replicating_from"]}
        others_follow = [name for name in nodes
                         if all(nodes[o]["replicating_from"] == name for o in nodes if o != name)]
        fresh = all(not node["gtid_binlog_pos"] and not node["replicating_from"] for node in nodes.values())
        if fresh:
            primary = first_primary
        elif len(others_follow) == 1 and not nodes[others_follow[0]]["replicating_from"] and sources:
            primary = others_follow[0]
        else:
            primary = None

    for name, node in nodes.items():
        if name == primary:
            node["role"] = "primary"
        elif primary and node["replicating_from"] == primary:
            node["role"] = "standby"
        elif not node["gtid_binlog_pos"] and not node["replicating_from"]:
            node["role"] = "new"
        else:
            node["role"] = "stray"
    return {"primary": primary, "nodes": nodes}


class FilterModule:
    def filters(self):
        return {"pair_state": pair_state}
