#!/usr/bin/python3
"""How far the other nodes' uploads are behind this node's (installed by otap.street.pair_uploads).

  otap-uploads-lag [--write PATH]

Asks the push what it would copy now (otap-uploads-push --dry-run: one line per difference,
rsync's item flags, the file's modification time in UTC, where it goes) and prints one JSON record:

  time          when it was measured, at the dry run's end (seconds since the epoch)
  differences   how many things the other nodes lack (files, folders, deletions); null when the
                dry run failed
  lag_seconds   the age of the oldest file they lack: saved that long ago and still not copied
                (null when no file is pending; a pending deletion or folder has no age)
  error         why the dry run failed (a standby that refuses or cannot be reached), or ''

With --write the record also replaces PATH (a timer runs it so on the primary, every few seconds;
keepalived's check mails operations when the lag lasts, see /usr/local/sbin/otap-pair). A failure
to measure is part of the answer, not a failure of the command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

PUSH = "/usr/local/sbin/otap-uploads-push"
# The longest a dry run may take (a standby that hangs must not hang the timer's next round).
TIMEOUT = 60


def pending(lines: list[str], now: float) -> tuple[int, int | None]:
    """The differences the dry run's `lines` name, and the age in whole seconds of the oldest
    file among them (0 for a file from a clock ahead; None when no file is pending)."""
    ages = []
    for line in lines:
        fields = line.split(None, 2)
        if len(fields) < 3:
            raise ValueError(f"not a line of the push's dry run: {line!r}")
        flags, modified = fields[0], fields[1]
        if flags.startswith(("<f", ">f", "cf")):
            try:
                saved = datetime.strptime(modified, "%Y/%m/%d-%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
            except ValueError as error:
                raise ValueError(f"no modification time in {line!r}") from error
            ages.append(max(0, int(now - saved)))
    return len(lines), (max(ages) if ages else None)


def measure(push: str = PUSH, run=subprocess.run, clock=time.time) -> dict:
    """The record (see the module's text), timed when the dry run ended (a standby that cannot be
    reached takes its connection timeout)."""
    try:
        done = run([push, "--dry-run"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"time": int(clock()), "differences": None, "lag_seconds": None, "error": str(error)}
    now = clock()
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        return {"time": int(now), "differences": None, "lag_seconds": None,
                "error": said[-1] if said else f"the dry run ended with status {done.returncode}"}
    try:
        differences, lag = pending([line for line in done.stdout.splitlines() if line.strip()], now)
    except ValueError as error:
        return {"time": int(now), "differences": None, "lag_seconds": None, "error": str(error)}
    return {"time": int(now), "differences": differences, "lag_seconds": lag, "error": ""}


def write(path: str, record: dict) -> None:
    with open(path + ".new", "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.write("\n")
    os.replace(path + ".new", path)


def main(argv: list[str]) -> int:
    if argv[1:] and (argv[1] != "--write" or len(argv) != 3):
        print(__doc__, file=sys.stderr)
        return 2
    record = measure()
    print(json.dumps(record))
    if argv[1:]:
        write(argv[2], record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
