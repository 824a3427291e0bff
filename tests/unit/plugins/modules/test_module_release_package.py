import subprocess

from ansible_collections.otap.street.plugins.modules import release_package, release_verify


def agency_key(tmp_path):
    key = tmp_path / "agency"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return str(key), [{"principal": "agency", "key": (tmp_path / "agency.pub").read_text()}]


def source(tmp_path):
    src = tmp_path / "src"
    (src / "files").mkdir(parents=True)
    (src / "RELEASE.md").write_text("Footer text\n")
    (src / "files" / "index.php").write_text("<?php\n")
    return src


def build(run_module, tmp_path, **extra):
    src = tmp_path / "src" if (tmp_path / "src").exists() else source(tmp_path)
    args = dict(src=str(src), dest_dir=str(tmp_path / "out"), last_release=1,
                author="agency", date="2026-11-24T10:00:00Z")
    return run_module(release_package, **(args | extra))


def test_builds_and_signs_the_next_release_and_it_verifies(run_module, tmp_path):
    key, signers = agency_key(tmp_path)
    built = build(run_module, tmp_path, signing_key=key)
    assert built["changed"] and built["release"] == 2
    assert built["package"].endswith("release-2.tar.gz") and built["signature"] == built["package"] + ".sig"
    verify = dict(package=built["package"], release=2, sha256=built["sha256"], signature=built["signature"],
                  signers=signers, sql_policy=True, extract_to=str(tmp_path / "unpacked"))
    verified = run_module(release_verify, **verify)
    assert not verified["failed"] and verified["changed"] and verified["signed_by"] == "agency"
    assert (tmp_path / "unpacked" / "files" / "index.php").read_text() == "<?php\n"
    again = run_module(release_verify, **verify)
    assert not again["failed"] and not again["changed"]


def test_an_unsigned_package_is_refused_where_signers_are_known(run_module, tmp_path):
    _, signers = agency_key(tmp_path)
    built = build(run_module, tmp_path)
    result = run_module(release_verify, package=built["package"], signature=built["package"] + ".sig", signers=signers)
    assert result["failed"] and "it has no signature" in result["msg"]


def test_the_same_source_again_builds_nothing(run_module, tmp_path):
    first = build(run_module, tmp_path)
    registered = [{"release": 2, "fingerprint": first["fingerprint"]}, {"release": 3, "fingerprint": "other"}]
    second = build(run_module, tmp_path, last_release=3, registered=registered)
    assert not second["changed"] and second["release"] == 2 and second["package"] == ""


def test_a_withdrawn_release_is_built_again_under_a_new_number(run_module, tmp_path):
    first = build(run_module, tmp_path)
    registered = [{"release": 2, "fingerprint": first["fingerprint"], "withdrawn": {"by": "ops"}}]
    again = build(run_module, tmp_path, last_release=2, registered=registered)
    assert again["changed"] and again["release"] == 3


def test_a_refused_source_writes_nothing_and_names_the_rule(run_module, tmp_path):
    src = source(tmp_path)
    (src / "files" / "configuration.php").write_text("<?php\n")
    result = run_module(release_package, src=str(src), dest_dir=str(tmp_path / "out"), last_release=1,
                        author="agency", date="2026-11-24T10:00:00Z")
    assert result["failed"] and "files/configuration.php: content path" in result["msg"]
    assert not (tmp_path / "out").exists()


def test_a_changed_package_is_refused_by_the_register_checksum(run_module, tmp_path):
    built = build(run_module, tmp_path)
    result = run_module(release_verify, package=built["package"], sha256="0" * 64, extract_to=str(tmp_path / "u"))
    assert result["failed"] and "checksum differs from the register" in result["msg"]
    assert not (tmp_path / "u").exists()


def test_a_bad_date_is_refused(run_module, tmp_path):
    result = build(run_module, tmp_path, date="yesterday")
    assert result["failed"] and "not ISO 8601" in result["msg"]
