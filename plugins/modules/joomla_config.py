#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change settings in a Joomla site's configuration.php, as Joomla's `config:set` does."""

from __future__ import annotations

DOCUMENTATION = r"""
module: joomla_config
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Set JConfig properties in a Joomla site's configuration.php
description:
  - Sets the given C(JConfig) properties (for example C(offline) to put the site in maintenance)
    and leaves every other line of the file exactly as it was.
  - The file is replaced atomically, keeping its owner, group and mode, so PHP never reads a
    half-written configuration.
  - PHP reads the file through its opcode cache, which looks at a file's time only every few
    seconds (C(opcache.revalidate_freq)); with I(reload), the service named (PHP-FPM) is reloaded
    when a setting changed, so the next request already runs with it (a maintenance is seen at once).
options:
  path:
    description: The site's C(configuration.php).
    type: path
    required: true
  settings:
    description: Properties to set, name to value (strings, numbers, booleans).
    type: dict
    required: true
  reload:
    description: A service to reload when a setting changed (PHP-FPM); empty reloads nothing.
    type: str
    default: ""
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Values are not shown in the diff when a secret is set.
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Put the site offline while its database changes
  otap.street.joomla_config:
    path: /var/www/portal/shared/configuration.php
    settings:
      offline: true
"""

RETURN = r"""
changed_settings:
  description: Names of the properties that changed.
  type: list
  elements: str
  returned: success
reloaded:
  description: Whether I(reload) was reloaded.
  type: bool
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.joomla import SECRET_KEYS, JoomlaFileError, replace_config, set_config


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), settings=dict(type="dict", required=True),
                           reload=dict(type="str", default="")),
        supports_check_mode=True,
    )
    path, settings = module.params["path"], module.params["settings"]
    try:
        with open(path, encoding="utf-8") as handle:
            before = handle.read()
        after, changed = set_config(before, settings)
    except (OSError, JoomlaFileError) as error:
        module.fail_json(msg=f"cannot change {path}: {error}")
    reload = bool(changed) and bool(module.params["reload"])
    result = dict(changed=bool(changed), changed_settings=changed, reloaded=reload)
    if changed and module._diff and not SECRET_KEYS.intersection(changed):
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)
    if changed and not module.check_mode:
        replace_config(module, path, after)
    if reload and not module.check_mode:
        rc, dummy, err = module.run_command(["systemctl", "reload", module.params["reload"]])
        if rc != 0:
            module.fail_json(msg=f"{path} is changed ({', '.join(changed)}), but {module.params['reload']} did not "
                                 f"reload, so PHP may go on reading the old settings for seconds: {err.strip()}",
                             **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
