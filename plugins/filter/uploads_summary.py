# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The uploads' replication state in words, as the failover status and the street's report say it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: uploads_summary
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: How far the standby's uploads are behind, in words
description:
  - Says the record of the primary's measure (C(failover_uploads), from the failover role's entry point
    C(uploads_state); C(error) when the primary could not compare its uploads with the standby's) as one
    phrase, the same in C(failover.yml -e otap_action=status) and in the street's report.
options:
  _input:
    description: C(differences), C(lag_seconds), C(error); none or empty when the uploads were not read.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Say how far the standby's uploads are behind
  ansible.builtin.debug:
    msg: "Uploads: {{ failover_uploads | otap.street.uploads_summary }}"
"""

RETURN = r"""
_value:
  description: >-
    C(level on the standby); C(N differences not yet on the standby), with C(, the oldest saved S s ago)
    when a file waits; the comparison's error; or an empty string when nothing was read.
  type: str
"""


def uploads_summary(uploads: dict | None) -> str:
    """See DOCUMENTATION."""
    if not uploads:
        return ""
    if uploads.get("error") or uploads.get("differences") is None:
        return ("the standby's uploads cannot be compared with the primary's: "
                f"{uploads.get('error') or 'the comparison failed without a word'}")
    if uploads.get("differences") == 0:
        return "level on the standby"
    said = f"{uploads.get('differences')} differences not yet on the standby"
    if uploads.get("lag_seconds") is not None:
        said += f", the oldest saved {uploads['lag_seconds']} s ago"
    return said


class FilterModule:
    def filters(self):
        return {"uploads_summary": uploads_summary}
