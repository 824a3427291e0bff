# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an rsync run did, read from its --stats summary."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rsync_stats
author: otap.street maintainers (!UNKNOWN)
version_added: 0.3.0
short_description: Read the counts of an rsync --stats summary
description:
  - Reads the summary C(rsync --stats) prints (rsync 3.1 or later) and returns its counts as numbers.
  - C(changed) is true when rsync created, deleted or transferred any file; a run that only
    compared files changed nothing.
options:
  _input:
    description: The standard output of an C(rsync --stats) run.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Report what the copy moved
  ansible.builtin.debug:
    msg: "{{ (copy.stdout | otap.street.rsync_stats).transferred }} files sent"
"""

RETURN = r"""
_value:
  description: The counts.
  type: dict
  contains:
    files: {description: Files and folders compared, type: int}
    created: {description: Files and folders created on the receiver, type: int}
    deleted: {description: Files and folders deleted on the receiver, type: int}
    transferred: {description: Regular files whose content was sent, type: int}
    transferred_bytes: {description: Size of the files sent, type: int}
    sent_bytes: {description: Bytes on the wire from the sender, compression and deltas included, type: int}
    changed: {description: Whether anything was created, deleted or transferred, type: bool}
"""

import re

from ansible.errors import AnsibleFilterError

_FIELDS = {
    "files": "Number of files",
    "created": "Number of created files",
    "deleted": "Number of deleted files",
    "transferred": "Number of regular files transferred",
    "transferred_bytes": "Total transferred file size",
    "sent_bytes": "Total bytes sent",
}


def rsync_stats(output: str) -> dict:
    """The counts of `rsync --stats` output; see DOCUMENTATION."""
    stats = {}
    for key, label in _FIELDS.items():
        match = re.search(rf"^{re.escape(label)}: ([0-9,]+)", output or "", re.M)
        if match is None:
            raise AnsibleFilterError(f"rsync_stats: no '{label}' in the output; was rsync run with --stats?")
        stats[key] = int(match.group(1).replace(",", ""))
    stats["changed"] = any(stats[k] for k in ("created", "deleted", "transferred"))
    return stats


class FilterModule:
    def filters(self):
        return {"rsync_stats": rsync_stats}
