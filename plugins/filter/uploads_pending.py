# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far the standby's uploads are behind: read from a dry run of the primary's push."""

from __future__ import annotations

DOCUMENTATION = r"""
name: uploads_pending
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Count what the standby's uploads lack and how long the oldest of it has waited
description:
  - Reads the lines C(otap-uploads-push --dry-run) prints on the primary, one per difference as
    rsync's C(--out-format='%i %M peer:dir/%n') writes them (item flags, the file's modification
    time in UTC as C(YYYY/MM/DD-HH:MM:SS), then where it goes).
  - The uploads' lag is the age of the oldest file the standby does not have yet (the primary
    saved it that long ago and it is still not copied). A pending deletion or folder counts as a
    difference but has no age (rsync gives no time for it).
options:
  _input:
    description: The dry run's lines.
    type: list
    elements: str
    required: true
  now:
    description: The present moment, UTC, as C(YYYY-MM-DDTHH:MM:SSZ).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Say how far the standby's uploads are behind
  ansible.builtin.debug:
    msg: "{{ (dry_run.stdout_lines | otap.street.uploads_pending(now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ'))).lag_seconds }}"
"""

RETURN = r"""
_value:
  description: >-
    C(differences), the number of lines; C(lag_seconds), the age of the oldest pending file in
    whole seconds (0 for a file from the future, when clocks are apart), or null when no file is pending.
  type: dict
"""

from datetime import datetime, timezone

from ansible.errors import AnsibleFilterError


def _utc(moment: str, layout: str) -> datetime:
    return datetime.strptime(moment, layout).replace(tzinfo=timezone.utc)


def uploads_pending(lines: list[str], now: str) -> dict:
    """See DOCUMENTATION."""
    try:
        present = _utc(now, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f"uploads_pending: now is not YYYY-MM-DDTHH:MM:SSZ: {now!r}") from error
    ages = []
    for line in lines:
        fields = line.split(None, 2)
        if len(fields) < 3:
            raise AnsibleFilterError(f"uploads_pending: not a line of the push's dry run: {line!r}")
        flags, modified = fields[0], fields[1]
        if flags.startswith(("<f", ">f", "cf")):
            try:
                ages.append(max(0, int((present - _utc(modified, "%Y/%m/%d-%H:%M:%S")).total_seconds())))
            except ValueError as error:
                raise AnsibleFilterError(f"uploads_pending: no modification time in {line!r}") from error
    return {"differences": len(lines), "lag_seconds": max(ages) if ages else None}


class FilterModule:
    def filters(self):
        return {"uploads_pending": uploads_pending}
