"""The built collection holds what a user installs, and nothing of the street or its secrets."""

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_artifact_holds_the_collection_and_not_the_street(tmp_path):
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    run = subprocess.run([str(galaxy), "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    (artifact,) = tmp_path.glob("otap-street-*.tar.gz")
    with tarfile.open(artifact) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    tops = {name.split("/")[0] for name in names}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "changelogs", "roles", "plugins", "playbooks", "meta", "docs"} <= tops
    assert {n.split("/")[1] for n in names if n.startswith("tests/")} <= {"sanity"}
    for left_out in ("molecule", ".config", "street", "bench", "tools", ".venv", ".street", "Makefile", ".pytest_cache"):
        assert left_out not in tops, left_out
    assert not [n for n in names if n.startswith("inventories/docker") or n.endswith((".png", "vault.yml"))]
    # antsibull-changelog's Markdown escapes the dots: "## v0\.5\.0".
    changelog = ".".join(re.search(r"^## v(\d+)\\\.(\d+)\\\.(\d+)$", (ROOT / "CHANGELOG.md").read_text(), re.M).groups())
    assert manifest["collection_info"]["version"] == changelog
    assert "community.crypto" in manifest["collection_info"]["dependencies"]


def test_the_installed_artifact_runs_its_playbooks_and_modules(tmp_path):
    """What a user gets from `ansible-galaxy collection install`: its playbooks load (every role they
    name resolves) and its modules run, from the install alone (not this checkout)."""
    bin_dir = Path(sys.executable).parent
    run = subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path),
                          str(ROOT)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    (artifact,) = tmp_path.glob("otap-street-*.tar.gz")
    installed = tmp_path / "collections"
    # Only the install and what the `ansible` package ships; no ansible.cfg of this checkout.
    env = {"PATH": str(bin_dir) + ":/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_COLLECTIONS_PATH": str(installed),
           "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    run = subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(installed),
                          str(artifact)], capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    listed = subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "list", "otap.street", "--format", "json"],
                            capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
    assert list(json.loads(listed.stdout)) == [str(installed / "ansible_collections")], listed.stdout + listed.stderr

    playbooks = sorted(f"otap.street.{p.stem}" for p in (ROOT / "playbooks").glob("*.yml"))
    run = subprocess.run([str(bin_dir / "ansible-playbook"), "-i", "localhost,", "--syntax-check", *playbooks],
                         capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    store = tmp_path / "store"
    (store / "register").mkdir(parents=True)
    (store / "register" / "releases.yml").write_text("releases:\n  - {release: 1, sha256: abc, title: First}\n")
    (store / "register" / "deployments.yml").write_text("deployments: []\n")
    gate = tmp_path / "gate.yml"
    gate.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                    "    - name: Ask the gate\n      otap.street.release_gate:\n"
                    f"        store_dir: {store}\n        release: 1\n        env: \"{{{{ env }}}}\"\n")
    outcomes = {}
    for target in ("test", "production"):
        done = subprocess.run([str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(gate),
                               "-e", f"env={target}", "-e", f"ansible_python_interpreter={sys.executable}"],
                              capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
        outcomes[target] = (done.returncode, " ".join(done.stdout.split()))
    assert outcomes["test"][0] == 0, outcomes["test"][1][-2000:]
    assert outcomes["production"][0] != 0 and "Release 1 is not on acceptance yet" in outcomes["production"][1], \
        outcomes["production"][1][-2000:]
