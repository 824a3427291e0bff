#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keys sshd reads for each account, one file per account, all of a host's in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: access_keys
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Write the folder of keys sshd reads, every account's file in one call
description:
  - Keeps the folder sshd reads the accounts' keys from (C(AuthorizedKeysFile) naming
    C(DIR/%u)), owned by root, mode 0755, and in it one file per account of I(keys), owned by
    root, mode 0644, holding that account's keys one per line. An account with no keys gets an
    empty file. The files of I(absent) are removed.
  - Files of other accounts in the folder are left alone (other roles keep their accounts' keys
    there).
  - A key is one line. A key holding a line break (which would add a second key to the file), an
    empty key, a key that is not valid text, an account name that is not a plain login name (a
    path, C(..)), or a folder where an account's file goes is refused before anything is written.
  - The files of I(absent) are removed before any file is written, so a write that fails never
    leaves a removed person's key in place; a failure says which accounts were done.
  - Each file is replaced whole (written beside it, then renamed), so sshd never reads half a
    file; a link in a file's place is replaced, never followed.
  - The work of one loop of C(ansible.builtin.copy) and one of C(ansible.builtin.file) per
    account, in one module call.
options:
  dir:
    description: The folder sshd reads the keys from.
    type: path
    required: true
  keys:
    description: Per account name, its public keys (each one line; surrounding blanks are trimmed).
    type: dict
    required: true
  absent:
    description: Accounts whose file is removed.
    type: list
    elements: str
    default: []
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
- name: Install each account's keys
  otap.street.access_keys:
    dir: /etc/ssh/authorized_keys.d
    keys:
      anna: [ssh-ed25519 AAAAC3Nza... anna@laptop]
      otap: [ssh-ed25519 AAAAC3Nza... otap@controller]
    absent: [bob]
"""

RETURN = r"""
written:
  description: The accounts whose file was (or in check mode would be) written.
  type: list
  elements: str
  returned: success
removed:
  description: The accounts whose file was (or in check mode would be) removed.
  type: list
  elements: str
  returned: success
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import root_files

DIR_MODE = 0o755
FILE_MODE = 0o644


def refusal(keys: dict, absent: list) -> str | None:
    """Why the request cannot be written as given, or None."""
    for name in list(keys) + list(absent):
        if not isinstance(name, str) or not root_files.ACCOUNT.fullmatch(name):
            return f"{name!r} is not an account name (lower-case letters, digits, - and _; nothing was changed)"
    both = sorted(set(keys) & set(absent))
    if both:
        return f"{', '.join(both)}: both given keys and to be removed (nothing was changed)"
    for name, lines in keys.items():
        if lines is None:
            continue
        if not isinstance(lines, list):
            return f"{name}: keys must be a list of strings (nothing was changed)"
        for key in lines:
            if not isinstance(key, str) or not key.strip():
                return f"{name}: an empty key, or one that is not a string (nothing was changed)"
            if any(mark in key.strip() for mark in "\r\n\x00"):
                return f"{name}: a key holding a line break or NUL, which would be read as more than one key (nothing was changed)"
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                return f"{name}: a key that is not valid text (nothing was changed)"
    return None


def in_the_way(root: str, names: list) -> list:
    """The accounts whose place in the folder holds a folder, which is neither replaced nor removed."""
    places = [(name, os.path.join(root, name)) for name in names]
    return [name for name, path in places if os.path.isdir(path) and not os.path.islink(path)]


def content(lines: list | None) -> str:
    """The file of an account: its keys, trimmed, one per line (empty when it has none)."""
    return "".join(key.strip() + "\n" for key in lines or [])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type="path", required=True),
            keys=dict(type="dict", required=True, no_log=False),
            absent=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    keys, absent, root = module.params["keys"], module.params["absent"], module.params["dir"]
    why = refusal(keys, absent)
    if why:
        module.fail_json(msg=why)

    blocked = in_the_way(root, list(keys) + list(absent))
    if blocked:
        module.fail_json(msg=f"{', '.join(sorted(blocked))}: a folder stands where the key file goes (nothing was changed)")

    try:
        changed = root_files.folder(root, DIR_MODE, check_mode=module.check_mode)
    except root_files.NotAFolder as error:
        module.fail_json(msg=f"{error} (nothing was changed)")
    written, removed, diffs = [], [], []
    try:
        # Keys taken away first: a write that fails never leaves a removed person's key working.
        for name in sorted(set(absent)):
            if root_files.remove(os.path.join(root, name), diffs, module.check_mode):
                removed.append(name)
        for name in sorted(keys):
            if root_files.keep(os.path.join(root, name), content(keys[name]), FILE_MODE, diffs, module.check_mode):
                written.append(name)
    except OSError as error:
        module.fail_json(msg=f"{error.filename or root}: {error.strerror or error} (the accounts in written and removed are done)",
                         written=written, removed=removed)

    result = dict(changed=changed or bool(written or removed), written=written, removed=removed)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
