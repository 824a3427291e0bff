# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock that lets one run at a time change an environment: a small YAML file at the agreed
place (the store), saying who holds it, since when, for what and which run. Modules street_lock
and release_gate take it through here."""

from __future__ import annotations

import datetime
import os
import stat
import tempfile

from ansible_collections.otap.street.plugins.module_utils.pyyaml import yaml


class Locked(Exception):  # noqa: N818 - what it says to the run that meets it
    """Another run holds the lock (or an unreadable lock stands); `lock` is what it says."""

    def __init__(self, message: str, lock: dict):
        super().__init__(message)
        self.lock = lock


def read(path: str) -> tuple[bool, dict]:
    """Whether a lock file exists, and its content ({} when it is empty, not a lock's YAML, or not
    a plain file: a link, a FIFO or a folder there is read as an unreadable lock, never followed or
    waited on)."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False, {}
    except OSError:
        return True, {}
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return True, {}
        with os.fdopen(handle, encoding="utf-8") as stream:
            handle = None
            content = yaml.safe_load(stream)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True, {}
    finally:
        if handle is not None:
            os.close(handle)
    return True, content if isinstance(content, dict) else {}


def create(path: str, lock: dict) -> bool:
    """Put the lock file in place whole (written beside it, then linked to its name, which fails if
    the name is taken): False when a lock is already there. Never an empty or half-written lock."""
    folder = os.path.dirname(path) or "."
    handle, written = tempfile.mkstemp(dir=folder, prefix=".lock.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yaml.safe_dump(lock, stream, sort_keys=False)
        os.chmod(written, 0o644)
        try:
            os.link(written, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(written)


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
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if exists:
                os.unlink(path)
            taken = create(path, lock)
        except OSError as error:
            raise Locked(f"the lock {path} cannot be taken: {error}", current) from error
        if not taken:
            other = read(path)[1]
            raise Locked(f"locked by another run that started just now: {other}", other)
    return True, lock, broken


def undo_take(path: str, run_id: str, broken: dict | None, check: bool = False) -> None:
    """Undo take() for a run that goes no further: its lock goes, and a lock it broke on purpose
    (`broken`, another run's) is put back."""
    if give_back(path, run_id, check) and broken and broken.get("run_id") and not check:
        create(path, broken)


def give_back(path: str, run_id: str, check: bool = False) -> bool:
    """Release the lock if run `run_id` holds it (another run's stays); whether it was released."""
    exists, current = read(path)
    if not exists or current.get("run_id") != run_id:
        return False
    if not check:
        os.unlink(path)
    return True
