#!/usr/bin/python3
"""The forced command of the production nodes' sync key on a lower environment's host.

A sync pushes from Production: the standby streams its database dump into the staging database,
the VIP holder sends the code tree and the uploads with rsync. This key may do exactly that and
nothing else; sshd runs this script instead of whatever the key's user asked for, and the script
runs the request only when it is one of:

  load <database>             mysql reading a dump on stdin into a configured staging database
  rsync --server ... . <dir>  an rsync receiver (never a sender: nothing is read back) writing
                              under a configured folder, with only the options a sync uses

The allowed databases and folders come from /etc/otap-sync/receive.json.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys

CONFIG = "/etc/otap-sync/receive.json"
# Long options the sync's rsync sends to its receiver; anything else (--log-file, --sender, ...) is refused.
RSYNC_OPTIONS = {"--delete", "--delete-excluded", "--delay-updates", "--numeric-ids", "--stats", "--delete-during",
                 "--delete-delay", "--delete-after"}
SHORT_FLAGS = re.compile(r"^-[A-Za-z.]+$")


class Refused(ValueError):
    """A request this key may not make."""


def within(path: str, folders: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == os.path.realpath(f) or real.startswith(os.path.realpath(f).rstrip("/") + "/") for f in folders)


def command_for(request: str, config: dict) -> list[str]:
    """The command to run for `request` (SSH_ORIGINAL_COMMAND), or Refused."""
    try:
        words = shlex.split(request)
    except ValueError as error:
        raise Refused(f"cannot parse the request: {error}") from error
    if len(words) == 2 and words[0] == "load":
        if words[1] not in config.get("databases", []):
            raise Refused(f"{words[1]} is not a staging database of this host")
        return ["mysql", "--database", words[1]]
    if words[:2] == ["rsync", "--server"]:
        if len(words) < 4 or words[-2] != ".":
            raise Refused("an rsync request ends with '. <folder>'")
        options = iter(words[2:-2])
        for word in options:
            name, _, value = word.partition("=")
            if name == "--link-dest":
                folder = value or next(options, "")
                if not within(folder, config.get("folders", [])):
                    raise Refused(f"--link-dest {folder}: outside the sync's folders")
            elif word not in RSYNC_OPTIONS and not SHORT_FLAGS.match(word):
                raise Refused(f"rsync option {word} is not one a sync uses")
        if not within(words[-1], config.get("folders", [])):
            raise Refused(f"{words[-1]} is outside the sync's folders")
        return ["rsync", *words[1:]]
    raise Refused("only 'load <database>' and an rsync receiver are allowed")


def main() -> int:
    request = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        with open(CONFIG, encoding="utf-8") as handle:
            config = json.load(handle)
        command = command_for(request, config)
    except (OSError, ValueError) as error:
        print(f"otap-sync-receive: refused: {error}", file=sys.stderr)
        return 1
    os.execvp(command[0], command)
    return 1


if __name__ == "__main__":
    sys.exit(main())
