#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy the store to the hospital's restic repository, or bring it back from there."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hospital_copy
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Keep an encrypted, deduplicated copy of the store in the hospital's restic repository
description:
  - With I(action=copy), backs up I(paths) (less I(exclude)) to the restic I(repository) as one
    snapshot tagged I(tag). A dry run comes first; when it finds nothing new, changed or removed
    since the last snapshot, no snapshot is written and the module reports no change. A
    repository that has no config yet is refused, or initialised with I(password) when I(init)
    is true (the hospital normally initialises its repository itself, so a mistyped path fails).
  - After every copy that succeeded, writes I(record) (JSON) saying which snapshot holds the store
    and when the copy was last found level with it (C(checked)); the status report reads its age.
    Keep I(record) in a folder of its own under I(exclude) - a file written straight into a copied
    folder changes that folder, and every copy would then find something new.
  - With I(action=recover), brings I(include) back from the newest snapshot of I(tag) (or
    I(snapshot)), restored first into a staging folder beside it (same filesystem), then moved into
    place, so nothing else (no parent folder's owner, mode or times) is touched. It is refused when
    I(include) exists, unless I(set_aside) - then what is in that folder now is first moved into
    its C(.before-recover-<date>) subfolder, so nothing at the agreed place is overwritten by an older
    copy, and nothing there is lost.
  - The password reaches restic through its environment, never its command line. An C(sftp:)
    repository is reached with I(ssh_key) and the host keys of I(known_hosts) only (no agent,
    no other identity, strict host key checking).
options:
  action:
    description: C(copy) to the repository, or C(recover) from it.
    type: str
    choices: [copy, recover]
    default: copy
  repository:
    description: The restic repository, C(sftp:USER@HOST:/PATH) or a local folder.
    type: str
    required: true
  password:
    description: The repository's key (the hospital's).
    type: str
    required: true
  ssh_key:
    description: Private key for an C(sftp:) repository.
    type: path
  known_hosts:
    description: File with the repository host's keys, for an C(sftp:) repository.
    type: path
  paths:
    description: What to copy (I(action=copy)).
    type: list
    elements: path
    default: []
  exclude:
    description: Paths under I(paths) left out of the copy.
    type: list
    elements: path
    default: []
  tag:
    description: The tag of the copy's snapshots.
    type: str
    default: otap-store
  init:
    description: Initialise a repository that has no config yet.
    type: bool
    default: false
  record:
    description: JSON file written after a copy (I(action=copy)).
    type: path
  include:
    description: The folder to recover (I(action=recover)), as it was copied.
    type: path
  snapshot:
    description: The snapshot to recover (its id or short id, from C(restic snapshots) at the hospital); default the newest.
    type: str
  set_aside:
    description: Move what I(include) holds now into its C(.before-recover-<date>) subfolder, instead of refusing.
    type: bool
    default: false
requirements:
  - restic (Debian package restic)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Copy the store to the hospital
  otap.street.hospital_copy:
    repository: sftp:otapcopy@hospital.example.org:/repository
    password: "{{ hospital_copy_password }}"
    ssh_key: /etc/otap-hospital-copy/id_ed25519
    known_hosts: /etc/otap-hospital-copy/known_hosts
    paths: [/srv/otap-store]
    exclude: [/srv/otap-store/locks, /srv/otap-store/hospital-copy]
    record: /srv/otap-store/hospital-copy/last.json
  no_log: true

- name: Bring one backup back from the hospital
  otap.street.hospital_copy:
    action: recover
    repository: sftp:otapcopy@hospital.example.org:/repository
    password: "{{ hospital_copy_password }}"
    ssh_key: /etc/otap-hospital-copy/id_ed25519
    known_hosts: /etc/otap-hospital-copy/known_hosts
    include: /srv/otap-store/backups/production-20261203T020000Z-r7
  no_log: true
"""

RETURN = r"""
snapshot:
  description: The snapshot that holds the store (copy) or that was recovered (recover).
  type: str
  returned: success
summary:
  description: restic's summary of the copy (files new, changed, bytes added), or of the dry run when nothing was written.
  type: dict
  returned: action=copy
set_aside:
  description: The folder what I(include) held before the recovery was moved into (empty when nothing was there).
  type: str
  returned: action=recover
initialised:
  description: Whether the repository was initialised by this run.
  type: bool
  returned: action=copy
