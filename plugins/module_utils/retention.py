# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backups a retention policy keeps: the newest of each of the last D days, W ISO weeks and
M months that have a backup (grandfather-father-son), and always the newest backup of all."""

from __future__ import annotations

from datetime import datetime


def keep(backups: dict[str, datetime], daily: int, weekly: int, monthly: int) -> set[str]:
    """The ids of `backups` (id -> when it was taken) that the policy keeps."""
    newest_first = sorted(backups, key=lambda i: (backups[i], i), reverse=True)
    kept: set[str] = set(newest_first[:1])
    for count, period in ((daily, lambda d: d.date()), (weekly, lambda d: tuple(d.isocalendar())[:2]),
                          (monthly, lambda d: (d.year, d.month))):
        seen: list = []
        for backup in newest_first:
            key = period(backups[backup])
            if key not in seen:
                seen.append(key)
                if len(seen) > count:
                    break
                kept.add(backup)
    return kept
