#!/usr/bin/python3
"""How far the other nodes' uploads are behind this node's (installed by otap.street.pair_uploads).

  otap-uploads-lag [--write PATH --every SECONDS]

Asks the push what it would copy now (otap-uploads-push --dry-run: one line per difference,
rsync's item flags, the file's modification time in UTC, where it goes) and prints one JSON record:

  time          when it was measured, at the dry run's end (seconds since the epoch)
  differences   how many things the other nodes lack (files, folders, deletions); null when the
                dry run failed
  lag_seconds   the age of the oldest file they lack: saved that long ago and still not copied
                (null when no file is pending; a pending deletion or folder has no age)
  error         why the dry run failed (a standby that refuses or cannot be reached), or ''
  error_since   since when the dry run has failed, by the records before (with error)
  fresh_for     seconds for which the record stands (with --write: the timer's next one is due)

With --write the record also replaces PATH (a timer runs it so on the primary every SECONDS;
keepalived's check mails operations when a lag or an error lasts, or the records stop, see
/usr/local/sbin/otap-pair). A failure to measure is part of the answer, not a failure of the
command.
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
    differences, lag, error = None, None, ""
    try:
        done = run([push, "--dry-run"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
        if done.returncode != 0:
            said = done.stderr.strip().splitlines()
            error = said[-1] if said else f"the dry run ended with status {done.returncode}"
        else:
            differences, lag = pending([line for line in done.stdout.splitlines() if line.strip()], clock())
    except (OSError, subprocess.TimeoutExpired, ValueError) as failed:
        error = str(failed)
    return {"time": round(clock(), 1), "differences": differences, "lag_seconds": lag, "error": error}


def carried(record: dict, previous: dict) -> dict:
    """`record` with the time its error began: the previous record's, while the error goes on."""
    if record["error"]:
        since = previous.get("error_since") if previous.get("error") else None
        record["error_since"] = since if isinstance(since, (int, float)) else record["time"]
    return record


def previous_record(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write(path: str, record: dict) -> None:
    with open(path + ".new", "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.write("\n")
    os.replace(path + ".new", path)


def main(argv: list[str]) -> int:
    if argv[1:] and (len(argv) != 5 or argv[1] != "--write" or argv[3] != "--every" or not argv[4].isdigit()):
        print(__doc__, file=sys.stderr)
        return 2
    record = measure()
    if argv[1:]:
        record = carried(record, previous_record(argv[2]))
        record["fresh_for"] = 2 * int(argv[4]) + TIMEOUT
        write(argv[2], record)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
