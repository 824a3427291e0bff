#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take or release the lock that lets one run at a time change an environment."""

from __future__ import annotations

DOCUMENTATION = r"""
module: street_lock
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: One run at a time per environment, with a lock that says who holds it
description:
  - Takes (I(state=present)) or releases (I(state=absent)) the lock of an environment, a small
    YAML file kept at the agreed place, so it spans every host of the environment (both nodes
    of the production pair).
  - The lock says who holds it, since when, for which run and playbook. Taking a lock held by
    another run fails with that information; I(force=true) breaks it on purpose.
  - Releasing only removes the lock of the same run (I(run_id)), so a run never frees someone
    else's lock; release it in an C(always) section so a failed run leaves no stale lock.
options:
  path:
    description: The lock file.
    type: path
    required: true
  state:
    description: Take (C(present)) or release (C(absent)) the lock.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description: Identifies the run that holds the lock.
    type: str
    required: true
  holder:
    description: Who runs it (user and host).
    type: str
    default: ""
  purpose:
    description: What the run does, for whoever finds the lock taken.
    type: str
    default: ""
  force:
    description: Break a lock held by another run.
    type: bool
    default: false
requirements:
  - PyYAML
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
- name: Lock production for this release
  otap.street.street_lock:
    path: /srv/otap-store/locks/production.lock
    run_id: "{{ otap_run_id }}"
    holder: "{{ lookup('env', 'USER') }}"
    purpose: release 4 to production
"""

RETURN = r"""
lock:
  description: The lock's content after the call (empty when released).
  type: dict
  returned: success
broken:
  description: The lock of another run that I(force) broke.
  type: dict
  returned: when a lock was broken
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml, yaml


def read(path: str) -> tuple[bool, dict]:
    """Whether a lock file exists, and its content ({} when it is empty or not a lock's YAML)."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
    except FileNotFoundError:
        return False, {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True, {}
    return True, content if isinstance(content, dict) else {}


def create(path: str, lock: dict) -> bool:
    """Create the lock file atomically; False when it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(lock, handle, sort_keys=False)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            run_id=dict(type="str", required=True),
            holder=dict(type="str", default=""),
            purpose=dict(type="str", default=""),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p = module.params
    path = p["path"]
    exists, current = read(path)
    mine = exists and current.get("run_id") == p["run_id"]

    if p["state"] == "absent":
        if not mine:
            module.exit_json(changed=False, lock=current)
        if not module.check_mode:
            os.unlink(path)
        module.exit_json(changed=True, lock={})

    if mine:
        module.exit_json(changed=False, lock=current)
    result = {}
    if exists:
        if not p["force"] and not current.get("run_id"):
            module.fail_json(
                msg=f"locked: {path} is empty or unreadable (a run killed while it wrote its lock?); if no run is "
                    "busy with this environment, break the lock on purpose with -e otap_break_lock=true",
                lock=current)
        if not p["force"]:
            module.fail_json(
                msg=f"locked by {current.get('holder') or 'someone'} since {current.get('since')} "
                    f"({current.get('purpose') or 'no purpose given'}, run {current.get('run_id')}): wait for "
                    "that run to end, or break the lock on purpose with -e otap_break_lock=true",
                lock=current)
        result["broken"] = current or {"unreadable": path}
    lock = dict(run_id=p["run_id"], holder=p["holder"], purpose=p["purpose"],
                since=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if not module.check_mode:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if exists:
            os.unlink(path)
        if not create(path, lock):
            module.fail_json(msg=f"locked by another run that started just now: {read(path)}")
    module.exit_json(changed=True, lock=lock, **result)


if __name__ == "__main__":
    main()
