#!/usr/bin/env python3
"""`make bench`: a production rollout next to doing the same work by hand, in the same run.

Builds a release of a few hundred files and an SQL script that rewrites a table of 20,000 rows,
takes it through Test, Acceptance and approval, then measures on the Production pair:
- the rollout's total time (release.yml, wall clock),
- its maintenance window (first to last 503 seen by a probe on the VIP, 20 requests a second),
and, as the baseline, the same files copied by hand to both nodes (rsync) plus the same SQL run
by hand (mysql) on a copy of the site database. Reports ratios against that baseline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import street  # noqa: E402

FILES, ROWS = 300, 20000


def source(folder: Path, tag: str) -> Path:
    src = folder / f"bench-{tag}"
    (src / "files" / "media" / "bench").mkdir(parents=True)
    (src / "sql").mkdir()
    (src / "RELEASE.md").write_text(f"Benchmark release {tag}\n\n{FILES} files and one table rewrite.\n")
    for i in range(FILES):
        (src / "files" / "media" / "bench" / f"asset-{i:04d}.js").write_text(f"// {tag} {i}\n" + "x" * 8000)
    # Rows written out, a thousand to a statement: the package policy wants every table as #__name,
    # so MariaDB's sequence tables (seq_1_to_N) are refused.
    rows = [", ".join(f"({n}, '{tag}', REPEAT('b', 200))" for n in range(start, min(start + 1000, ROWS + 1)))
            for start in range(1, ROWS + 1, 1000)]
    (src / "sql" / "001-bench.sql").write_text(
        "CREATE TABLE IF NOT EXISTS #__otap_bench (id INT PRIMARY KEY, tag VARCHAR(40), body TEXT);\n"
        + "".join(f"INSERT INTO #__otap_bench (id, tag, body) VALUES {values} "
                  "ON DUPLICATE KEY UPDATE tag = VALUES(tag), body = VALUES(body);\n" for values in rows))
    return src


class Probe(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.maintenance, self.errors = threading.Event(), [], 0

    def run(self):
        while not self.stop.is_set():
            try:
                urllib.request.urlopen(f"http://{street.vip()}/", timeout=3).read()
            except urllib.error.HTTPError as error:
                if error.code == 503:
                    self.maintenance.append(time.monotonic())
                else:
                    self.errors += 1
            except OSError:
                self.errors += 1
            time.sleep(0.05)

    @property
    def window(self) -> float:
        return self.maintenance[-1] - self.maintenance[0] if self.maintenance else 0.0


def must(run: street.Run) -> None:
    if run.rc:
        sys.exit(run.output[-3000:])


def by_hand(src: Path, prefix: str) -> float:
    """The same files to both nodes and the same SQL on a copy of the database, timed together."""
    nodes = street.group("production")
    primary = street.host(street.primary())
    primary.check_output("mysql -e 'DROP DATABASE IF EXISTS otap_bench_baseline; CREATE DATABASE otap_bench_baseline'")
    # The SQL goes as a file (too long for one command line), with the site's prefix, as the release's does.
    by_hand_sql = src.parent / f"{src.name}-by-hand.sql"
    by_hand_sql.write_text((src / "sql" / "001-bench.sql").read_text().replace("#__", prefix))
    key = street.hostvar(nodes[0], "ansible_ssh_private_key_file")
    ssh = f"ssh -i {Path(key).expanduser()} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    started = time.monotonic()
    for node in nodes:
        login = f"{street.hostvar(node, 'ansible_user')}@{street.hostvar(node, 'ansible_host')}"
        subprocess.run(["rsync", "-a", "-e", ssh, "--rsync-path=sudo rsync", f"{src}/files/", f"{login}:/tmp/bench-by-hand/"],
                       check=True)
    login = f"{street.hostvar(street.primary(), 'ansible_user')}@{street.hostvar(street.primary(), 'ansible_host')}"
    subprocess.run(["rsync", "-a", "-e", ssh, "--rsync-path=sudo rsync", str(by_hand_sql), f"{login}:/tmp/bench-by-hand/"],
                   check=True)
    primary.check_output(f"mysql otap_bench_baseline < /tmp/bench-by-hand/{by_hand_sql.name}")
    elapsed = time.monotonic() - started
    primary.check_output("mysql -e 'DROP DATABASE otap_bench_baseline'")
    for node in nodes:
        street.host(node).check_output("rm -rf /tmp/bench-by-hand")
    return elapsed


def main() -> None:
    tag = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="otap-bench-"))
    try:
        src = source(work, tag)
        must(street.playbook("package", otap_package_src=src))
        number = int(street.host("store").check_output(
            "python3 -c \"import yaml; print(yaml.safe_load(open('/srv/otap-store/register/releases.yml'))"
            "['releases'][-1]['release'])\""))
        for env in ("test", "acceptance"):
            must(street.playbook("release", otap_env=env, otap_release=number))
        must(street.playbook("approve", otap_release=number, otap_approver="carla"))
        probe = Probe()
        probe.start()
        started = time.monotonic()
        rollout = street.playbook("release", otap_env="production", otap_release=number)
        total = time.monotonic() - started
        must(rollout)
        went = re.search(r"it gets release\(s\) ([0-9, ]+)", rollout.output)
        probe.stop.set()
        probe.join()
        baseline = by_hand(src, "jos_")
    finally:
        shutil.rmtree(work)
    print(f"release {number}: {FILES} files ({FILES * 8 // 1000} MB), SQL rewriting {ROWS} rows, production pair"
          f" (production got release(s) {went.group(1) if went else number} in this rollout)")
    print(f"  baseline, by hand (rsync to both nodes + mysql):  {baseline:6.1f} s   = 1.00")
    print(f"  release.yml to production, total:                {total:6.1f} s   = {total / baseline:.2f} x baseline")
    print(f"  maintenance window seen on the VIP (503s):       {probe.window:6.1f} s   = {probe.window / baseline:.2f} x baseline")
    print(f"  failed requests on the VIP other than 503:       {probe.errors}")


if __name__ == "__main__":
    main()
