#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an OS update would change on this host; it changes nothing itself."""

from __future__ import annotations

DOCUMENTATION = r"""
module: os_plan
author: otap.street maintainers (!UNKNOWN)
version_added: 0.2.0
short_description: Plan an OS update, pending upgrades or exactly the approved versions
description:
  - Without I(approved), lists the upgrades apt has pending (C(apt-get -s --ignore-hold
    dist-upgrade), so held packages such as MariaDB's are planned too) with their current and
    new versions. This is what Test and Acceptance apply and record as a snapshot.
  - With I(approved) (package to version, an approved Acceptance snapshot), plans every package
    whose installed version differs, to exactly that version, and fails naming each approved
    version no repository offers any more (C(apt-cache policy)). This is what Production gets,
    and nothing newer.
  - Splits the plan into C(ordinary) packages and C(deliberate) ones (matching I(deliberate)),
    which the caller upgrades on their own with the service stopped.
  - Never changes the host's packages. Refreshes apt's package lists (a cache of what the
    repositories offer) when they are older than I(cache_valid_time) seconds, in check mode too,
    so that a scheduled C(--check) run reports what is really pending.
options:
  approved:
    description: Package name to exact version; empty for all pending upgrades.
    type: dict
    default: {}
  deliberate:
    description: Regular expression of the packages upgraded on their own (MariaDB's).
    type: str
    default: ^(mariadb-|libmariadb|galera-|mysql-common$)
  cache_valid_time:
    description: Refresh the package lists when older than this many seconds (0 always).
    type: int
    default: 300
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
- name: Plan the pending upgrades (Test, Acceptance)
  otap.street.os_plan:
  register: plan

- name: Plan exactly the approved versions (Production)
  otap.street.os_plan:
    approved: "{{ snapshot.packages }}"
  register: plan
"""

RETURN = r"""
plan:
  description: Package to {from, to} for every package that changes.
  type: dict
  returned: always
ordinary:
  description: The part of I(plan) apt upgrades in one go.
  type: dict
  returned: always
deliberate:
  description: The part of I(plan) upgraded on its own (MariaDB's packages).
  type: dict
  returned: always
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.os_plan import (
    PlanError,
    available_versions,
    check_available,
    installed_versions,
    pending_upgrades,
    plan_to_approved,
    split,
)

_ENV = {"LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}


def _run(module: AnsibleModule, args: list[str]) -> str:
    rc, out, err = module.run_command(args, environ_update=_ENV)
    if rc != 0:
        module.fail_json(msg=f"{' '.join(args)} failed: {err.strip() or out.strip()}")
    return out


def _refresh_lists(module: AnsibleModule, max_age: int) -> None:
    # apt-get update renames the lists into place, which refreshes the folder's mtime.
    try:
        age = time.time() - os.stat("/var/lib/apt/lists").st_mtime
    except OSError:
        age = float("inf")
    if max_age == 0 or age > max_age:
        _run(module, ["apt-get", "update", "-q"])


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "approved": {"type": "dict", "default": {}},
            "deliberate": {"type": "str", "default": "^(mariadb-|libmariadb|galera-|mysql-common$)"},
            "cache_valid_time": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    approved = module.params["approved"]
    # Also in check mode: a check that plans from stale lists would report nothing pending. The
    # lists are apt's cache of what the repositories offer; refreshing them changes no package.
    _refresh_lists(module, module.params["cache_valid_time"])
    try:
        if approved:
            installed = installed_versions(_run(module, [
                "dpkg-query", "-W", "-f", "${Package}\\t${Version}\\t${db:Status-Status}\\n"]))
            plan = plan_to_approved(approved, installed)
            offered = {name: available_versions(_run(module, ["apt-cache", "policy", name])) for name in plan}
            check_available(plan, offered)
        else:
            plan = pending_upgrades(_run(module, [
                "apt-get", "-s", "-q", "--ignore-hold", "-o", "Debug::NoLocking=1", "dist-upgrade"]))
    except PlanError as error:
        module.fail_json(msg=str(error))
    ordinary, deliberate = split(plan, module.params["deliberate"])
    module.exit_json(changed=False, plan=plan, ordinary=ordinary, deliberate=deliberate)


if __name__ == "__main__":
    main()
