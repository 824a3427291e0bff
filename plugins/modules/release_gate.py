#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The promotion gates: may release N go to this environment, may the webmaster approve it (or an OS snapshot)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_gate
author: otap.street maintainers (!UNKNOWN)
version_added: 0.4.0
short_description: Apply the procedure's promotion rules to the store's records
description:
  - Reads the store's register (C(register/releases.yml)), deployments (C(register/deployments.yml))
    and approvals (C(approvals/release-N.yml)) and applies the rules of module_utils/promotion.
  - For a rollout (I(env)), Acceptance needs the release on Test; Production needs it on Acceptance
    and the webmaster's approval of this very package (the approval's checksum is the register's).
  - For an approval (I(approve)), the approver must be one of the webmaster's party (I(approvers)).
    A release must have been on Acceptance and be what every Acceptance host serves now
    (I(served)) - its code, its database's record, and a tree staged from the registered package
    (the store's package is read and must still have the register's checksum). Content changes the
    Acceptance guard saw beyond what RELEASE.md declared block it until the webmaster accepts them
    (I(accept_content_changes)). An OS update I(snapshot) of Acceptance must be in the store.
    Returns the approval record to keep; writes nothing.
  - Fails, naming every rule broken and what to run next, when the gate is closed.
options:
  store_dir:
    description: The store's top folder.
    type: path
    required: true
  release:
    description: The release (one of I(release) and I(snapshot)).
    type: int
  snapshot:
    description: An OS update snapshot of Acceptance to approve (C(acceptance-<date>), as os_update.yml names it).
    type: str
  env:
    description: The environment to roll out on (a rollout gate).
    type: str
  approve:
    description: Check an approval for Production instead of a rollout.
    type: bool
    default: false
  accept_content_changes:
    description: The webmaster accepts the undeclared content changes the Acceptance guard saw.
    type: bool
    default: false
  approver:
    description: Who approves (recorded); must be one of I(approvers).
    type: str
    default: ""
  approvers:
    description: The names of the webmaster's party, who alone may approve (required with I(approve)).
    type: list
    elements: str
  recorded_by:
    description: The account that runs the approval (recorded beside the approver).
    type: str
    default: ""
  date:
    description: When (recorded), ISO 8601 UTC.
    type: str
    default: ""
  note:
    description: The approver's note (recorded as text, never evaluated).
    type: str
    default: ""
  lock:
    description:
      - For a rollout (I(env)), the environment's lock to take for the run before the gates are read
        (module C(street_lock)'s I(path), I(run_id), I(holder), I(purpose) and I(force)), so that the
        store cannot change between the gates and the lock. A closed gate gives the lock back; one held
        by another run fails the call (C(locked) then says so), and the gates are not read.
    type: dict
    suboptions:
      path:
        description: The lock file.
        type: path
        required: true
      run_id:
        description: Identifies the run that takes it.
        type: str
        required: true
      holder:
        description: Who runs it.
        type: str
        default: ""
      purpose:
        description: What the run does.
        type: str
        default: ""
      force:
        description: Break a lock held by another run.
        type: bool
        default: false
  served:
    description: >-
      For a release's approval (required with I(approve) and I(release)): what each Acceptance host
      serves now, as module joomla_facts read it there (host name to its result: C(release_link),
      the code's release, 0 for none; C(release_database), the release its database records;
      C(release_sql), the highest release whose SQL it ran; C(release_package), the checksum of the
      manifest the served tree was staged from). Each must be I(release) from its registered
      package, with no later release's SQL; an empty dict is refused.
    type: dict
requirements:
  - PyYAML
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads, and in check mode takes no lock.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check the gates for release 5 on production
  otap.street.release_gate:
    store_dir: /srv/otap-store
    release: 5
    env: production
"""

RETURN = r"""
approval:
  description: The approval record to keep (with I(approve)), for a release or a snapshot.
  type: dict
  returned: success and approve
entry:
  description: The release's register entry.
  type: dict
  returned: success and release
content_changes:
  description: Content changes the Acceptance guard saw in rollouts carrying the release.
  type: list
  elements: dict
  returned: success and release
content_accepted:
  description:
    - The content tables (C(#__name)) whose undeclared changes the webmaster accepted in the
      release's approval (C(otap_accept_content_changes)); empty without an approval. With the
      tables its RELEASE.md declares, these are the only content tables whose rows its SQL may
      write on Production.
  type: list
  elements: str
  returned: success and env
content_agreed:
  description:
    - The content tables (C(#__name)) the release's approval agreed its SQL may write on Production
      (C(content_declared), the declarations of every release the rollout carries, as the approval
      showed them, and C(content_accepted)); None without an approval, or for an approval recorded
      before approvals showed declarations.
  type: list
  elements: str
  returned: success and env
releases:
  description: The register's entries, as read under the lock (module C(release_register)'s I(releases)).
  type: list
  elements: dict
  returned: success and env
lock:
  description: With I(lock), the lock the run holds; or, when another run holds it, that run's lock.
  type: dict
  returned: when lock is given
locked:
  description: With I(lock), whether another run held it (the call then failed before the gates).
  type: bool
  returned: when lock is given
broken:
  description: The lock of another run that I(force) broke.
  type: dict
  returned: when a lock was broken
"""

import os
import re
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import env_lock, promotion
from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    manifest_bytes,
    sha256_bytes,
)
from ansible_collections.otap.street.plugins.module_utils.store_file import load_list
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml, yaml

SNAPSHOT = re.compile(r"^acceptance-[0-9TZ]+$")


def packaged(store: str, release: int, entry: dict) -> str:
    """The checksum of the manifest a host stages release `release` from, read from the store's
    package (which must still be the registered one); "" when it is not."""
    try:
        manifest = verify_package(Path(store, "packages", f"release-{release}.tar.gz"), release, entry.get("sha256"),
                                  check_sql=False)
    except (OSError, PackageRefused):
        return ""
    return sha256_bytes(manifest_bytes(manifest))


def snapshot_approval(module, p) -> None:
    name = p["snapshot"]
    refusals = promotion.approver_refusals(p["approver"], p["approvers"] or [])
    if not SNAPSHOT.match(name) or not os.path.isfile(os.path.join(p["store_dir"], "snapshots", f"{name}.yml")):
        refusals.append(f"No snapshot {name} of acceptance in the store: run playbooks/os_update.yml "
                        "-e otap_env=acceptance, test, then approve the snapshot it names")
    if refusals:
        module.fail_json(msg="; ".join(refusals) + " (nothing was changed).", refusals=refusals)
    approval = {"snapshot": name, "approved_by": p["approver"], "approved_at": p["date"], "note": p["note"]}
    if p["recorded_by"]:
        approval["recorded_by"] = p["recorded_by"]
    module.exit_json(changed=False, approval=approval)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store_dir=dict(type="path", required=True),
            release=dict(type="int"),
            snapshot=dict(type="str"),
            env=dict(type="str"),
            approve=dict(type="bool", default=False),
            accept_content_changes=dict(type="bool", default=False),
            approver=dict(type="str", default=""),
            approvers=dict(type="list", elements="str"),
            recorded_by=dict(type="str", default=""),
            date=dict(type="str", default=""),
            note=dict(type="str", default=""),
            served=dict(type="dict"),
            lock=dict(type="dict", options=dict(
                path=dict(type="path", required=True),
                run_id=dict(type="str", required=True),
                holder=dict(type="str", default=""),
                purpose=dict(type="str", default=""),
                force=dict(type="bool", default=False),
            )),
        ),
        required_one_of=[("env", "approve"), ("release", "snapshot")],
        mutually_exclusive=[("release", "snapshot"), ("env", "snapshot")],
        required_if=[("approve", True, ["approvers"])],
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p = module.params
    if p["snapshot"] is not None:
        return snapshot_approval(module, p)
    if not p["approve"]:
        return rollout_gate(module, p)
    store, release = p["store_dir"], p["release"]
    register, deployments, approval = records(store, release)
    entry = promotion.entry_of(register, release) or {}
    result = dict(changed=False, entry=entry, content_changes=content_changes(deployments, release))
    if p["served"] is None:
        module.fail_json(msg="served is required to approve a release: what each Acceptance host serves now")
    refusals = promotion.approver_refusals(p["approver"], p["approvers"])
    refusals += promotion.approval_refusals(release, register, deployments, p["accept_content_changes"])
    if entry and not entry.get("withdrawn") and not entry.get("sha256"):
        refusals.append(f"Release {release}'s register entry names no package checksum: nothing to approve")
    elif entry and not entry.get("withdrawn"):
        package = packaged(store, release, entry)
        if not package:
            refusals.append(f"The store's package of release {release} is missing or no longer the registered "
                            "one: nothing to approve until operations restores it")
        else:
            served = {host: {"release": facts.get("release_link", 0), "database": facts.get("release_database", 0),
                             "sql": facts.get("release_sql", 0), "package": facts.get("release_package", "")}
                      for host, facts in p["served"].items()}
            refusals += promotion.served_refusals(release, served, package)
    result["approval"] = promotion.approval_record(release, register, deployments, p["approver"], p["date"],
                                                   p["note"], p["recorded_by"])
    if refusals:
        module.fail_json(msg="; ".join(refusals) + " (nothing was changed).", refusals=refusals)
    module.exit_json(**result)


def records(store: str, release: int) -> tuple[list, list, dict | None]:
    """The register, the deployments and the release's approval (None: none)."""
    register = load_list(os.path.join(store, "register", "releases.yml"), "releases")
    deployments = load_list(os.path.join(store, "register", "deployments.yml"), "deployments")
    approval_path = os.path.join(store, "approvals", f"release-{release}.yml")
    approval = None
    if os.path.isfile(approval_path):
        with open(approval_path, encoding="utf-8") as handle:
            approval = yaml.safe_load(handle)
    return register, deployments, approval


def content_changes(deployments: list, release: int) -> list:
    return [c for d in promotion.carried(deployments, "acceptance", release) for c in d.get("content_changes", [])]


def rollout_gate(module, p) -> None:
    """May the release go to p['env']: with p['lock'], the lock is taken first and the gates read
    under it; a closed gate, or records that cannot be read, give the lock back."""
    held = take_lock(module, p["lock"]) if p["lock"] is not None else {}
    failure = None
    try:
        register, deployments, approval = records(p["store_dir"], p["release"])
        refusals = promotion.rollout_refusals(p["env"], p["release"], register, deployments, approval)
        result = dict(changed=False, entry=promotion.entry_of(register, p["release"]) or {},
                      content_changes=content_changes(deployments, p["release"]),
                      content_accepted=promotion.accepted_tables(approval),
                      content_agreed=promotion.agreed_tables(approval), releases=register)
    except Exception as error:  # noqa: BLE001 - whatever stops the gates, the lock goes back
        failure, refusals = error, []
    if (failure or refusals) and held.get("changed"):
        env_lock.undo_take(p["lock"]["path"], p["lock"]["run_id"], held.get("broken"), module.check_mode)
    about_lock = {key: value for key, value in held.items() if key != "changed"}
    if failure:
        module.fail_json(msg=f"the store's records cannot be read ({failure}): nothing was changed", **about_lock)
    if refusals:
        module.fail_json(msg="; ".join(refusals) + " (nothing was changed).", refusals=refusals, **about_lock)
    module.exit_json(**(result | held))


def take_lock(module, lock: dict) -> dict:
    """Take the environment's lock for the run, or fail saying who holds it: what the result says of it."""
    try:
        changed, taken, broken = env_lock.take(lock["path"], lock["run_id"], lock["holder"], lock["purpose"],
                                               lock["force"], module.check_mode)
    except env_lock.Locked as locked:
        module.fail_json(msg=str(locked), lock=locked.lock, locked=True)
    return dict(changed=changed, lock=taken, locked=False, **({"broken": broken} if broken is not None else {}))


if __name__ == "__main__":
    main()
