#!/usr/bin/python3
"""The witness of the production pair: the forced command of the nodes' witness keys.

A node that cannot reach its peer asks here, over SSH as the unprivileged account otap-witness:

  peer <address>     prints 'alive' when this host reaches the node at <address> (a TCP
                     connection to its site's port within half a second), otherwise 'dead' and
                     the seconds since that node itself last asked here (nothing more if it
                     never did)
  hello              prints 'heard' and notes that the asking node asked (a primary whose
                     standby is silent asks this in every check: its answer waits on no knock);
                     refused from an address that is not a node of the pair (it would be noted
                     nowhere)

Only the pair's own addresses may be asked about (/etc/otap-witness/pair.json); nothing else runs.
From the answer a standby tells a dead primary (the witness cannot reach it either) from a cut
link between the nodes (the witness still can). A primary asks only when it cannot reach its
peer, and fences itself when it cannot ask either; so a standby waits until the primary has not
asked for a while before it promotes itself: see /usr/local/sbin/otap-pair on the nodes.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time

CONFIG = "/etc/otap-witness/pair.json"
# When each node last asked, a file per node (the account's own folder).
ASKED = "/var/lib/otap-witness"


class Refused(ValueError):
    """A request this key may not make."""


def address_for(request: str, config: dict) -> str | None:
    """The node to look at for `request` (SSH_ORIGINAL_COMMAND), None for 'hello', or Refused."""
    try:
        words = shlex.split(request)
    except ValueError as error:
        raise Refused(f"cannot parse the request: {error}") from error
    if words == ["hello"]:
        return None
    if len(words) != 2 or words[0] != "peer":
        raise Refused("only 'peer <address>' and 'hello' are answered")
    if words[1] not in config.get("nodes", []):
        raise Refused(f"{words[1]} is not a node of the pair")
    return words[1]


def alive(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def remember(client: str, config: dict, folder: str = ASKED) -> bool:
    """Note that the node at `client` asked now (anyone else is not noted); whether it was."""
    if client not in config.get("nodes", []):
        return False
    path = os.path.join(folder, f"asked-{client}")
    with open(path, "a", encoding="utf-8"):
        os.utime(path)
    return True


def answer(address: str, port: int, folder: str = ASKED) -> str:
    if alive(address, port):
        return "alive"
    try:
        asked_ago = time.time() - os.stat(os.path.join(folder, f"asked-{address}")).st_mtime
    except OSError:
        return "dead"
    return f"dead {int(max(asked_ago, 0.0) * 10) / 10:.1f}"  # rounded down: never later than it was


def main() -> int:
    try:
        with open(CONFIG, encoding="utf-8") as handle:
            config = json.load(handle)
        address = address_for(os.environ.get("SSH_ORIGINAL_COMMAND", ""), config)
        noted = remember((os.environ.get("SSH_CLIENT", "").split() or [""])[0], config)
        if address is None and not noted:  # 'heard' would tell a primary it is on a record it is not on
            raise Refused("hello from an address that is not a node of the pair")
    except (OSError, ValueError) as error:
        print(f"otap-witness: refused: {error}", file=sys.stderr)
        return 1
    print("heard" if address is None else answer(address, int(config.get("port", 80))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
