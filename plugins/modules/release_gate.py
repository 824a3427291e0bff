#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The promotion gates: may release N go to this environment, may the webmaster approve it."""

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
  - For an approval (I(approve)), the release must have been on Acceptance and be what Acceptance
    serves now (I(served)), and content changes the
    Acceptance guard saw beyond what RELEASE.md declared block it until the webmaster accepts them
    (I(accept_content_changes)). Returns the approval record to keep; writes nothing.
  - Fails, naming every rule broken and what to run next, when the gate is closed.
options:
  store_dir:
    description: The store's top folder.
    type: path
    required: true
  release:
    description: The release.
    type: int
    required: true
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
    description: Who approves (recorded).
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
  served:
    description: >-
      For an approval (required with I(approve)): the release each Acceptance host serves now,
      read from the hosts (host name to release number, 0 for none). Each must be I(release); an
      empty dict is refused.
    type: dict
requirements:
  - PyYAML
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads.
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
  description: The approval record to keep (with I(approve)).
  type: dict
  returned: success and approve
entry:
  description: The release's register entry.
  type: dict
  returned: success
content_changes:
  description: Content changes the Acceptance guard saw in rollouts carrying the release.
  type: list
  elements: dict
  returned: success
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import promotion
from ansible_collections.otap.street.plugins.module_utils.store_file import load_list
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml, yaml


def main():
    module = AnsibleModule(
        argument_spec=dict(
            store_dir=dict(type="path", required=True),
            release=dict(type="int", required=True),
            env=dict(type="str"),
            approve=dict(type="bool", default=False),
            accept_content_changes=dict(type="bool", default=False),
            approver=dict(type="str", default=""),
            date=dict(type="str", default=""),
            note=dict(type="str", default=""),
            served=dict(type="dict"),
        ),
        required_one_of=[("env", "approve")],
        required_if=[("approve", True, ["served"])],
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p = module.params
    store, release = p["store_dir"], p["release"]
    register = load_list(os.path.join(store, "register", "releases.yml"), "releases")
    deployments = load_list(os.path.join(store, "register", "deployments.yml"), "deployments")
    approval_path = os.path.join(store, "approvals", f"release-{release}.yml")
    approval = None
    if os.path.isfile(approval_path):
        with open(approval_path, encoding="utf-8") as handle:
            approval = yaml.safe_load(handle)
    result = dict(changed=False, entry=promotion.entry_of(register, release) or {},
                  content_changes=[c for d in promotion.carried(deployments, "acceptance", release)
                                   for c in d.get("content_changes", [])])
    if p["approve"]:
        served = {host: int(number) for host, number in p["served"].items()}  # required with approve
        refusals = promotion.approval_refusals(release, register, deployments, p["accept_content_changes"], served)
        result["approval"] = promotion.approval_record(release, register, deployments, p["approver"], p["date"],
                                                       p["note"])
    else:
        refusals = promotion.rollout_refusals(p["env"], release, register, deployments, approval)
    if refusals:
        module.fail_json(msg="; ".join(refusals) + " (nothing was changed).", refusals=refusals)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
