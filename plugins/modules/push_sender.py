#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sending side of a push over SSH: its key, whom it recognises, how ssh reaches them."""

from __future__ import annotations

DOCUMENTATION = r"""
module: push_sender
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Keep a host's key and ssh settings for pushing to other hosts, in one call
description:
  - Keeps what a host needs to push to others over SSH with a key of its own, the sending side
    of a forced-command login that M(otap.street.push_receiver) keeps on the receiving side.
  - Makes I(config_dir) (root, mode 0755); makes the ed25519 key I(key) (root, mode 0600) with
    C(ssh-keygen) when it does not exist, and keeps its public half beside it with I(comment)
    (root, mode 0600); a
    key of another type, or a private key that C(ssh-keygen) cannot read, is refused, never
    replaced.
  - Writes the host keys of I(known_hosts) into I(known_hosts_path), one line per name,
    replacing that name's line and keeping the lines of other names (other hosts this one pushes
    to), unless I(exclusive). Writes I(ssh_config) to I(ssh_config_path). Both root, 0644,
    replaced whole (written beside, then renamed).
  - A name or a host key holding a line break, a blank or a NUL, which would add a line of its
    own to the file, is refused before anything is written.
  - The work of C(community.crypto.openssh_keypair), C(ansible.builtin.known_hosts) and two
    C(ansible.builtin.file) and C(ansible.builtin.copy) calls, in one module call.
options:
  key:
    description: The private key's path (its public half is C(key).pub).
    type: path
    required: true
  comment:
    description: The key's comment (who sends).
    type: str
    required: true
  config_dir:
    description: The folder of the settings (made root's, mode 0755).
    type: path
    required: true
  known_hosts:
    description: Host keys by the name ssh is given for the host (an address), each C(TYPE BASE64).
    type: dict
    default: {}
  known_hosts_path:
    description: The file of the host keys; none - C(config_dir/known_hosts).
    type: path
  ssh_config_path:
    description: The file of the ssh settings; none - C(config_dir/ssh_config).
    type: path
  exclusive:
    description: Whether the file of the host keys holds only the names of I(known_hosts).
    type: bool
    default: false
  ssh_config:
    description: The text of C(ssh_config).
    type: str
    required: true
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
- name: Give each production node its sync key and ssh settings
  otap.street.push_sender:
    key: /root/.ssh/otap_sync_ed25519
    comment: otap-sync@prod1
    config_dir: /etc/otap-sync
    known_hosts:
      10.242.42.11: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI...
    ssh_config: |
      Host *
        User otap-sync
        IdentityFile /root/.ssh/otap_sync_ed25519
  delegate_to: prod1
"""

RETURN = r"""
public_key:
  description: The public key, C(TYPE BASE64) (empty in check mode when the key is still to be made).
  type: str
  returned: success
comment:
  description: The key's comment.
  type: str
  returned: success
authorized_key:
  description: The public key and its comment, the line a receiver authorizes (empty when I(public_key) is).
  type: str
  returned: success
"""

import base64
import contextlib
import fcntl
import fnmatch
import hashlib
import hmac
import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import root_files

HOST_KEY = re.compile(root_files.PUBLIC_KEY)
# A name as ssh is given it: an address or a host name in lower case (ssh compares names without
# regard to case; upper case would never match a line this module wrote).
NAME = re.compile(r"[a-z0-9.:\[\]_-]+")
BLANKS = re.compile(r"[ \t]+")
# The key pair root's alone (both halves, as community.crypto.openssh_keypair kept them before);
# the settings readable.
KEY_MODE = 0o600
PUBLIC_MODE = 0o600
FILE_MODE = 0o644
DIR_MODE = 0o755


def refusal(known_hosts: dict, comment: str) -> str | None:
    """Why the request cannot be written as given, or None."""
    for name, key in known_hosts.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            return f"{name!r} is not an address or a host name in lower case (nothing was changed)"
        if not isinstance(key, str) or not HOST_KEY.fullmatch(key):
            return f"{name}: the host key is not one line of TYPE BASE64 (nothing was changed)"
    if any(mark in comment for mark in "\r\n\x00"):
        return "the comment holds a line break or NUL (nothing was changed)"
    return None


def matches(patterns: str, name: str) -> bool:
    """Whether a known_hosts line's host field trusts its key for `name`: one of its comma-separated
    patterns (wildcards, any case) or a hashed entry matches it. A negated pattern trusts nothing."""
    if patterns.startswith("|1|"):
        try:
            salt, digest = (base64.b64decode(part, validate=True) for part in patterns[3:].split("|"))
        except ValueError:
            return False
        return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)
    # ssh's patterns know * and ? only: a [ is itself (as in [address]:port), never a set.
    return any(fnmatch.fnmatchcase(name, pattern.lower().replace("[", "[[]")) for pattern in patterns.split(",")
               if pattern and not pattern.startswith("!"))


def trusts(line: str, names) -> str | None:
    """The name among `names` that a known_hosts line trusts a key for (its own, or a certificate
    authority's), or None: a blank line, a comment and a revocation trust nothing. Fields are
    parted by spaces and tabs only, as ssh parts them."""
    words = [word for word in BLANKS.split(line) if word]
    if not words or words[0].startswith("#") or words[0] == "@revoked":
        return None
    patterns = words[1] if words[0] == "@cert-authority" and len(words) > 1 else words[0]
    return next((name for name in sorted(names) if matches(patterns, name)), None)


