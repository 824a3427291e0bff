#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply the backup retention policy at the agreed place and keep the index of what is left."""

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_catalog
author: otap.street maintainers (!UNKNOWN)
version_added: 0.3.0
short_description: Prune backups by a retention policy and rewrite the backups' index
description:
  - Reads every C(<dir>/<id>/manifest.yml) (one per backup), keeps per environment the newest
    backup of each of the last I(daily) days, I(weekly) ISO weeks and I(monthly) months that have
    one (and always the newest), deletes the other backup folders, and writes C(<dir>/index.jsonl),
    one line per kept backup (env, id, date, release), oldest first.
  - A folder without a manifest (a backup that did not finish) older than a day is deleted too.
options:
  path:
    description: The folder holding one folder per backup.
    type: path
    required: true
  daily:
    description: Days whose newest backup is kept.
    type: int
    default: 7
  weekly:
    description: ISO weeks whose newest backup is kept.
    type: int
    default: 4
  monthly:
    description: Months whose newest backup is kept.
    type: int
    default: 6
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
- name: Keep 7 daily, 4 weekly and 6 monthly backups per environment
  otap.street.backup_catalog:
    path: /srv/otap-store/backups
"""

RETURN = r"""
kept:
  description: The backups kept, per environment.
  type: dict
  returned: always
removed:
  description: The backup folders removed.
  type: list
  elements: str
  returned: always
"""

import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.retention import keep
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml, yaml


def when(date: str) -> datetime:
    """A manifest's date; one without a zone is UTC."""
    moment = datetime.fromisoformat(str(date).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def main() -> None:
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True}, "daily": {"type": "int", "default": 7},
                       "weekly": {"type": "int", "default": 4}, "monthly": {"type": "int", "default": 6}},
        supports_check_mode=True,
    )
    require_pyyaml(module)
    root, p = Path(module.params["path"]), module.params
    manifests, unfinished = {}, []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir():
            continue
        manifest = folder / "manifest.yml"
        if manifest.is_file():
            manifests[folder.name] = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        elif time.time() - folder.stat().st_mtime > 86400:
            unfinished.append(folder.name)
    kept, removed = {}, list(unfinished)
    for env in sorted({m["env"] for m in manifests.values()}):
        mine = {i: when(m["date"]) for i, m in manifests.items() if m["env"] == env}
        kept[env] = sorted(keep(mine, p["daily"], p["weekly"], p["monthly"]), key=lambda i: mine[i])
        removed += sorted(set(mine) - set(kept[env]))
    index = "".join(json.dumps({k: str(manifests[i][k]) if k == "date" else manifests[i][k]
                                for k in ("env", "id", "date", "release")}, sort_keys=True) + "\n"
                    for i in sorted((i for ids in kept.values() for i in ids), key=lambda i: when(manifests[i]["date"])))
    index_file = root / "index.jsonl"
    changed = bool(removed) or not index_file.is_file() or index_file.read_text(encoding="utf-8") != index
    if changed and not module.check_mode:
        for name in removed:
            shutil.rmtree(root / name)
        root.mkdir(parents=True, exist_ok=True)
        index_file.write_text(index, encoding="utf-8")
    module.exit_json(changed=changed, kept=kept, removed=sorted(removed))


if __name__ == "__main__":
    main()
