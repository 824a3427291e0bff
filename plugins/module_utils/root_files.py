# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files and folders that sshd and root's tools trust: read without following links, written
whole (beside the file, then renamed over it), owned and moded exactly.

Shared by the modules that keep keys and forced commands (access_keys, push_sender,
push_receiver)."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile

# What goes into the files sshd reads: a login name (a file of its own in a keys folder), and a
# public key as TYPE BASE64 (a line, with or without a comment after it).
ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
PUBLIC_KEY = r"(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}"


class NotAFolder(OSError):
    """Something other than a folder stands where a folder must be."""


def read(path: str) -> tuple[str | None, os.stat_result | None]:
    """The text of the regular file at `path`, exactly as stored, and what stands there (None, None
    when nothing does; None and its stat when it is no regular file). A link is never followed, nor
    a FIFO waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        return None, os.lstat(path)
    with os.fdopen(fd, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        info = os.fstat(fd)
        return (handle.read() if stat.S_ISREG(info.st_mode) else None), info


def look(path: str, mode: int, uid: int = 0, gid: int = 0) -> tuple[str | None, str]:
    """What stands at `path`: its text when it is a regular file of that owner and mode (else
    None), and what a diff shows as it (a file of other owner or mode says so; anything else, what
    it is)."""
    text, info = read(path)
    if info is None:
        return None, ""
    if text is None:
        return None, f"(not a file: mode {stat.filemode(info.st_mode)})\n"
    if stat.S_IMODE(info.st_mode) == mode and (info.st_uid, info.st_gid) == (uid, gid):
        return text, text
    return None, f"{text}(owned {info.st_uid}:{info.st_gid} {stat.S_IMODE(info.st_mode):04o})\n"


def write(path: str, text: str, mode: int, uid: int = 0, gid: int = 0) -> None:
    """Replace the file whole: written and set up beside it, then renamed over it (a link in its
    place is replaced, never followed)."""
    fd, temporary = tempfile.mkstemp(prefix=".otap-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
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
    its mode); whether it changed. Anything else in its place (a link too) raises NotAFolder. The
    owner and mode are set on the folder opened, never through a link swapped in meanwhile."""
    made = False
    if not os.path.lexists(path):
        if check_mode:
            return True
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            os.mkdir(path, 0o700)  # nobody else's until it is set up below
            made = True
        except FileExistsError:
            pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotAFolder(f"{path} is not a folder") from None
        raise
    try:
        info = os.fstat(fd)
        wanted = (0o755 if made else stat.S_IMODE(info.st_mode)) if mode is None else mode
        if stat.S_IMODE(info.st_mode) == wanted and (info.st_uid, info.st_gid) == (uid, gid):
            return made
        if not check_mode:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, wanted)
        return True
    finally:
        os.close(fd)


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
