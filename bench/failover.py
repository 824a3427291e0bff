#!/usr/bin/env python3
"""`make bench`: how long the production VIP is unavailable during the pair's operations.

A probe on the VIP (5 reads and 5 writes a second, each on a new connection, none retried)
runs through each operation; the measure is the longest stretch without a prompt answer
(a request that waits more than a second counts as unanswered). The baseline is that same
measure over an equally long stretch in which nothing happens, measured in the same run.

  switchover        failover.yml -e otap_action=switchover
  primary crash     `docker kill` of the primary's container (reads and writes reported apart);
                    then reseed, which puts the pair back
  partition         the nodes cut apart for 30 s (each still reaching the witness): the most
                    writable databases seen, sampled every second (must be 1)
  isolated primary  the primary cut off from the standby and the witness for 20 s: how long two
                    databases took writes at once (each node's read_only sampled on the node ten
                    times a second; must be 0), the seconds from the primary's fence to the
                    standby's promotion, and the acknowledged writes stranded on the fenced node;
                    then reseed, which puts the pair back
  rolling OS update os_update.yml on Production, of a snapshot approved on Acceptance: rebuilt
                    Debian packages (one asks for a reboot, one takes MariaDB's path)

An editor saves an upload through the VIP every half second during each operation. Counted
afterwards: acknowledged writes (the probe's votes) and saved uploads missing on a node. First,
the uploads' replication lag: the time from a file's creation on the primary to its arrival on
the standby, read from both files' change times (the containers share one clock).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import street  # noqa: E402

PAIR = street.group("production")


def must(run: street.Run) -> street.Run:
    if run.rc:
        sys.exit(run.output[-3000:])
    return run


def idle(seconds: float) -> street.Probe:
    with street.Probe(street.vip()) as probe:
        time.sleep(seconds)
    return probe


def during(action) -> tuple[street.Probe, float, street.Editor]:
    editor = street.Editor(timeout=10)
    with street.Probe(street.vip(), timeout=10) as probe, editor:
        time.sleep(2)
        started = time.monotonic()
        action()
        elapsed = time.monotonic() - started
        time.sleep(2)
    return probe, elapsed, editor


def lost(probe: street.Probe, editor: street.Editor, nodes: list[str] = PAIR) -> str:
    """Acknowledged writes and saved uploads missing on one of the nodes, once replication settled."""
    time.sleep(5)
    writes = max(probe.writes - probe.votes_on(name) for name in nodes)
    uploads = max(len(set(editor.saved) - editor.on(name)) for name in nodes)
    return f"lost {writes} of {probe.writes} acknowledged writes, {uploads} of {len(editor.saved)} saved uploads"


def change_times(name: str, prefix: str) -> dict[str, float]:
    listing = street.host(name).check_output(
        f"find {street.Editor.FOLDER}/ -name '{prefix}-*' -printf '%f %C@\\n'")
    return {line.split()[0]: float(line.split()[1]) for line in listing.splitlines() if line.strip()}


def upload_lag() -> str:
    """How long a saved upload takes to reach the standby: median and worst of 40."""
    editor = street.Editor()
    with editor:
        time.sleep(20)
    time.sleep(10)
    primary, standby = street.primary(), next(n for n in PAIR if n != street.primary())
    written, arrived = change_times(primary, editor.prefix), change_times(standby, editor.prefix)
    lags = [arrived[name] - written[name] for name in editor.saved if name in arrived and name in written]
    missing = len(editor.saved) - len(lags)
    return (f"median {statistics.median(lags):.2f} s, worst {max(lags):.2f} s over {len(lags)} uploads"
            f"{f'; {missing} never arrived' if missing else ''}")


def crash() -> None:
    primary = street.primary()
    subprocess.run(["docker", "kill", f"otap-{primary}"], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    survivor = next(n for n in PAIR if n != primary)
    while time.monotonic() < deadline:
        if street.host(survivor).check_output("mysql -N -e 'SELECT @@global.read_only'") == "0":
            break
        time.sleep(0.5)
    time.sleep(5)
    subprocess.run(["docker", "start", f"otap-{primary}"], check=True, capture_output=True)


def partition() -> str:
    """The nodes cut apart for 30 s under the probe, sampled every second until the pair has
    converged again: the most writable databases and VIP holders seen, and what the probe lost."""
    with street.Probe(street.vip(), timeout=5) as probe:
        time.sleep(2)
        samples, converged = street.partition(seconds=30)
    time.sleep(5)
    lost_writes = max(probe.writes - probe.votes_on(name) for name in PAIR)
    return (f"at most {max(len(w) for w, _ in samples)} writable database(s) and "
            f"{max(len(h) for _, h in samples)} VIP holder(s) in {len(samples)} samples "
            f"(two holders in {sum(1 for _, h in samples if len(h) > 1)}); "
            f"{f'converged {converged:.0f} s after the heal' if converged is not None else 'NOT converged'}; "
            f"lost {lost_writes} of {probe.writes} acknowledged writes, {len(probe.failures)} requests failed")


def isolated_primary() -> str:
    """The primary cut off from the standby and the witness for 20 s under the probe; then the
    reseed that rebuilds it (what it held alone is kept on the store)."""
    isolated = street.primary()
    standby = next(n for n in PAIR if n != isolated)
    with street.Probe(street.vip(), timeout=5) as probe, street.WritableTimeline() as timeline:
        time.sleep(2)
        with street.cut_off(isolated, [standby, "store"]):
            time.sleep(20)
        time.sleep(3)
    stranded = probe.writes - probe.votes_on(standby)
    must(street.playbook("failover", otap_action="reseed", otap_confirm=isolated))
    return (f"two writable databases for {timeline.both_writable():.2f} s; the standby writable "
            f"{timeline.handover(isolated, standby):.1f} s after the primary's last writable sample; "
            f"{stranded} of {probe.writes} acknowledged writes stranded on the fenced node (kept by the reseed), "
            f"{len(probe.failures)} requests failed")


def rolling_update() -> None:
    must(street.playbook("os_update", otap_env="production"))


def main() -> None:
    # Sorts after any version the street has (Debian compares the suffix letter by letter).
    tag = "zbench" + time.strftime("%Y%m%d%H%M%S")
    results = {}
    print("uploads' replication lag, an editor saving every half second for 20 s ...", flush=True)
    lag = upload_lag()
    print("switchover under the probe and the editor ...", flush=True)
    probe, elapsed, editor = during(lambda: must(street.playbook("failover", otap_action="switchover")))
    results["switchover"] = (probe, elapsed, lost(probe, editor))
    print("the nodes cut apart for 30 s under the probe ...", flush=True)
    cut = partition()
    print("the primary cut off from the standby and the witness for 20 s under the probe, then reseed ...",
          flush=True)
    isolation = isolated_primary()
    print("crash of the primary under the probe and the editor, then reseed ...", flush=True)
    probe, elapsed, editor = during(crash)
    # The crashed node is a stray now: what counts is what the survivor, the new primary, has.
    results["primary crash"] = (probe, elapsed, lost(probe, editor, [street.primary()]))
    time.sleep(20)
    # A crash may leave commits only the crashed node holds: the reseed keeps them on the store and
    # asks for the node's name first; the bench confirms (the report is what it lost).
    crashed = next(n for n in PAIR if n != street.primary())
    reseed = must(street.playbook("failover", otap_action="reseed", otap_confirm=crashed))
    kept = re.search(r"what only it held is kept on \S+ in (\S+)\.", " ".join(reseed.output.split()))
    print(f"  the crashed node held {'content the survivor lacked, kept in ' + kept.group(1) if kept else 'nothing the survivor lacked'}")
    nodes = street.group("test") + street.group("acceptance") + PAIR
    with street.PackageRepository(nodes, ["less", "mariadb-common"]) as repository:
        repository.publish("build", tag, "reboot")
        repository.publish("index", tag)
        must(street.playbook("os_update", otap_env="test"))
        run = must(street.playbook("os_update", otap_env="acceptance"))
        snapshot = re.search(r"Snapshot (acceptance-\d{8}T\d{6}Z) recorded", run.output).group(1)
        must(street.playbook("approve", otap_snapshot=snapshot, otap_approver="carla"))
        print(f"rolling OS update of snapshot {snapshot} under the probe ...", flush=True)
        probe, elapsed, editor = during(rolling_update)
        results["rolling OS update"] = (probe, elapsed, lost(probe, editor))
    baseline = idle(20).longest_gap()
    print(f"uploads' replication lag: {lag}")
    print(f"partition of the pair (30 s): {cut}")
    print(f"isolated primary (20 s): {isolation}")
    print("content through each operation:")
    for name, (_, _, losses) in results.items():
        print(f"  {name + ':':<36} {losses}")
    print("unavailability of the production VIP (longest stretch without a prompt answer):")
    print(f"  baseline, nothing happening (20 s):   {baseline:5.2f} s = 1.0")
    for name, (probe, elapsed, _) in results.items():
        failed = len(probe.failures)
        line = f"  {name + ':':<36} {probe.longest_gap():5.2f} s = {probe.longest_gap() / baseline:5.1f} x baseline"
        if name == "primary crash":
            line += (f" (reads {probe.longest_gap(writes=False):.2f} s, writes {probe.longest_gap(writes=True):.2f} s;"
                     f" {failed} requests failed while the VIP moved)")
        else:
            line += (f" ({failed} failed of {len(probe.results)} requests, the longest a visitor waited "
                     f"{probe.longest_wait():.2f} s; operation took {elapsed:.0f} s)")
        print(line)


if __name__ == "__main__":
    main()
