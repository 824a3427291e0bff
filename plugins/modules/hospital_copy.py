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
    repository that has no config yet is initialised with I(password) when I(init) is true.
  - After every copy that succeeded, writes I(record) (JSON) saying which snapshot holds the store
    and when the copy was last found level with it (C(checked)); the status report reads its age.
  - With I(action=recover), restores the newest snapshot of I(tag) (or I(snapshot)) into I(target), only the paths
    under I(include), and only when none of them exists. With I(set_aside), each path of
    I(include) that exists is first renamed to C(<path>.before-recover-<date>), so nothing at the
    agreed place is overwritten by an older copy, and nothing there is lost.
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
    default: true
  record:
    description: JSON file written after a copy (I(action=copy)).
    type: path
  include:
    description: What to recover (I(action=recover)).
    type: list
    elements: path
    default: []
  snapshot:
    description: The snapshot to recover (its id or short id, from C(restic snapshots) at the hospital); default the newest.
    type: str
  set_aside:
    description: Rename what exists of I(include) before recovering, instead of refusing.
    type: bool
    default: false
  target:
    description: Where to recover to (C(/) puts everything back where it was copied from).
    type: path
    default: /
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
    exclude: [/srv/otap-store/locks, /srv/otap-store/hospital-copy.json]
    record: /srv/otap-store/hospital-copy.json
  no_log: true

- name: Bring one backup back from the hospital
  otap.street.hospital_copy:
    action: recover
    repository: sftp:otapcopy@hospital.example.org:/repository
    password: "{{ hospital_copy_password }}"
    ssh_key: /etc/otap-hospital-copy/id_ed25519
    known_hosts: /etc/otap-hospital-copy/known_hosts
    include: [/srv/otap-store/backups/production-20261203T020000Z-r7]
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
  description: What existed of I(include) and was renamed before the recovery, old path to new.
  type: dict
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
from datetime import datetime, timezone
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

SFTP = re.compile(r"^sftp:(?P<login>[A-Za-z0-9._-]+@[A-Za-z0-9.:_-]+?):(?P<path>/.*)$")
NO_REPOSITORY = ("Is there a repository at the following location?", "unable to open config file")


def ssh_option(repository: str, ssh_key: str | None, known_hosts: str | None) -> list[str]:
    """restic's -o sftp.command for an sftp: repository: this key and these host keys only."""
    match = SFTP.match(repository)
    if not match:
        if repository.startswith("sftp:"):
            raise ValueError(f"{repository!r} is not sftp:USER@HOST:/PATH")
        return []
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
            message = json.loads(line)
            if message.get("message_type") == "summary":
                return message
    raise ValueError("restic wrote no summary")


def anything_to_copy(summary: dict, first: bool) -> bool:
    """Whether a backup would add something: a file or folder new or changed (a removal changes its folder)."""
    return first or any(summary.get(key, 0) for key in ("files_new", "files_changed", "dirs_new", "dirs_changed"))


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
            self.module.fail_json(msg=f"restic {args[0]} failed: {err.strip() or out.strip()}", rc=rc)
        return rc, out, err

    def exists(self) -> bool:
        rc, out, err = self.run("cat", "config", check=False)
        if rc == 0:
            return True
        if any(sign in err for sign in NO_REPOSITORY):
            return False
        self.module.fail_json(msg=f"The hospital's repository does not answer: {err.strip() or out.strip()}", rc=rc)

    def latest(self, tag: str) -> dict | None:
        snapshots = json.loads(self.run("snapshots", "--json", "--latest", "1", "--tag", tag)[1] or "[]")
        return max(snapshots, key=lambda s: s["time"]) if snapshots else None


def copy(module: AnsibleModule, restic: Restic) -> None:
    p = module.params
    if not p["paths"]:
        module.fail_json(msg="Say what to copy: paths")
    initialised = False
    if not restic.exists():
        if not p["init"]:
            module.fail_json(msg=f"{p['repository']} holds no restic repository, and init is false")
        if module.check_mode:
            module.exit_json(changed=True, initialised=True, snapshot=None, summary={})
        restic.run("init")
        initialised = True
    latest = restic.latest(p["tag"])
    backup = ["backup", "--json", "--tag", p["tag"]] + [arg for path in p["exclude"] for arg in ("--exclude", path)] + p["paths"]
    dry = summary_of(restic.run(*backup[:1], "--dry-run", *backup[1:])[1])
    changed = anything_to_copy(dry, latest is None)
    snapshot, summary = (latest or {}).get("short_id"), dry
    if changed and not module.check_mode:
        summary = summary_of(restic.run(*backup)[1])
        snapshot = summary["snapshot_id"]
    if p["record"] and not module.check_mode:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        previous = {}
        if Path(p["record"]).is_file():
            previous = json.loads(Path(p["record"]).read_text(encoding="utf-8") or "{}")
        record = {"repository": p["repository"], "snapshot": snapshot, "paths": p["paths"],
                  "date": now if changed else previous.get("date", (latest or {}).get("time", now)),
                  # When the copy was last found level with the store: the age the report shows.
                  "checked": now}
        tmp = Path(p["record"] + ".tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
        tmp.replace(p["record"])
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
    present = [path for path in ([] if p["set_aside"] else p["include"])
               if os.path.lexists(os.path.join(p["target"], path.lstrip("/")))]
    if present:
        module.fail_json(msg=f"{', '.join(present)} exists: the hospital's copy never overwrites the agreed place. "
                             "Nothing was recovered.")
    if not restic.exists():
        module.fail_json(msg=f"{p['repository']} holds no restic repository: nothing to recover from")
    if p["snapshot"]:
        chosen = json.loads(restic.run("snapshots", "--json", "--tag", p["tag"])[1] or "[]")
        latest = next((s for s in chosen if s["id"].startswith(p["snapshot"])), None)
    else:
        latest = restic.latest(p["tag"])
    if latest is None:
        module.fail_json(msg=f"The hospital's repository has no copy tagged {p['tag']}"
                             + (f" with id {p['snapshot']}" if p["snapshot"] else ""))
    aside = {}
    if p["set_aside"]:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = {path: f"{path}.before-recover-{stamp}" for path in p["include"]
                 if os.path.lexists(os.path.join(p["target"], path.lstrip("/")))}
    if not module.check_mode:
        for path, kept in aside.items():
            os.rename(os.path.join(p["target"], path.lstrip("/")), os.path.join(p["target"], kept.lstrip("/")))
        restic.run("restore", latest["id"], "--target", p["target"],
                   *[arg for path in p["include"] for arg in ("--include", path)])
        missing = [path for path in p["include"] if not os.path.lexists(os.path.join(p["target"], path.lstrip("/")))]
        if missing:
            module.fail_json(msg=f"The copy {latest['short_id']} of {latest['time']} holds no {', '.join(missing)}",
                             snapshot=latest["short_id"])
    module.exit_json(changed=True, snapshot=latest["short_id"], date=latest["time"], set_aside=aside)


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
            "init": {"type": "bool", "default": True},
            "record": {"type": "path"},
            "include": {"type": "list", "elements": "path", "default": []},
            "snapshot": {"type": "str"},
            "set_aside": {"type": "bool", "default": False},
            "target": {"type": "path", "default": "/"},
        },
        supports_check_mode=True,
    )
    restic = Restic(module)
    (copy if module.params["action"] == "copy" else recover)(module, restic)


if __name__ == "__main__":
    main()
