#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a staged release live on one node: the link swap, PHP-FPM's reload and the settings that go with it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_switch
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Make release N live on one node - swap current, reload PHP-FPM, apply settings
description:
  - The node's step of role joomla_site's entry point C(switch), in one call - the release's code
    tree becomes live by an atomic swap of the link C(current) (a new link renamed over the old, so a
    request sees the old tree or the new, never none); PHP-FPM reloads where the link moved (or
    always, with I(reload), and whenever a setting changes), so no cached path or opcode of the old
    tree is served; then the given
    C(configuration.php) settings are applied (for example C(offline=false), which ends the
    maintenance window only once the new tree is served).
  - Fails, changing nothing, when the release is not staged on the node.
options:
  root:
    description: The site's root, which holds C(current), C(releases/) and C(shared/configuration.php).
    type: path
    required: true
  release:
    description: The release to make live (C(releases/<release>)).
    type: int
    required: true
  service:
    description: The PHP-FPM service to reload.
    type: str
    required: true
  reload:
    description: Reload PHP-FPM even when C(current) already pointed at the release.
    type: bool
    default: false
  settings:
    description: C(JConfig) properties to set in C(shared/configuration.php) once the release is served (name to value).
    type: dict
    default: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The link's target, and the settings' lines unless a secret is among them.
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Make release 7 live on every node and end the maintenance window
  otap.street.release_switch:
    root: /var/www/portal
    release: 7
    service: php8.2-fpm
    settings:
      offline: false
  delegate_to: "{{ item }}"
  loop: "{{ groups['production'] }}"
"""

RETURN = r"""
previous:
  description: The release C(current) pointed at before (null when it pointed at no release).
  type: int
  returned: success
moved:
  description: Whether C(current) moved.
  type: bool
  returned: success
reloaded:
  description: Whether PHP-FPM was reloaded.
  type: bool
  returned: success
changed_settings:
  description: Names of the settings that changed.
  type: list
  elements: str
  returned: success
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.joomla import (
    SECRET_KEYS,
    JoomlaFileError,
    replace_config,
    set_config,
)

_RELEASE_LINK = re.compile(r"^releases/(\d+)/?$")


def current_release(link: str, root: str) -> int | None:
    """The release `link` (current) points at, written relative to `root` or absolute; None when it
    is missing or points elsewhere."""
    try:
        target = os.readlink(link)
    except OSError:
        return None
    found = _RELEASE_LINK.match(os.path.relpath(target, root) if os.path.isabs(target) else target)
    return int(found.group(1)) if found else None


def swap_link(root: str, release: int) -> None:
    """Point root/current at releases/<release> atomically: a new link renamed over the old."""
    link = os.path.join(root, "current")
    fresh = os.path.join(root, f".current.{os.getpid()}")
    if os.path.lexists(fresh):  # left by a run that died between the two steps
        os.unlink(fresh)
    os.symlink(f"releases/{release}", fresh)
    os.replace(fresh, link)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            release=dict(type="int", required=True),
            service=dict(type="str", required=True),
            reload=dict(type="bool", default=False),
            settings=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    root, release, settings = module.params["root"], module.params["release"], module.params["settings"]
    tree = os.path.join(root, "releases", str(release))
    if not os.path.isdir(tree):
        module.fail_json(msg=f"release {release} is not staged on this node ({tree} is missing); nothing was changed")
    link = os.path.join(root, "current")
    if os.path.lexists(link) and not os.path.islink(link):
        module.fail_json(msg=f"{link} is not a link; nothing was changed")
    config = os.path.join(root, "shared", "configuration.php")
    before, after, changed_settings = "", "", []
    if settings:
        try:
            with open(config, encoding="utf-8") as handle:
                before = handle.read()
            after, changed_settings = set_config(before, settings)
        except (OSError, JoomlaFileError) as error:
            module.fail_json(msg=f"cannot read the settings in {config}: {error}; nothing was changed")

    previous = current_release(link, root)
    moved = previous != release
    # Settings that change (leaving maintenance) reload too: a run after one whose reload failed
    # finds the link moved already, and must not serve the old tree's cached code out of maintenance.
    reload = moved or module.params["reload"] or bool(changed_settings)
    # Every change reloads, so whether it reloads is whether it changes anything.
    result = dict(changed=reload, previous=previous, moved=moved, reloaded=reload, changed_settings=changed_settings)
    if module._diff:
        result["diff"] = [dict(before=f"{os.readlink(link) if os.path.islink(link) else '(none)'}\n",
                               after=f"releases/{release}\n", before_header=link, after_header=link)] if moved else []
        if changed_settings and not SECRET_KEYS.intersection(changed_settings):
            result["diff"].append(dict(before=before, after=after, before_header=config, after_header=config))
    if module.check_mode:
        module.exit_json(**result)
    if moved:
        swap_link(root, release)
    if reload:
        rc, dummy, err = module.run_command(["systemctl", "reload", module.params["service"]])
        if rc != 0:
            module.fail_json(msg=f"current points at release {release}, but {module.params['service']} did not "
                                 f"reload: {err.strip()}", **result)
    if changed_settings:
        replace_config(module, config, after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
