# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files and folders that sshd and root's tools trust: read without following links, written
whole (beside the file, then renamed over it), owned and moded exactly.

Shared by the modules that keep keys and forced commands (access_keys, push_sender,
push_receiver)."""

from __future__ import annotations

import os
import stat
import tempfile


class NotAFolder(OSError):
    """Something other than a folder stands where a folder must be."""


def look(path: str, mode: int, uid: int = 0, gid: int = 0) -> tuple[str | None, str]:
    """What stands at `path`: its text when it is a regular file of that owner and mode (else
    None), and what a diff shows as it (a file of other owner or mode says so; anything else, what
    it is). A link is never followed."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, ""
    if not stat.S_ISREG(info.st_mode):
        return None, f"(not a file: mode {stat.filemode(info.st_mode)})\n"
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        text = handle.read()
    if stat.S_IMODE(info.st_mode) == mode and (info.st_uid, info.st_gid) == (uid, gid):
        return text, text
    return None, f"{text}(owned {info.st_uid}:{info.st_gid} {stat.S_IMODE(info.st_mode):04o})\n"


def write(path: str, text: str, mode: int, uid: int = 0, gid: int = 0) -> None:
    """Replace the file whole: written and set up beside it, then renamed over it (a link in its
    place is replaced, never followed)."""
    fd, temporary = tempfile.mkstemp(prefix=".otap-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)
            handle.flush()
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def folder(path: str, mode: int | None, uid: int = 0, gid: int = 0, check_mode: bool = False) -> bool:
    """Make `path` a folder of that owner and mode (None: a new one gets 0755, an existing one keeps
    its mode); whether it changed. Anything else in its place (a link too) raises NotAFolder."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not check_mode:
            os.makedirs(path, 0o755 if mode is None else mode, exist_ok=True)
            os.chown(path, uid, gid)
            os.chmod(path, 0o755 if mode is None else mode)
        return True
    if not stat.S_ISDIR(info.st_mode):
        raise NotAFolder(f"{path} is not a folder")
    right_mode = mode is None or stat.S_IMODE(info.st_mode) == mode
    if right_mode and (info.st_uid, info.st_gid) == (uid, gid):
        return False
    if not check_mode:
        os.chown(path, uid, gid)
        if mode is not None:
            os.chmod(path, mode)
    return True


def keep(path: str, text: str, mode: int, diffs: list, check_mode: bool, uid: int = 0, gid: int = 0) -> bool:
    """Make `path` a file holding `text`, of that owner and mode; whether it changed. What it was
    and becomes is added to `diffs`."""
    kept, shown = look(path, mode, uid, gid)
    if kept == text:
        return False
    diffs.append({"before_header": path, "after_header": path, "before": shown, "after": text})
    if not check_mode:
        write(path, text, mode, uid, gid)
    return True


def remove(path: str, diffs: list, check_mode: bool) -> bool:
    """Remove the file (or link) at `path`; whether there was one. A folder raises IsADirectoryError."""
    if not os.path.lexists(path):
        return False
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(21, "a folder stands where a file is to be removed", path)
    diffs.append({"before_header": path, "after_header": path, "before": look(path, 0o644)[1], "after": ""})
    if not check_mode:
        os.unlink(path)
    return True
