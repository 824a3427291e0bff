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
    for left_out in ("molecule", "street", "bench", "tools", ".venv", ".street", "Makefile", ".pytest_cache"):
        assert left_out not in tops, left_out
    assert not [n for n in names if n.startswith("inventories/docker") or n.endswith((".png", "vault.yml"))]
    # antsibull-changelog's Markdown escapes the dots: "## v0\.5\.0".
    changelog = ".".join(re.search(r"^## v(\d+)\\\.(\d+)\\\.(\d+)$", (ROOT / "CHANGELOG.md").read_text(), re.M).groups())
    assert manifest["collection_info"]["version"] == changelog
    assert "community.crypto" in manifest["collection_info"]["dependencies"]
