#!/usr/bin/python3
"""The forced command of the production nodes' sync key on a lower environment's host.

It runs as the unprivileged account the key logs in with (otap-sync), never as root. A sync
pushes from Production: the standby streams its database dump into the staging database, the VIP
holder sends the code tree and the uploads with rsync. This key may do exactly that:

  load <database>        the mysql client, in --sandbox mode (no shell, no files), reading a dump
                         on stdin into a staging database; it logs in as the account of the same
                         name (unix_socket), whose rights are the staging database only
  rsync --server ...     an rsync receiver behind Debian's rrsync in write-only mode, confined to
                         the sync's inbox, links munged; rrsync checks the options itself

Everything else is refused. The sync then installs what arrived in the inbox into the site, as
root, with no links, devices, specials or setuid bits (roles/sync/tasks/install.yml).
The staging databases, the inbox and the socket come from /etc/otap-sync/receive.json.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

CONFIG = "/etc/otap-sync/receive.json"


class Refused(ValueError):
    """A request this key may not make."""


def command_for(request: str, config: dict) -> list[str]:
    """The command to run for `request` (SSH_ORIGINAL_COMMAND), or Refused."""
    try:
        words = shlex.split(request)
    except ValueError as error:
        raise Refused(f"cannot parse the request: {error}") from error
    if len(words) == 2 and words[0] == "load":
        if words[1] not in config.get("databases", []):
            raise Refused(f"{words[1]} is not a staging database of this host")
        return ["mysql", "--no-defaults", "--sandbox", "--local-infile=0", "--batch", f"--socket={config['socket']}",
                f"--database={words[1]}"]
    if words[:2] == ["rsync", "--server"]:
        if "--sender" in words:
            raise Refused("nothing is read from this host")
        return ["rrsync", "-wo", "-munge", "-no-lock", config["inbox"]]
    raise Refused("only 'load <staging database>' and an rsync receiver are allowed")


def main() -> int:
    request = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        with open(CONFIG, encoding="utf-8") as handle:
            config = json.load(handle)
        command = command_for(request, config)
    except (OSError, ValueError, KeyError) as error:
        print(f"otap-sync-receive: refused: {error}", file=sys.stderr)
        return 1
    if os.geteuid() == 0:
        print("otap-sync-receive: refused: runs as the sync's own account, never as root", file=sys.stderr)
        return 1
    os.execvp(command[0], command)
    return 1


if __name__ == "__main__":
    sys.exit(main())
