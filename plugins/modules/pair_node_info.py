#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a node of the production pair says of itself: its database's role markers and replication,
and whether it holds an address."""

from __future__ import annotations

DOCUMENTATION = r"""
module: pair_node_info
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Read a pair node's read_only flag, GTID positions, replication and whether it holds the VIP
description:
  - Reads, in one call on a node of the failover pair, what the filter C(otap.street.pair_state)
    decides the pair's roles from - the database's C(read_only), C(gtid_binlog_pos) and
    C(gtid_slave_pos), its replication status (C(SHOW SLAVE STATUS)) - and, when I(address) is
    given, whether the node holds that address now (the VIP, read with C(ip -4 -o addr show)).
  - The work of a C(community.mysql.mysql_query), a C(community.mysql.mysql_replication) and a
    C(command) per node, in one module call.
  - Only reads; changes nothing.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
options:
  address:
    description: An IPv4 address (no prefix length) to look for among the node's own (none - not looked for).
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: It only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Read each node's database, replication and whether it holds the VIP
  otap.street.pair_node_info:
    address: 10.242.42.20
  delegate_to: "{{ item }}"
  loop: [prod1, prod2]
  register: nodes
"""

RETURN = r"""
read_only:
  description: Whether the database refuses the site's writes.
  type: bool
  returned: success
gtid_binlog_pos:
  description: The database's C(gtid_binlog_pos) (what it wrote itself, or applied and logged).
  type: str
  returned: success
gtid_slave_pos:
  description: The database's C(gtid_slave_pos).
  type: str
  returned: success
replica:
  description: The row of C(SHOW SLAVE STATUS) (empty when the node replicates from nobody), and C(Is_Replica).
  type: dict
  returned: success
holds_address:
  description: Whether the node holds I(address) (none when no address was given).
  type: bool
  returned: success
"""

import ipaddress
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import mariadb

INET = re.compile(r"\binet (\d+\.\d+\.\d+\.\d+)[/ ]")


def addresses_in(text: str) -> set[str]:
    """The IPv4 addresses in the output of `ip -4 -o addr show`."""
    return set(INET.findall(text))


def main():
    module = AnsibleModule(
        argument_spec=dict(address=dict(type="str", default=""), **mariadb.argument_spec()),
        supports_check_mode=True,
    )
    if module.params["address"]:
        try:
            ipaddress.IPv4Address(module.params["address"])
        except ValueError:
            module.fail_json(msg=f"{module.params['address']!r} is not an IPv4 address (without a prefix length): "
                                 "no node could be found to hold it")
    connection = mariadb.connect(module, dict_rows=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@global.read_only AS read_only, @@global.gtid_binlog_pos AS gtid_binlog_pos, "
                           "@@global.gtid_slave_pos AS gtid_slave_pos")
            variables = cursor.fetchone()
            cursor.execute("SHOW SLAVE STATUS")
            row = cursor.fetchone()
    except mariadb.Error as error:
        module.fail_json(msg=f"cannot read the database's state: {error}")
    finally:
        connection.close()
    replica = dict(row or {}) | {"Is_Replica": row is not None}
    holds = None
    if module.params["address"]:
        rc, out, err = module.run_command(["ip", "-4", "-o", "addr", "show"])
        if rc != 0:
            module.fail_json(msg=f"cannot read the node's addresses: {err.strip()}")
        holds = module.params["address"] in addresses_in(out)
    module.exit_json(changed=False, read_only=bool(int(variables["read_only"])),
                     gtid_binlog_pos=variables["gtid_binlog_pos"] or "", gtid_slave_pos=variables["gtid_slave_pos"] or "",
                     replica=replica, holds_address=holds)


if __name__ == "__main__":
    main()
