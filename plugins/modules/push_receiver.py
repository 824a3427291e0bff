#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The receiving side of a push over SSH: keys that may only run one command, from named addresses."""

from __future__ import annotations

DOCUMENTATION = r"""
module: push_receiver
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Let other hosts' keys log in as an account for one forced command only, in one call
description:
  - Keeps the receiving side of a push over SSH, whose sending side
    M(otap.street.push_sender) keeps.
  - Writes C(authorized_keys_dir/ACCOUNT) (root, mode 0644; sshd reads C(DIR/%u)) with one line
    per key of I(keys), each C(restrict,from="ADDRESSES",command="COMMAND"), so a key may only
    run I(command), only from I(from), with no forwarding, no terminal and no agent.
  - Installs I(command_text) as I(command) (root, mode 0755) and its settings I(settings) as JSON
    in I(settings_path) (root, mode 0644), when given. Makes I(folders) in order, each owned by
    root or by I(account), of its mode (none given - a new folder gets 0755, an existing one keeps
    its own). Removes the files of I(absent).
  - I(account) must exist already (M(ansible.builtin.user)).
  - A key that is not one line of C(TYPE BASE64 [COMMENT]), an address that is not an IP address or
    a narrow network (a wildcard or a wide network would let a key in from anywhere), a command that
    is not a plain absolute path, or root as the account is refused before anything is written. Files are replaced whole (written beside, then renamed);
    a link in a file's place is replaced, never followed.
  - The work of a dozen C(ansible.builtin.file) and C(ansible.builtin.copy) calls in one module call.
options:
  account:
    description: The account the keys log in as.
    type: str
    required: true
  keys:
    description: The public keys, each C(TYPE BASE64) and an optional comment.
    type: list
    elements: str
    required: true
  from:
    description: The IP addresses (or networks no wider than /24, /64 for IPv6) the keys may log in from; host
      names and wildcards are refused.
    type: list
    elements: str
    required: true
  command:
    description: The only command the keys may run (an absolute path).
    type: path
    required: true
  command_text:
    description: The text of I(command), installed as an executable; none - it is not installed here.
    type: str
  settings_path:
    description: Where I(command) reads its settings.
    type: path
  settings:
    description: Its settings, written as JSON to I(settings_path).
    type: dict
  folders:
    description: Folders to make, in order.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The folder.
        type: path
        required: true
      owner:
        description: Its owner and group.
        type: str
        choices: [root, account]
        default: root
      mode:
        description: Its mode, a quoted octal string such as C("0700"); none - 0755 when it is made, otherwise
          as it is.
        type: raw
  absent:
    description: Files removed (those of earlier versions).
    type: list
    elements: path
    default: []
  authorized_keys_dir:
    description: The folder sshd reads the accounts' keys from.
    type: path
    default: /etc/ssh/authorized_keys.d
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Let the production nodes' sync keys load the staging database and write the inbox, nothing more
  otap.street.push_receiver:
    account: otap-sync
    keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... otap-sync@prod1]
    from: [10.242.42.21, 10.242.42.22]
    command: /usr/local/sbin/otap-sync-receive
    command_text: "{{ lookup('ansible.builtin.file', 'otap_sync_receive.py') }}"
    settings_path: /etc/otap-sync/receive.json
    settings: {databases: [portal_sync], inbox: /var/lib/otap-sync/inbox}
    folders:
      - {path: /var/lib/otap-sync/inbox, owner: account, mode: "0700"}
"""

RETURN = r"""
written:
  description: The files and folders made, written or set right (in check mode, that would be).
  type: list
  elements: str
  returned: success
"""

import ipaddress
import json
import os
import pwd
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import root_files

KEY = re.compile(root_files.PUBLIC_KEY + r"( [^\r\n\x00]*)?")
# The widest network a key may come from: a from= list that takes in more is no restriction.
WIDEST = {4: 24, 6: 64}
# What an address or a network may be spelled with (a prefix length, not a mask).
SPELLING = re.compile(r"[0-9A-Fa-f:.]+(/[0-9]{1,3})?")
COMMAND = re.compile(r"/[A-Za-z0-9._/-]+")
OCTAL = re.compile(r"0[0-7]{3}")
KEYS_MODE = 0o644
COMMAND_MODE = 0o755
FILE_MODE = 0o644
DIR_MODE = 0o755


