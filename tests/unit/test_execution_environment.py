"""AWX's execution environment (awx/execution-environment.yml) holds what the collection needs, at
the versions the street is tested with, on Python 3.11, and the collection from its artifact."""

import importlib.util
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EE = yaml.safe_load((ROOT / "awx" / "execution-environment.yml").read_text())


def version_used_here(name: str) -> str:
    """The version of a collection that the ansible package of requirements.txt installs here."""
    location = importlib.util.find_spec(f"ansible_collections.{name}").submodule_search_locations[0]
    return json.loads((Path(location) / "MANIFEST.json").read_text())["collection_info"]["version"]


def test_the_collection_s_dependencies_are_pinned_to_the_version_used_heres():
    dependencies = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    pinned = {c["name"]: c["version"] for c in EE["dependencies"]["galaxy"]["collections"]}
    assert set(pinned) == set(dependencies)
    assert pinned == {name: version_used_here(name) for name in pinned}


def test_python_3_11_and_the_collection_from_its_artifact():
    assert EE["dependencies"]["python_interpreter"]["python_path"] == "/usr/bin/python3.11"
    assert EE["additional_build_files"] == [{"src": "../.street/build", "dest": "otap.street"}]
    assert any("ansible-galaxy collection install" in step and "otap-street-*.tar.gz" in step
               for step in EE["additional_build_steps"]["append_final"])
    assert all("==" in package for package in EE["dependencies"]["python"])
