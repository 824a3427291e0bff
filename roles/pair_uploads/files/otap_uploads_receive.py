#!/usr/bin/python3
"""The forced command of the pair's upload keys on a node of the production pair.

The node holding the primary role sends every change of the site's uploads to the other node
(lsyncd, rsync over SSH). Its key logs in here as the unprivileged account otap-uploads and may
run exactly one thing: an rsync receiver behind Debian's rrsync (write-only, links munged),
confined to the site's content folder, running as the web user through one sudo rule, so what
arrives is what PHP could have written there and nothing more.

And only from the node this node's database replicates from: a receiver whose database is the
writable primary, follows nobody (a failed or diverged node waiting for its reseed) or follows
another node refuses. A stray node keeps what only it holds until `failover.yml reseed` has
saved it; two nodes that both believe they are primary cannot overwrite each other's uploads.
Settings come from /etc/otap-uploads/receive.json.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

CONFIG = "/etc/otap-uploads/receive.json"


class Refused(ValueError):
    """A request this key may not make."""


def command_for(request: str, sender: str, replication: dict, config: dict) -> list[str]:
    """The command to run for `request` from `sender` (an address), or Refused.

    `replication` is this node's {read_only, primary}: primary is the address its database
    replicates from ('' when it follows nobody).
    """
    try:
        words = shlex.split(request)
    except ValueError as error:
        raise Refused(f"cannot parse the request: {error}") from error
    if words[:2] != ["rsync", "--server"]:
        raise Refused("only an rsync receiver is allowed")
    if "--sender" in words:
        raise Refused("nothing is read from this node")
    if not replication["read_only"]:
        raise Refused("this node's database is writable (a primary): it sends uploads, it receives none")
    if not replication["primary"]:
        raise Refused("this node's database follows no primary (a failed or diverged node): its uploads "
                      "stay as they are until failover.yml -e otap_action=reseed")
    if replication["primary"] != sender:
        raise Refused(f"this node follows {replication['primary']}, not {sender}")
    return ["sudo", "-n", "-u", config["web_user"], "/usr/bin/rrsync", "-wo", "-munge", "-no-lock", config["root"]]


def replication_state(config: dict) -> dict:
    """Whom this node's database replicates from, asked as the account of the same name."""
    import pymysql

    connection = pymysql.connect(unix_socket=config["socket"], user=config["account"], connect_timeout=2,
                                 cursorclass=pymysql.cursors.DictCursor)
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT @@global.read_only AS read_only")
        read_only = bool(int(cursor.fetchone()["read_only"]))
        cursor.execute("SHOW SLAVE STATUS")
        replica = cursor.fetchone() or {}
    return {"read_only": read_only, "primary": replica.get("Master_Host") or ""}


def main() -> int:
    request = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    sender = os.environ.get("SSH_CONNECTION", "").split(" ")[0]
    try:
        with open(CONFIG, encoding="utf-8") as handle:
            config = json.load(handle)
        command = command_for(request, sender, replication_state(config), config)
    except Exception as error:  # noqa: BLE001 - whatever fails, nothing is received
        print(f"otap-uploads-receive: refused: {error}", file=sys.stderr)
        return 1
    if os.geteuid() == 0:
        print("otap-uploads-receive: refused: runs as the unprivileged account only", file=sys.stderr)
        return 1
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
