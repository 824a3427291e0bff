"""Each role's typed interface (meta/argument_specs.yml) agrees with its defaults and README."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())


def spec_options(role: Path) -> dict:
    """The options of every entry point (main, and tasks_from ones such as pair_state)."""
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options: dict = {}
    for spec in specs.values():
        for name, option in spec.get("options", {}).items():
            if "default" in option and "default" in options.get(name, {}):
                assert option["default"] == options[name]["default"], f"{name}: defaults differ between entry points"
            if "default" in option or name not in options:
                options[name] = option
    return options


def defaults(role: Path) -> dict:
    path = role / "defaults" / "main.yml"
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_default_is_a_documented_option_and_back(role):
    options, values = spec_options(role), defaults(role)
    assert set(values) - set(options) == set(), "defaults without an argument spec"
    assert {n for n, o in options.items() if not o.get("required")} - set(values) == set(), \
        "optional options without a default in defaults/main.yml"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_spec_defaults_match_defaults_main(role):
    values = defaults(role)
    for name, option in spec_options(role).items():
        if "default" in option:
            assert option["default"] == values[name], name


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_public_variables_carry_the_role_name(role):
    for name in list(spec_options(role)) + list(defaults(role)):
        assert name.startswith(f"{role.name}_"), name


def test_role_readmes_are_in_step_with_their_specs():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "role_readme.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout
