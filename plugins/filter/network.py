# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an address lies in one of some networks."""

from __future__ import annotations

DOCUMENTATION = r"""
name: in_networks
author: otap.street maintainers (!UNKNOWN)
version_added: 0.4.0
short_description: Whether an IP address lies in one of a list of networks
description:
  - True when the address (IPv4 or IPv6) lies in one of the networks; a network is an address with
    or without a prefix length (C(192.0.2.0/24), C(2001:db8::/32), C(192.0.2.7)).
  - An address or network that is not one fails with its value named, so a typo in an inventory is
    reported before a firewall is built from it.
options:
  _input:
    description: The address.
    type: str
    required: true
  networks:
    description: The networks.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Check that the controller keeps its SSH access
  ansible.builtin.assert:
    that: controller_address | otap.street.in_networks(firewall_admin_networks)
"""

RETURN = r"""
_value:
  description: Whether the address lies in one of the networks.
  type: bool
"""

import ipaddress

from ansible.errors import AnsibleFilterError


def in_networks(address: str, networks: list[str]) -> bool:
    """See DOCUMENTATION."""
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError as error:
        raise AnsibleFilterError(f"in_networks: {address!r} is not an IP address") from error
    found = False
    for network in networks:
        try:
            parsed = ipaddress.ip_network(str(network).strip(), strict=False)
        except ValueError as error:
            raise AnsibleFilterError(f"in_networks: {network!r} is not a network or address") from error
        found = found or (parsed.version == ip.version and ip in parsed)
    return found


class FilterModule:
    def filters(self):
        return {"in_networks": in_networks}
