# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock that lets one run at a time change an environment: a small YAML file at the agreed
place (the store), saying who holds it, since when, for what and which run. Modules street_lock
and release_gate take it through here."""

from __future__ import annotations

import datetime
import os

from ansible_collections.otap.street.plugins.module_utils.pyyaml import yaml


class Locked(Exception):  # noqa: N818 - what it says to the run that meets it
    """Another run holds the lock (or an unreadable lock stands); `lock` is what it says."""

    def __init__(self, message: str, lock: dict):
        super().__init__(message)
        self.lock = lock


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


def take(path: str, run_id: str, holder: str = "", purpose: str = "", force: bool = False,
         check: bool = False) -> tuple[bool, dict, dict | None]:
    """Take the lock for run `run_id`: (changed, the lock as it now is, the lock `force` broke or
    None). Locked when another run holds it and `force` is not given."""
    exists, current = read(path)
    if exists and current.get("run_id") == run_id:
        return False, current, None
    broken = None
    if exists:
        if not force and not current.get("run_id"):
            raise Locked(f"locked: {path} is empty or unreadable (a run killed while it wrote its lock?); if no run "
                         "is busy with this environment, break the lock on purpose with -e otap_break_lock=true",
                         current)
        if not force:
            raise Locked(f"locked by {current.get('holder') or 'someone'} since {current.get('since')} "
                         f"({current.get('purpose') or 'no purpose given'}, run {current.get('run_id')}): wait for "
                         "that run to end, or break the lock on purpose with -e otap_break_lock=true", current)
        broken = current or {"unreadable": path}
    lock = dict(run_id=run_id, holder=holder, purpose=purpose,
                since=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if not check:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if exists:
            os.unlink(path)
        if not create(path, lock):
            raise Locked(f"locked by another run that started just now: {read(path)[1]}", read(path)[1])
    return True, lock, broken


def give_back(path: str, run_id: str, check: bool = False) -> bool:
    """Release the lock if run `run_id` holds it (another run's stays); whether it was released."""
    exists, current = read(path)
    if not exists or current.get("run_id") != run_id:
        return False
    if not check:
        os.unlink(path)
    return True