"""

import json
import os
import re
import shlex
import shutil
from datetime import datetime, timezone
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.store_file import replace

# sftp:USER@HOST:/PATH; neither part may start with "-", which ssh would read as an option.
SFTP = re.compile(r"^sftp:(?P<login>[A-Za-z0-9._][A-Za-z0-9._-]*@[A-Za-z0-9.:_][A-Za-z0-9.:_-]*?):(?P<path>/[^\s;]*)$")
NO_REPOSITORY = ("Is there a repository at the following location?", "unable to open config file")


def ssh_option(repository: str, ssh_key: str | None, known_hosts: str | None) -> list[str]:
    """restic's -o sftp.command for an sftp: repository: this key and these host keys only."""
    if not repository.startswith("sftp:"):
        return []
    match = SFTP.match(repository)
    if not match:
        raise ValueError(f"{repository!r} is not sftp:USER@HOST:/PATH")
    if not ssh_key or not known_hosts:
        raise ValueError("an sftp: repository needs ssh_key and known_hosts")
    command = ["ssh", "-i", ssh_key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=10",
               match["login"], "-s", "sftp"]
    return ["-o", "sftp.command=" + shlex.join(command)]


def summary_of(output: str) -> dict:
    """The summary line of `restic backup --json`."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("message_type") == "summary":
                return message
    raise ValueError("restic wrote no summary")


def anything_to_copy(summary: dict, first: bool) -> bool:
    """Whether a backup would add something: a file or folder new or changed (a removal changes its folder)."""
    return first or any(summary.get(key, 0) for key in ("files_new", "files_changed", "dirs_new", "dirs_changed"))


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class Restic:
    def __init__(self, module: AnsibleModule):
        p = module.params
        self.module = module
        try:
            self.options = ["--repo", p["repository"]] + ssh_option(p["repository"], p["ssh_key"], p["known_hosts"])
        except ValueError as error:
            module.fail_json(msg=str(error))
        self.environ = {"RESTIC_PASSWORD": p["password"], "RESTIC_CACHE_DIR": "/var/cache/restic"}
        self.binary = module.get_bin_path("restic", required=True)

    def run(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command([self.binary, *self.options, *args], environ_update=self.environ)
        if check and rc != 0:
            command = next(a for a in args if not a.startswith("--"))
            self.module.fail_json(msg=f"restic {command} failed: {err.strip() or out.strip()}", rc=rc)
        return rc, out, err

    def json(self, *args: str):
        out = self.run(*args)[1]
        try:
            return json.loads(out or "null")
        except ValueError:
            self.module.fail_json(msg=f"restic {args[1]} answered what is not JSON: {out[:200]!r}")

    def summary(self, *args: str) -> dict:
        try:
            return summary_of(self.run(*args)[1])
        except ValueError as error:
            self.module.fail_json(msg=f"restic backup: {error}")

    def exists(self) -> bool:
        # --no-lock: reading takes no lock, so check mode writes nothing to the repository.
        rc, out, err = self.run("--no-lock", "cat", "config", check=False)
        if rc == 0:
            return True
        if any(sign in err for sign in NO_REPOSITORY):
            return False
        self.module.fail_json(msg=f"The hospital's repository does not answer: {err.strip() or out.strip()}", rc=rc)

    def snapshots(self, tag: str, latest: bool = False) -> list[dict]:
        found = self.json("--no-lock", "snapshots", "--json", "--tag", tag, *(["--latest", "1"] if latest else []))
        return sorted(found or [], key=lambda s: s["time"])


def read_record(path: str) -> dict:
    """The last copy's record; an unreadable one counts as none (it is written anew)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def copy(module: AnsibleModule, restic: Restic) -> None:
    p = module.params
    if not p["paths"]:
        module.fail_json(msg="Say what to copy: paths")
    initialised = False
    if not restic.exists():
        if not p["init"]:
            module.fail_json(msg=f"{p['repository']} holds no restic repository (or the path is wrong): the hospital "
                                 "initialises its repository and names it; nothing was copied")
        if module.check_mode:
            module.exit_json(changed=True, initialised=True, snapshot=None, summary={})
        restic.run("init")
        initialised = True
    if p["record"] and not module.check_mode:
        # Made before the copy reads the store: creating it later would change the folder it is in.
        Path(p["record"]).parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    latest = (restic.snapshots(p["tag"], latest=True) or [None])[-1]
    backup = ["backup", "--json", "--tag", p["tag"]] + [arg for path in p["exclude"] for arg in ("--exclude", path)] + p["paths"]
    dry = restic.summary("--no-lock", *backup[:1], "--dry-run", *backup[1:])
    changed = anything_to_copy(dry, latest is None)
    snapshot, summary = (latest or {}).get("short_id"), dry
    if changed and not module.check_mode:
        summary = restic.summary(*backup)
        snapshot = summary.get("snapshot_id")
    if p["record"] and not module.check_mode:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        previous = read_record(p["record"])
        record = {"repository": p["repository"], "snapshot": snapshot, "paths": p["paths"],
                  "date": now if changed else previous.get("date", (latest or {}).get("time", now)),
                  # When the copy was last found level with the store: the age the report shows.
                  "checked": now}
        replace(module, p["record"], json.dumps(record, indent=2, sort_keys=True) + "\n")
    module.exit_json(changed=changed or initialised, initialised=initialised, snapshot=snapshot,
                     summary={k: summary.get(k) for k in ("files_new", "files_changed", "files_unmodified",
                                                          "dirs_changed", "data_added", "total_files_processed",
                                                          "total_bytes_processed")})


