#!/usr/bin/env python3
"""Write each role's README.md from its meta/argument_specs.yml, so the two never drift.

A role may keep hand-written prose in meta/README.notes.md; it is placed after the
variables. `role_readme.py --check` exits 1 when a README is not what this would write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def cell(text: object) -> str:
    """A table cell: a description given as a list (its paragraphs) is joined by spaces."""
    if isinstance(text, list):
        text = " ".join(str(part) for part in text)
    return str(text).replace("|", "\\|").replace("\n", " ")


def default_of(option: dict) -> str:
    if "default" not in option:
        return "(required)" if option.get("required") else "(see defaults/main.yml)"
    return f"`{yaml.safe_dump(option['default'], default_flow_style=True, width=1000).strip().removesuffix('...').strip()}`"


def variable_table(options: dict) -> list[str]:
    lines = ["| variable | type | default | description |", "|----------|------|---------|-------------|"]
    for name, option in options.items():
        kind = option.get("type", "str")
        if kind == "list" and "elements" in option:
            kind = f"list of {option['elements']}"
        lines.append(f"| `{name}` | {kind} | {cell(default_of(option))} | {cell(option['description'])} |")
    return lines


def render(role: Path) -> str:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    meta = yaml.safe_load((role / "meta" / "main.yml").read_text())["galaxy_info"]
    lines = [
        f"# otap.street.{role.name}",
        "",
        meta["description"],
        "",
        "<!-- Written by tools/role_readme.py from meta/argument_specs.yml; edit those, not this. -->",
        "",
    ]
    if "main" in specs:
        lines += ["## Variables", "", *variable_table(specs["main"].get("options", {})), "",
                  "## Use", "", "```yaml", f"- name: Apply {role.name}", "  hosts: all", "  roles:",
                  f"    - role: otap.street.{role.name}", "```", ""]
    for entry, spec in specs.items():
        if entry == "main":
            continue
        options = spec.get("options", {})
        # An entry point that is a part of main (the YAML says so with an alias) takes its variables.
        same = "main" in specs and options and options == specs["main"].get("options")
        lines += [f"## Entry point `{entry}`", "", spec["short_description"], "",
                  *(["The variables of `main`, above."] if same else variable_table(options)), "",
                  "```yaml", f"- name: {spec['short_description'].rstrip('.')}", "  ansible.builtin.include_role:",
                  f"    name: otap.street.{role.name}", f"    tasks_from: {entry}", "```", ""]
    notes = role / "meta" / "README.notes.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report READMEs that are out of step")
    args = parser.parse_args()
    stale = []
    for role in sorted(p for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists()):
        text = render(role)
        readme = role / "README.md"
        if readme.exists() and readme.read_text() == text:
            continue
        stale.append(readme.relative_to(ROOT))
        if not args.check:
            readme.write_text(text)
    if args.check and stale:
        print("out of step with argument_specs.yml (run tools/role_readme.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
