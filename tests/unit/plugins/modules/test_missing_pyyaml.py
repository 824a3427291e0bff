"""A module that reads or writes YAML, on a host without PyYAML: the standard missing-library
message, and nothing touched."""

from ansible_collections.otap.street.plugins.module_utils import pyyaml
from ansible_collections.otap.street.plugins.modules import street_lock


def test_a_host_without_pyyaml_gets_the_standard_message(run_module, monkeypatch, tmp_path):
    monkeypatch.setattr(pyyaml, "yaml", None)
    monkeypatch.setattr(pyyaml, "IMPORT_ERROR", "ModuleNotFoundError: No module named 'yaml'")
    result = run_module(street_lock, path=str(tmp_path / "lock.yml"), run_id="1")
    assert result["failed"] and "Failed to import the required Python library (PyYAML)" in result["msg"]
    assert not (tmp_path / "lock.yml").exists()