def known_hosts_text(current: str, wanted: dict, exclusive: bool) -> str:
    """The known_hosts file: each wanted name's line in the place of the first line that trusted
    any key for it, every other line that did dropped (so an old key is trusted no more), the lines
    of other names kept unless exclusive, and wanted names not there yet added at the end, in order
    of name. Lines end at a line feed only, as ssh reads them."""
    lines, placed = [], set()
    for line in current.split("\n"):
        name = trusts(line, wanted)
        if name is not None:
            if name not in placed:
                lines.append(f"{name} {wanted[name]}")
                placed.add(name)
        elif line.strip(" \t") and not exclusive:
            lines.append(line)
    lines += [f"{name} {key}" for name, key in sorted(wanted.items()) if name not in placed]
    return "".join(f"{line}\n" for line in lines)


def public_half(module: AnsibleModule, key: str) -> str:
    """`TYPE BASE64` of the private key at `key`, read by ssh-keygen; refused unless it is ed25519."""
    rc, out, err = module.run_command(["ssh-keygen", "-y", "-P", "", "-f", key])
    words = out.split()
    if rc != 0 or len(words) < 2:
        module.fail_json(msg=f"{key} cannot be read as a private key ({err.strip() or 'ssh-keygen failed'}); "
                             "it is left as it is: remove it to have a new one made")
    if words[0] != "ssh-ed25519":
        module.fail_json(msg=f"{key} is a {words[0]} key, not ed25519; it is left as it is: remove it to have a new one made")
    return " ".join(words[:2])


def make_key(module: AnsibleModule, key: str, comment: str) -> None:
    """A new key pair made in a folder of its own beside `key`, its private half then renamed into
    place (ssh-keygen never writes through a link, nor asks whether to overwrite)."""
    work = tempfile.mkdtemp(prefix=".otap-key.", dir=os.path.dirname(key))
    try:
        made = os.path.join(work, "key")
        rc, _out, err = module.run_command(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", made])
        if rc != 0:
            module.fail_json(msg=f"ssh-keygen could not make {key}: {err.strip()}")
        os.chown(made, 0, 0)
        os.chmod(made, KEY_MODE)
        try:  # a link, never a rename: a key another run made meanwhile stays, and is the one used
            os.link(made, key)
        except FileExistsError:
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)


def keep_key(module: AnsibleModule, key: str, comment: str, diffs: list) -> tuple[str, bool]:
    """The public key, and whether the key pair was made or its files set right."""
    changed = False
    if not os.path.isdir(os.path.dirname(key)):  # root's own ~/.ssh when it has none yet: private
        changed = True
        if not module.check_mode:
            os.makedirs(os.path.dirname(key), 0o700)
    if os.path.islink(key) or (os.path.lexists(key) and not os.path.isfile(key)):
        module.fail_json(msg=f"{key} is not a regular file; it is left as it is")
    if not os.path.exists(key):
        if module.check_mode:
            return "", True
        make_key(module, key, comment)
        changed = True
    info = os.stat(key)
    if (info.st_mode & 0o777, info.st_uid, info.st_gid) != (KEY_MODE, 0, 0):
        if module.check_mode:  # ssh-keygen would refuse to read it as it is: its public half says
            return " ".join((root_files.read(f"{key}.pub")[0] or "").split()[:2]), True
        os.chown(key, 0, 0)
        os.chmod(key, KEY_MODE)
        changed = True
    public = public_half(module, key)
    changed |= root_files.keep(f"{key}.pub", " ".join(filter(None, (public, comment))) + "\n", PUBLIC_MODE, diffs,
                               module.check_mode)
    return public, changed


@contextlib.contextmanager
def locked(folder: str):
    """Hold the folder's lock (none when it is still to be made, in check mode)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY) if os.path.isdir(folder) else None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            key=dict(type="path", required=True, no_log=False),
            comment=dict(type="str", required=True),
            config_dir=dict(type="path", required=True),
            known_hosts=dict(type="dict", default={}),
            known_hosts_path=dict(type="path"),
            ssh_config_path=dict(type="path"),
            exclusive=dict(type="bool", default=False),
            ssh_config=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    why = refusal(params["known_hosts"], params["comment"])
    if why:
        module.fail_json(msg=why)
    diffs = []
    try:
        public, changed = keep_key(module, params["key"], params["comment"], diffs)  # a key refused: nothing made
        changed |= root_files.folder(params["config_dir"], DIR_MODE, check_mode=module.check_mode)
        known = params["known_hosts_path"] or os.path.join(params["config_dir"], "known_hosts")
        settings = params["ssh_config_path"] or os.path.join(params["config_dir"], "ssh_config")
        with locked(os.path.dirname(known)):  # runs for other hosts at once each keep their lines
            text = known_hosts_text(root_files.read(known)[0] or "", params["known_hosts"], params["exclusive"])
            changed |= root_files.keep(known, text, FILE_MODE, diffs, module.check_mode)
        changed |= root_files.keep(settings, params["ssh_config"], FILE_MODE, diffs, module.check_mode)
    except OSError as error:
        module.fail_json(msg=f"{error.filename or params['config_dir']}: {error.strerror or error}")
    result = dict(changed=changed, public_key=public, comment=params["comment"],
                  authorized_key=" ".join(filter(None, (public, params["comment"]))) if public else "")
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
