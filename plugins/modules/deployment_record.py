#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record which release reached which environment, and read where each environment stands."""

from __future__ import annotations

DOCUMENTATION = r"""
module: deployment_record
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Where each environment of the street stands, release by release
description:
  - Keeps C(deployments.yml) at the agreed place, one entry per rollout, rollback or failed
    attempt (environment, release, the release it came from, date, who, result).
  - With I(state=query) returns, per environment, the release it is at (I(current)) and the
    highest release it ever reached (I(reached)), which is what the promotion gates read.
options:
  path:
    description: The deployments file.
    type: path
    required: true
  state:
    description: Append I(entry) (C(present)) or only read (C(query)).
    type: str
    choices: [present, query]
    default: query
  entry:
    description: >-
      The rollout to record: C(env), C(release), C(from_release), C(date), C(by), C(result)
      (C(done), C(failed) or C(rolled_back)), and optionally C(run_id).
    type: dict
  audit_log:
    description:
      - With I(state=present), the audit log of rollouts (JSON lines) that also gets I(entry), as one
        line, when its result is C(done) or C(rolled_back) (a rollout that changed what an environment
        serves); a failed attempt is in the deployments file only.
      - Written after the deployments file, in the same call and under its lock; created readable by
        all (mode 0644) when missing.
    type: path
  audit_title:
    description: The release's title, added to the audit log's line when given.
    type: str
    default: ""
notes:
  - Appending the same entry (same run and result) twice changes nothing, in either file.
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
- name: Read where every environment stands
  otap.street.deployment_record:
    path: /srv/otap-store/register/deployments.yml
  register: street
"""

RETURN = r"""
audited:
  description: Whether the audit log got (or in check mode would get) the entry's line now.
  type: bool
  returned: with I(state=present)
current:
  description: Per environment, the release it is at after its last successful rollout or rollback.
  type: dict
  returned: success
reached:
  description: Per environment, the highest release it ever reached successfully.
  type: dict
  returned: success
deployments:
  description: All entries, oldest first.
  type: list
  elements: dict
  returned: success
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml
from ansible_collections.otap.street.plugins.module_utils.store_file import dump_list, load_list, locked, replace

HEADER = (
    "# Deployments: every rollout, rollback and failed attempt of a release on an environment,\n"
    "# oldest first. Kept by otap.street (playbooks/release.yml, playbooks/rollback.yml).\n"
)
RESULTS = ("done", "failed", "rolled_back")
# The results that changed what an environment serves: those the audit log keeps.
AUDITED = ("done", "rolled_back")


def audit_line(entry: dict, title: str) -> str:
    """The audit log's line of a rollout: its entry, and the release's title when there is one."""
    return json.dumps({**entry, **({"title": title} if title else {})})


def audit(module: AnsibleModule, path: str, line: str) -> bool:
    """Append `line` to the audit log unless it holds it already; whether it was (or would be) added.
    A new log (and its folder) is made readable by all, whatever the umask: the report reads it."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = None
    except OSError as error:
        module.fail_json(msg=f"the audit log {path} cannot be read: {error}")
    if text is not None and line in text.splitlines():
        return False
    if not module.check_mode:
        try:
            folder = os.path.dirname(path) or "."
            if not os.path.isdir(folder):
                os.makedirs(folder, exist_ok=True)
                os.chmod(folder, 0o755)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                if text is None:
                    os.fchmod(handle.fileno(), 0o644)
                handle.write(("\n" if text and not text.endswith("\n") else "") + line + "\n")
        except OSError as error:
            module.fail_json(msg=f"the audit log {path} cannot be written: {error}")
    return True


def standing(deployments: list[dict]) -> tuple[dict, dict]:
    current: dict[str, int] = {}
    reached: dict[str, int] = {}
    for item in deployments:
        if item["result"] in ("done", "rolled_back"):
            current[item["env"]] = int(item["release"])
        if item["result"] == "done":
            reached[item["env"]] = max(reached.get(item["env"], 0), int(item["release"]))
    return current, reached


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "query"], default="query"),
            entry=dict(type="dict"),
            audit_log=dict(type="path"),
            audit_title=dict(type="str", default=""),
        ),
        required_if=[("state", "present", ["entry"])],
        supports_check_mode=True,
    )
    require_pyyaml(module)
    path, entry = module.params["path"], module.params["entry"]
    if module.params["state"] == "query":
        deployments = load_list(path, "deployments")
        current, reached = standing(deployments)
        module.exit_json(changed=False, deployments=deployments, current=current, reached=reached)

    missing = [key for key in ("env", "release", "date", "by", "result") if entry.get(key) in (None, "")]
    if missing or entry["result"] not in RESULTS:
        module.fail_json(msg=f"deployment entry needs env, release, date, by and a result of {', '.join(RESULTS)}")
    with locked(path):
        deployments = load_list(path, "deployments")
        changed = entry not in deployments
        updated = deployments + [entry] if changed else deployments
        if changed and not module.check_mode:
            replace(module, path, dump_list(HEADER, "deployments", updated))
        # Under the register's lock: two runs never add the same line twice.
        audited = False
        if module.params["audit_log"] and entry["result"] in AUDITED:
            audited = audit(module, module.params["audit_log"], audit_line(entry, module.params["audit_title"]))
    current, reached = standing(updated)
    module.exit_json(changed=changed or audited, audited=audited, deployments=updated, current=current, reached=reached)


if __name__ == "__main__":
    main()
