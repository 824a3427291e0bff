"""Every plugin's DOCUMENTATION, EXAMPLES and RETURN are valid YAML that ansible-doc can show."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted((ROOT / "plugins").glob("*/*.py"))
PLUGINS = [p for p in PLUGINS if p.parent.name != "module_utils" and p.name != "__init__.py"]


def doc_blocks(path: Path) -> dict[str, str]:
    return {node.targets[0].id: node.value.value for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("DOCUMENTATION", "EXAMPLES",
                                                                                      "RETURN")}


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_documentation_is_yaml_with_text_where_text_belongs(path):
    blocks = doc_blocks(path)
    # A callback has no examples or return values to document.
    assert set(blocks) == ({"DOCUMENTATION"} if path.parent.name == "callback" else {"DOCUMENTATION", "EXAMPLES", "RETURN"})
    documentation = yaml.safe_load(blocks["DOCUMENTATION"])
    for name in ("EXAMPLES", "RETURN"):
        yaml.safe_load(blocks.get(name, ""))
    descriptions = [documentation["description"]] + [o["description"] for o in documentation.get("options", {}).values()]
    for description in descriptions:
        for text in description if isinstance(description, list) else [description]:
            assert isinstance(text, str), f"not text (a ': ' inside a line?): {text!r}"
