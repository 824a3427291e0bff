# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that write PHP source, for Joomla's configuration.php."""

from __future__ import annotations

DOCUMENTATION = r"""
name: php_literal
author: otap.street maintainers (!UNKNOWN)
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
from ansible_collections.otap.street.plugins.module_utils.joomla import JoomlaFileError
from ansible_collections.otap.street.plugins.module_utils.joomla import php_literal as _php_literal


def php_literal(value) -> str:
    """PHP source for a scalar: 1/0 for booleans, numbers as they are, strings single-quoted."""
    try:
        return _php_literal(value)
    except JoomlaFileError as error:
        raise AnsibleFilterError(f"php_literal: {error}") from error


class FilterModule:
    def filters(self):
        return {"php_literal": php_literal}