def recover(module: AnsibleModule, restic: Restic) -> None:
    p = module.params
    if not p["include"]:
        module.fail_json(msg="Say what to recover: include")
    if p["snapshot"] and not re.fullmatch(r"[0-9a-f]{8,64}", p["snapshot"]):
        module.fail_json(msg=f"{p['snapshot']!r} is not a snapshot's id")
    wanted = os.path.normpath(p["include"])
    present = os.path.lexists(wanted)
    if present and not p["set_aside"]:
        module.fail_json(msg=f"{wanted} exists: the hospital's copy never overwrites the agreed place. Nothing was recovered.")
    if present and not os.path.isdir(wanted):
        module.fail_json(msg=f"{wanted} is not a folder: nothing was recovered")
    if not restic.exists():
        module.fail_json(msg=f"{p['repository']} holds no restic repository: nothing to recover from")
    if p["snapshot"]:
        chosen = next((s for s in restic.snapshots(p["tag"]) if s["id"].startswith(p["snapshot"])), None)
    else:
        chosen = (restic.snapshots(p["tag"], latest=True) or [None])[-1]
    if chosen is None:
        module.fail_json(msg=f"The hospital's repository has no copy tagged {p['tag']}"
                             + (f" with id {p['snapshot']}" if p["snapshot"] else ""))
    when = stamp()
    aside = os.path.join(wanted, f".before-recover-{when}") if present else ""
    if module.check_mode:
        module.exit_json(changed=True, snapshot=chosen["short_id"], date=chosen["time"], set_aside=aside)
    # Staged beside (or, for a folder that stays, inside) what it replaces: the same filesystem, so the
    # moves below are renames, and restic touches no folder above it.
    staging = os.path.join(wanted if present else os.path.dirname(wanted), f".recover-{when}")
    try:
        os.makedirs(os.path.dirname(wanted), exist_ok=True)
        os.mkdir(staging, 0o700)
        restic.run("restore", chosen["id"], "--target", staging, "--include", wanted)
        restored = os.path.join(staging, wanted.lstrip("/"))
        if not os.path.isdir(restored):
            module.fail_json(msg=f"The copy {chosen['short_id']} of {chosen['time']} holds no {wanted}: nothing was recovered",
                             snapshot=chosen["short_id"])
        if present:
            os.mkdir(aside, 0o700)
            for name in os.listdir(wanted):
                if os.path.join(wanted, name) not in (staging, aside):
                    os.rename(os.path.join(wanted, name), os.path.join(aside, name))
            for name in os.listdir(restored):
                os.rename(os.path.join(restored, name), os.path.join(wanted, name))
        else:
            os.rename(restored, wanted)
    except OSError as error:
        module.fail_json(msg=f"The recovery of {wanted} stopped: {error}. "
                             + (f"What was there is in {aside}. " if aside and os.path.isdir(aside) else "")
                             + f"What came from the hospital so far is in {staging}.")
    shutil.rmtree(staging)
    module.exit_json(changed=True, snapshot=chosen["short_id"], date=chosen["time"], set_aside=aside)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "choices": ["copy", "recover"], "default": "copy"},
            "repository": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "ssh_key": {"type": "path"},
            "known_hosts": {"type": "path"},
            "paths": {"type": "list", "elements": "path", "default": []},
            "exclude": {"type": "list", "elements": "path", "default": []},
            "tag": {"type": "str", "default": "otap-store"},
            "init": {"type": "bool", "default": False},
            "record": {"type": "path"},
            "include": {"type": "path"},
            "snapshot": {"type": "str"},
            "set_aside": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    restic = Restic(module)
    (copy if module.params["action"] == "copy" else recover)(module, restic)


if __name__ == "__main__":
    main()
