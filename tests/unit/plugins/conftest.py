"""What the tests of modules and action plugins share: running a module's main() in-process."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


@pytest.fixture
def run_module(monkeypatch):
    """Run a module's main() with arguments; return its result (failed=True on fail_json)."""
    from ansible.module_utils import basic

    def exit_json(self, **kwargs):
        raise ModuleExit({"failed": False, **kwargs})

    def fail_json(self, msg, **kwargs):
        raise ModuleExit({"failed": True, "msg": msg, **kwargs})

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def run(module, **args):
        with patch_module_args(args):
            try:
                module.main()
            except ModuleExit as done:
                return json.loads(json.dumps(done.result, default=str))
        raise AssertionError("the module returned without exit_json or fail_json")

    return run
