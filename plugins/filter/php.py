"""Filters that write PHP source, for Joomla's configuration.php."""

from __future__ import annotations

DOCUMENTATION = r"""
name: php_literal
author: otap.street maintainers
version_added: 0.1.0
short_description: Write a value as a PHP literal
description:
  - Turns a boolean, number or string into PHP source that evaluates to the same value, as
    Joomla's C(configuration.php) holds them (booleans as C(1)/C(0), strings single-quoted).
  - Strings are escaped so that no value can end the literal early or inject PHP code.
options:
  _input:
    description: The value.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Render a JConfig property
  ansible.builtin.debug:
    msg: "public $sitename = {{ joomla_site_sitename | otap.street.php_literal }};"
"""

RETURN = r"""
_value:
  description: PHP source of the value.
  type: str
"""

from ansible.errors import AnsibleFilterError


def php_literal(value) -> str:
    """PHP source for a scalar: 1/0 for booleans, numbers as they are, strings single-quoted."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "''"
    if isinstance(value, str):
        # In a single-quoted PHP string only the backslash and the quote are special.
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise AnsibleFilterError(
        f"php_literal: cannot write a {type(value).__name__} as a PHP scalar; "
        "give a string, number or boolean"
    )


class FilterModule:
    def filters(self):
        return {"php_literal": php_literal}
