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
import re
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
DIR_MODE = 0o755
FILE_MODE = 0o644


def refusal(keys: dict, absent: list) -> str | None:
    """Why the request cannot be written as given, or None."""
    for name in list(keys) + list(absent):
        if not isinstance(name, str) or not ACCOUNT.fullmatch(name):
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


def look(path: str) -> tuple[str | None, str]:
    """What stands at `path`: its text when it is a regular root-owned file of the right mode (else
    None), and what a diff shows as it (a file of other owner or mode says so; anything else, what
    it is). A link is never followed."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, ""
    if not stat.S_ISREG(info.st_mode):
        return None, f"(not a file: mode {stat.filemode(info.st_mode)})\n"
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        text = handle.read()
    if stat.S_IMODE(info.st_mode) == FILE_MODE and info.st_uid == 0 and info.st_gid == 0:
        return text, text
    return None, f"{text}(owned {info.st_uid}:{info.st_gid} {stat.S_IMODE(info.st_mode):04o})\n"


def write(path: str, text: str) -> None:
    """Replace the file whole: written and set up beside it, then renamed over it."""
    fd, temporary = tempfile.mkstemp(prefix=".otap-keys.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)
            handle.flush()
            os.fchown(handle.fileno(), 0, 0)
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def folder(module: AnsibleModule, path: str) -> bool:
    """Make the folder root's, mode 0755; whether it changed."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not module.check_mode:
            os.makedirs(path, DIR_MODE, exist_ok=True)
            os.chown(path, 0, 0)
            os.chmod(path, DIR_MODE)
        return True
    if not stat.S_ISDIR(info.st_mode):
        module.fail_json(msg=f"{path} is not a folder (nothing was changed)")
    if stat.S_IMODE(info.st_mode) == DIR_MODE and info.st_uid == 0 and info.st_gid == 0:
        return False
    if not module.check_mode:
        os.chown(path, 0, 0)
        os.chmod(path, DIR_MODE)
    return True


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

    changed = folder(module, root)
    written, removed, diffs = [], [], []
    try:
        # Keys taken away first: a write that fails never leaves a removed person's key working.
        for name in sorted(set(absent)):
            path = os.path.join(root, name)
            if not os.path.lexists(path):
                continue
            diffs.append({"before_header": path, "after_header": path, "before": look(path)[1], "after": ""})
            if not module.check_mode:
                os.unlink(path)
            removed.append(name)
        for name in sorted(keys):
            path, wanted = os.path.join(root, name), content(keys[name])
            kept, shown = look(path)
            if kept == wanted:
                continue
            diffs.append({"before_header": path, "after_header": path, "before": shown, "after": wanted})
            if not module.check_mode:
                write(path, wanted)
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
