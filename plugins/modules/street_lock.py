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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import env_lock
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml


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
    if p["state"] == "absent":
        if env_lock.give_back(p["path"], p["run_id"], module.check_mode):
            module.exit_json(changed=True, lock={})
        module.exit_json(changed=False, lock=env_lock.read(p["path"])[1])
    try:
        changed, lock, broken = env_lock.take(p["path"], p["run_id"], p["holder"], p["purpose"], p["force"],
                                              module.check_mode)
    except env_lock.Locked as locked:
        module.fail_json(msg=str(locked), lock=locked.lock)
    module.exit_json(changed=changed, lock=lock, **({"broken": broken} if broken is not None else {}))


if __name__ == "__main__":
    main()