def refusal(params: dict) -> str | None:
    """Why the request cannot be written as given, or None."""
    if not root_files.ACCOUNT.fullmatch(params["account"]):
        return f"{params['account']!r} is not an account name (nothing was changed)"
    for key in params["keys"]:
        if not KEY.fullmatch(key.strip()):
            return f"{key[:60]!r}... is not one line of TYPE BASE64 [COMMENT] (nothing was changed)"
    for address in params["from"]:
        why = address_refusal(address)
        if why:
            return f"{address!r} {why} (nothing was changed)"
    if not params["from"]:
        return "no address to log in from: from= must name them (nothing was changed)"
    if not COMMAND.fullmatch(params["command"]) or "/../" in f"{params['command']}/":
        return f"{params['command']!r} is not a plain absolute path (nothing was changed)"
    if (params["settings"] is None) != (params["settings_path"] is None):
        return "settings and settings_path go together (nothing was changed)"
    for item in params["folders"]:
        if item.get("mode") is not None and not (isinstance(item["mode"], str) and OCTAL.fullmatch(item["mode"])):
            return (f"{item['path']}: mode {item['mode']!r} is not a quoted octal mode like \"0755\" (unquoted, YAML "
                    "reads 0755 as another number; nothing was changed)")
    return None


def address_refusal(address) -> str | None:
    """Why `address` may not be a from= entry (None: an IP address, or a network no wider than
    WIDEST, spelled as sshd reads it). Host names and wildcards are refused: sshd matches names only
    with UseDNS, and a wildcard or a wide network lets a key in from anywhere. Only digits, hex,
    dots, colons and one prefix length pass before Python's reading, which takes zone ids (%...)
    holding anything at all."""
    if not isinstance(address, str) or not SPELLING.fullmatch(address):
        return "is not an IP address or network (host names, wildcards and zone ids are not taken)"
    try:
        network = ipaddress.ip_network(address, strict=True)
    except ValueError:
        return "is not an IP address or network (host names, wildcards and zone ids are not taken)"
    if network.version == 6 and network.network_address.ipv4_mapped:
        return "is an IPv4 address written as IPv6, which sshd never compares equal: write it as IPv4"
    if network.prefixlen < WIDEST[network.version]:
        return f"is wider than /{WIDEST[network.version]}: a key would be let in from too many places"
    return None


def as_sshd_reads(address: str) -> str:
    """An accepted entry as it is written: the address alone, or the network with its prefix length."""
    network = ipaddress.ip_network(address, strict=True)
    single = network.prefixlen == network.max_prefixlen
    return str(network.network_address) if single else network.with_prefixlen


def authorized(keys: list, addresses: list, command: str) -> str:
    """The account's file: each key allowed the command only, from the addresses only."""
    options = f'restrict,from="{",".join(addresses)}",command="{command}"'
    return "".join(f"{options} {key.strip()}\n" for key in keys)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            account=dict(type="str", required=True),
            keys=dict(type="list", elements="str", required=True, no_log=False),
            command=dict(type="path", required=True),
            command_text=dict(type="str"),
            settings_path=dict(type="path"),
            settings=dict(type="dict"),
            folders=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                owner=dict(type="str", choices=["root", "account"], default="root"),
                mode=dict(type="raw"),
            )),
            absent=dict(type="list", elements="path", default=[]),
            authorized_keys_dir=dict(type="path", default="/etc/ssh/authorized_keys.d"),
            **{"from": dict(type="list", elements="str", required=True)},
        ),
        supports_check_mode=True,
    )
    params, check = module.params, module.check_mode
    why = refusal(params)
    if why:
        module.fail_json(msg=why)
    try:
        account = pwd.getpwnam(params["account"])
        owners = {"root": (0, 0), "account": (account.pw_uid, account.pw_gid)}
    except KeyError:
        if not check:
            module.fail_json(msg=f"there is no account {params['account']} here: create it first (nothing was changed)")
        owners = {"root": (0, 0), "account": (-1, -1)}  # check mode before the account is made: all its folders change
    if owners["account"][0] == 0:
        module.fail_json(msg=f"{params['account']} is root: a forced command is never given to root (nothing was changed)")
    written, diffs = [], []
    try:
        for item in params["folders"]:
            mode = None if item["mode"] is None else int(item["mode"], 8)
            if root_files.folder(item["path"], mode, *owners[item["owner"]], check_mode=check):
                written.append(item["path"])
        for path in params["absent"]:
            if root_files.remove(path, diffs, check):
                written.append(path)
        files = []
        if params["command_text"] is not None:
            files.append((params["command"], params["command_text"], COMMAND_MODE))
        if params["settings_path"] is not None:
            files.append((params["settings_path"], json.dumps(params["settings"], indent=4, sort_keys=True) + "\n",
                          FILE_MODE))
        if root_files.folder(params["authorized_keys_dir"], DIR_MODE, check_mode=check):
            written.append(params["authorized_keys_dir"])
        # The key file last: the command and its settings are in place before a key may run them.
        files.append((os.path.join(params["authorized_keys_dir"], params["account"]),
                      authorized(params["keys"], [as_sshd_reads(a) for a in params["from"]], params["command"]),
                      KEYS_MODE))
        for path, text, mode in files:
            if root_files.keep(path, text, mode, diffs, check):
                written.append(path)
    except OSError as error:
        module.fail_json(msg=f"{error.filename or params['authorized_keys_dir']}: {error.strerror or error} "
                             "(the paths in written are done)", written=written)
    result = dict(changed=bool(written), written=written)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
