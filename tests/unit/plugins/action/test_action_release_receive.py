"""The action plugin of release_receive for real: the ansible CLI ad hoc, a local "node" whose
temporary folder and work folder are in tmp_path."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.modules import release_package

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(name="node")
def fixture_node(tmp_path, run_module):
    key = tmp_path / "agency"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    src = tmp_path / "src"
    (src / "files").mkdir(parents=True)
    (src / "RELEASE.md").write_text("Release 2\n")
    (src / "files" / "index.php").write_text("two\n")
    built = run_module(release_package, src=str(src), dest_dir=str(tmp_path / "cache"), last_release=1,
                       author="agency", date="2026-11-24T10:00:00Z", signing_key=str(key))
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {ROOT / '.street' / 'collections'}\n"
                                          f"remote_tmp = {tmp_path / 'node-tmp'}\n")
    (tmp_path / "hosts").write_text(f"node ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return {"incoming": str(tmp_path / "cache"), "work_dir": str(tmp_path / "work"),
            "releases": [{"release": 2, "sha256": built["sha256"]}],
            "signers": [{"principal": "agency", "key": (tmp_path / "agency.pub").read_text()}]}


def receive(tmp_path: Path, args: dict) -> dict:
    done = subprocess.run([str(Path(sys.executable).with_name("ansible")), "node", "-i", str(tmp_path / "hosts"),
                           "-m", "otap.street.release_receive", "-a", json.dumps(args)],
                          capture_output=True, text=True, check=False, cwd=tmp_path,
                          env=os.environ | {"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
                                            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                                            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
    return json.loads(done.stdout[done.stdout.index("{"):])["plays"][0]["tasks"][0]["hosts"]["node"]


def test_the_packages_go_to_the_node_and_nothing_is_left_in_its_temporary_folder(tmp_path, node):
    result = receive(tmp_path, node)
    assert not result.get("failed") and result["changed"], result
    work = tmp_path / "work"
    for name in ("release-2.tar.gz", "release-2.tar.gz.sig"):
        assert (work / "packages" / name).read_bytes() == (tmp_path / "cache" / name).read_bytes()
    assert (work / "unpacked" / "2" / "files" / "index.php").read_text() == "two\n"
    assert list((tmp_path / "node-tmp").iterdir()) == []
    again = receive(tmp_path, node)
    assert not again.get("failed") and not again["changed"] and list((tmp_path / "node-tmp").iterdir()) == []


@pytest.mark.parametrize("incoming", [None, "cache", "/nonexistent/cache"])
def test_the_controller_s_folder_must_be_named_by_its_absolute_path(tmp_path, node, incoming):
    args = {k: v for k, v in node.items() if k != "incoming"} | ({"incoming": incoming} if incoming else {})
    result = receive(tmp_path, args)
    assert result.get("failed") and "incoming must be the controller's folder" in result["msg"], result
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("release", ["../../etc/x", -2, "٢"])
def test_a_release_that_is_not_a_number_copies_nothing(tmp_path, node, release):
    result = receive(tmp_path, node | {"releases": [{"release": release, "sha256": "0" * 64}]})
    assert result.get("failed") and "is not a release number" in result["msg"], result
    assert not (tmp_path / "work").exists()
