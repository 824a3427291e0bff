#!/usr/bin/python3
"""The hospital's seal (the street's stand-in for the hospital's server): everything the store's
account wrote into the restic repository, but its locks and uploads still being written, is handed
to the hospital's account - files read-only, folders sticky - so the store can add to the copy but
never remove or replace what it holds.

Usage: hospital-seal REPOSITORY STORE_ACCOUNT HOSPITAL_ACCOUNT

It walks the repository through file descriptors it opened itself and opens every entry with
O_NOFOLLOW: a symbolic link, or a folder swapped for one while it walks, is never followed out of
the repository. An entry it cannot seal is named on stderr and the others are still sealed; the exit
status is then 1 (systemd marks the unit failed).
"""

import os
import pwd
import stat
import sys
import time

PARTS = ("config", "keys", "snapshots", "index", "data")
# restic writes <name>-restic-temp-<suffix> and renames it when done; one this young is in flight.
IN_FLIGHT = 600


def seal(parent: int, name: str, store: int, owner: int, group: int, problems: list[str], where: str) -> None:
    path = f"{where}/{name}"
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
    except OSError as error:
        problems.append(f"{path}: {error.strerror}")
        return
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            if info.st_uid == store:
                os.fchown(fd, owner, group)
                os.fchmod(fd, 0o3770)
            for entry in os.listdir(fd):
                seal(fd, entry, store, owner, group, problems, path)
        elif stat.S_ISREG(info.st_mode):
            young = "-restic-temp-" in name and time.time() - info.st_mtime < IN_FLIGHT
            if info.st_uid == store and not young:
                os.fchown(fd, owner, group)
                os.fchmod(fd, 0o440)
        else:
            problems.append(f"{path}: neither a file nor a folder, left as it is")
    except OSError as error:
        problems.append(f"{path}: {error.strerror}")
    finally:
        os.close(fd)


def main(repository: str, store_account: str, hospital_account: str) -> int:
    store, owner = pwd.getpwnam(store_account), pwd.getpwnam(hospital_account)
    problems: list[str] = []
    root = os.open(repository, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in PARTS:
            try:
                os.stat(part, dir_fd=root, follow_symlinks=False)
            except FileNotFoundError:
                continue
            seal(root, part, store.pw_uid, owner.pw_uid, store.pw_gid, problems, repository)
    finally:
        os.close(root)
    for problem in problems:
        print(f"not sealed: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
