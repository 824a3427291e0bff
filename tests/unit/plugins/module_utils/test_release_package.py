import io
import os
import tarfile

import pytest
import yaml

from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    extract_verified,
    scan_source,
    verify_package,
    write_package,
)

DATE = "2026-11-24T10:00:00Z"


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "src"
    (src / "files" / "templates" / "cassiopeia").mkdir(parents=True)
    (src / "sql").mkdir()
    (src / "RELEASE.md").write_text("# New footer\n\nChanges the footer. Roll out as usual.\n")
    (src / "files" / "templates" / "cassiopeia" / "index.php").write_text("<?php echo 'v2';\n")
    (src / "files" / "cli.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "files" / "cli.sh", 0o755)
    (src / "sql" / "001-badge.sql").write_text("ALTER TABLE #__content ADD COLUMN badge INT;\n")
    (src / "delete.txt").write_text("# old files\nmedia/old.js\n\n")
    return src


def build(src, tmp_path, release=2, **kwargs):
    manifest = scan_source(src, release, release - 1, "agency", DATE, **kwargs)
    dest = tmp_path / f"release-{release}.tar.gz"
    checksum = write_package(src, manifest, dest, mtime=1795600000)
    return manifest, dest, checksum


def rewrite(package, change):
    """Rewrite a package's members through change(name, data, info) -> (name, data, info) or None."""
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


def test_manifest_lists_everything_with_checksums_and_modes(source, tmp_path):
    manifest, _, _ = build(source, tmp_path)
    assert manifest["title"] == "New footer"
    assert manifest["release"] == 2 and manifest["previous"] == 1
    assert [(f["path"], f["mode"]) for f in manifest["files"]] == [
        ("cli.sh", "0755"), ("templates/cassiopeia/index.php", "0644")]
    assert manifest["sql"][0]["script"] == "001-badge.sql"
    assert manifest["deletions"] == ["media/old.js"]


def test_packages_are_reproducible(source, tmp_path):
    _, first, sum1 = build(source, tmp_path)
    data1 = first.read_bytes()
    _, second, sum2 = build(source, tmp_path)
    assert sum1 == sum2 and data1 == second.read_bytes()


def test_a_built_package_verifies_and_extracts(source, tmp_path):
    manifest, package, _ = build(source, tmp_path)
    assert verify_package(package, expected_release=2) == manifest
    out = tmp_path / "out"
    extract_verified(package, manifest, out)
    assert (out / "files" / "templates" / "cassiopeia" / "index.php").read_text() == "<?php echo 'v2';\n"
    assert os.stat(out / "files" / "cli.sh").st_mode & 0o777 == 0o755
    assert yaml.safe_load((out / "manifest.yml").read_text()) == manifest


def refusal(excinfo) -> str:
    return "; ".join(str(v) for v in excinfo.value.violations)


@pytest.mark.parametrize(("mutate", "rule"), [
    (lambda s: (s / "RELEASE.md").unlink(), "RELEASE.md: missing"),
    (lambda s: (s / "RELEASE.md").write_text("\n\n"), "empty title"),
    (lambda s: (s / "files" / "images").mkdir() or (s / "files" / "images" / "x.png").write_bytes(b"x"),
     "files/images/x.png: content path"),
    (lambda s: (s / "files" / "configuration.php").write_text("<?php"), "files/configuration.php: content path"),
    (lambda s: os.symlink("/etc/passwd", s / "files" / "passwd"), "files/passwd: link"),
    (lambda s: os.mkfifo(s / "files" / "pipe"), "files/pipe: fifo"),
    (lambda s: (s / "sql" / "002.sql").write_text("TRUNCATE #__content;"), "sql/002.sql:1: truncates content table"),
    (lambda s: (s / "delete.txt").write_text("images/portal/hospital.svg\n"), "content path"),
    (lambda s: (s / "delete.txt").write_text("../../etc/passwd\n"), "path escape"),
    (lambda s: (s / "notes.txt").write_text("x"), "notes.txt: unexpected entry"),
])
def test_sources_that_break_the_policy_are_refused(source, tmp_path, mutate, rule):
    mutate(source)
    with pytest.raises(PackageRefused) as excinfo:
        build(source, tmp_path)
    assert rule in refusal(excinfo)


def test_an_empty_release_is_refused(tmp_path):
    src = tmp_path / "empty"
    src.mkdir()
    (src / "RELEASE.md").write_text("Nothing\n")
    with pytest.raises(PackageRefused, match="empty release"):
        scan_source(src, 2, 1, "agency", DATE)


@pytest.mark.parametrize(("change", "rule"), [
    (lambda n, d, i: (n, d + b"tampered", i) if n.endswith("index.php") else (n, d, i),
     "files/templates/cassiopeia/index.php: checksum does not match"),
    (lambda n, d, i: (n, b"DROP TABLE #__content;", i) if n.startswith("sql/") else (n, d, i),
     "checksum does not match"),
    (lambda n, d, i: ("files/../../escape.php", d, i) if n == "files/cli.sh" else (n, d, i), "path escape"),
    (lambda n, d, i: ("/etc/cron.d/x", d, i) if n == "files/cli.sh" else (n, d, i), "absolute path"),
    (lambda n, d, i: None if n == "files/cli.sh" else (n, d, i), "files/cli.sh: listed in the manifest but not"),
    (lambda n, d, i: None if n == "manifest.yml" else (n, d, i), "manifest.yml: missing"),
])
def test_tampered_packages_are_refused(source, tmp_path, change, rule):
    _, package, _ = build(source, tmp_path)
    rewrite(package, change)
    with pytest.raises(PackageRefused) as excinfo:
        verify_package(package, expected_release=2)
    assert rule in refusal(excinfo)


def test_a_link_inside_a_package_is_refused(source, tmp_path):
    _, package, _ = build(source, tmp_path)

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
    _, package, _ = build(source, tmp_path)

    def smuggle(name, data, info):
        if name == "manifest.yml":
            manifest = yaml.safe_load(data)
            manifest["deletions"].append("images/portal/hospital.svg")
            return name, yaml.safe_dump(manifest).encode(), info
        return name, data, info

    rewrite(package, smuggle)
    with pytest.raises(PackageRefused, match="deletion images/portal/hospital.svg: content path"):
        verify_package(package)


def test_a_number_out_of_sequence_is_refused(source, tmp_path):
    _, package, _ = build(source, tmp_path, release=3)
    with pytest.raises(PackageRefused, match="is release 3, expected release 2"):
        verify_package(package, expected_release=2)


def test_a_file_that_is_not_a_package_is_refused(tmp_path):
    bogus = tmp_path / "release-2.tar.gz"
    bogus.write_bytes(b"not a tarball")
    with pytest.raises(PackageRefused, match="not a readable tar.gz"):
        verify_package(bogus)
