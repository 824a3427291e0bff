# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the modules that hold a release package against the package policy
(module_utils/release_policy): what besides the defaults is content."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  content_paths:
    description: Paths (relative to the Joomla root) that are content, besides the default ones.
    type: list
    elements: str
    default: []
  content_tables:
    description: Content tables (without prefix, C(*) as suffix wildcard), besides the default ones.
    type: list
    elements: str
    default: []
"""
