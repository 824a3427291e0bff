# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PyYAML for the modules that read or write YAML where they run: imported here, and its absence
reported with Ansible's standard message (require) instead of failing the module's import."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import yaml

    IMPORT_ERROR = None
except ImportError:
    yaml = None
    IMPORT_ERROR = traceback.format_exc()


def require(module) -> None:
    """Fail the module with the standard missing-library message when PyYAML is absent."""
    if yaml is None:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=IMPORT_ERROR)
