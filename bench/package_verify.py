#!/usr/bin/env python3
"""`make bench`: verifying and unpacking a 200 MB release package, next to plain tools.

A package of 200 MB of media files (random bytes, so gzip cannot shrink them) is built and signed
on the controller. Measured in the same run, each in a fresh process:
- baseline: `sha256sum`, `ssh-keygen -Y verify` and `tar -xzf` of the same package, one after the
  other (three reads of the file);
- release_verify's one pass (checksum, signature, manifest, every member's sha256, unpacking),
  its time and its peak memory (VmHWM) beyond a process that only imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".street" / "collections"))

from ansible_collections.otap.street.plugins.module_utils.release_package import (  # noqa: E402
    scan_source,
    sha256_file,
    write_package,
)

MEGABYTES, PIECE = 200, 8

CHILD = """
import re, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
if sys.argv[2] != "-":
    signers = [{"principal": "agency", "key": Path(sys.argv[5]).read_text()}]
    verify_package(Path(sys.argv[2]), 2, sys.argv[4], Path(sys.argv[2] + ".sig").read_bytes(), signers,
                   check_sql=False, extract_to=Path(sys.argv[3]))
print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
"""


def say(text: str) -> None:
    print(f"bench package: {text}", flush=True)


def timed(command: list[str], **kwargs) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=True, **kwargs)
    return time.monotonic() - started, done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="otap-bench-") as work:
        work = Path(work)
        src = work / "src"
        (src / "files" / "media" / "video").mkdir(parents=True)
        (src / "RELEASE.md").write_text("# Large media\n")
        for n in range(MEGABYTES // PIECE):
            (src / "files" / "media" / "video" / f"clip-{n:02d}.bin").write_bytes(os.urandom(PIECE << 20))
        manifest = scan_source(src, 2, 1, "agency", "2026-12-03T10:00:00Z")
        package = work / "release-2.tar.gz"
        say(f"building a package of {MEGABYTES} MB of media")
        write_package(src, manifest, package, mtime=1796300000)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "agency")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(work / "agency"), "-n", "otap-release",
                        str(package)], check=True)
        checksum = sha256_file(package)
        size = package.stat().st_size / 2**20
        (work / "allowed").write_text(f'agency namespaces="otap-release" {(work / "agency.pub").read_text()}')

        plain = 0.0
        plain += timed(["sha256sum", str(package)])[0]
        with open(package, "rb") as data:
            plain += timed(["ssh-keygen", "-Y", "verify", "-f", str(work / "allowed"), "-I", "agency",
                            "-n", "otap-release", "-s", f"{package}.sig"], stdin=data)[0]
        (work / "plain").mkdir()
        plain += timed(["tar", "-xzf", str(package), "-C", str(work / "plain")])[0]

        collections = str(ROOT / ".street" / "collections")
        idle = int(timed([sys.executable, "-c", CHILD, collections, "-"])[1])
        seconds, peak = timed([sys.executable, "-c", CHILD, collections, str(package), str(work / "unpacked"),
                               checksum, str(work / "agency.pub")])
        grown = (int(peak) - idle) / 1024
        say(f"package {size:.0f} MiB; baseline sha256sum + ssh-keygen -Y verify + tar -xzf: {plain:.2f} s = 1.00")
        say(f"release_verify, one pass: {seconds:.2f} s = {seconds / plain:.2f}x; peak memory beyond its imports "
            f"{grown:.1f} MiB = {grown / size:.3f}x the package")


if __name__ == "__main__":
    main()
