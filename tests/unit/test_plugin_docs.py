"""Every plugin's DOCUMENTATION, EXAMPLES and RETURN are valid YAML that ansible-doc can show."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted((ROOT / "plugins").glob("*/*.py"))
PLUGINS = [p for p in PLUGINS if p.parent.name not in ("module_utils", "action") and p.name != "__init__.py"]
ACTIONS = sorted((ROOT / "plugins" / "action").glob("*.py"))


def doc_blocks(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    # A documentation fragment keeps its blocks in class ModuleDocFragment.
    body = next((n.body for n in tree.body if isinstance(n, ast.ClassDef)), []) if path.parent.name == "doc_fragments" \
        else tree.body
    return {node.targets[0].id: node.value.value for node in body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("DOCUMENTATION", "EXAMPLES",
                                                                                      "RETURN")}


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.name)
def test_an_action_plugin_is_documented_by_its_module(path):
    assert (ROOT / "plugins" / "modules" / path.name).is_file(), f"no module documents the action plugin {path.name}"


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_documentation_is_yaml_with_text_where_text_belongs(path):
    blocks = doc_blocks(path)
    # A callback has no examples or return values, a fragment only options.
    alone = path.parent.name in ("callback", "doc_fragments")
    assert set(blocks) == ({"DOCUMENTATION"} if alone else {"DOCUMENTATION", "EXAMPLES", "RETURN"})
    documentation = yaml.safe_load(blocks["DOCUMENTATION"])
    for name in ("EXAMPLES", "RETURN"):
        yaml.safe_load(blocks.get(name, ""))
    descriptions = [documentation.get("description", "")] + [o["description"] for o in documentation.get("options", {}).values()]
    for description in descriptions:
        for text in description if isinstance(description, list) else [description]:
            assert isinstance(text, str), f"not text (a ': ' inside a line?): {text!r}"
