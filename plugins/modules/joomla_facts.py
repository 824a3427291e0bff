#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what a Joomla site is: its version, its settings (no secrets) and its release."""

from __future__ import annotations

DOCUMENTATION = r"""
module: joomla_facts
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Joomla version, settings and release of a site laid out by otap.street
description:
  - Reads the Joomla version from C(libraries/src/Version.php) of the live tree, the settings of
    C(configuration.php) with every secret left out (passwords, C(secret), SMTP and proxy
    credentials), the release the C(current) link points at, the release trees on disk, and the
    release the site's database records in C(#__otap_release_history).
  - Changes nothing.
options:
  root:
    description: The site's top folder (holding C(current), C(releases/), C(shared/)).
    type: path
    required: true
  database:
    description: Also read the release recorded in the site's database.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Read where the site stands
  otap.street.joomla_facts:
    root: /var/www/portal
  register: site
"""

RETURN = r"""
joomla_version:
  description: Joomla's short version and its constants.
  type: dict
  returned: success
  sample: {version: 5.2.1, major_version: 5, dev_status: Stable}
settings:
  description: The JConfig settings, secrets left out.
  type: dict
  returned: success
release_link:
  description: The release C(current) points at (0 when there is none).
  type: int
  returned: success
release_package:
  description: >-
    The checksum of the package manifest the served release was staged from (module release_receive
    keeps it beside the tree); empty when C(current) points at no staged release.
  type: str
  returned: success
release_database:
  description: The release the site's database records (0 when none; absent with I(database=false)).
  type: int
  returned: when database is true
release_sql:
  description: >-
    The highest release whose SQL the site's database ran (0 when none; absent with I(database=false)).
    Above I(release_database) after a rollback, which returns the code but not the schema.
  type: int
  returned: when database is true
releases_on_disk:
  description: The release trees under C(releases/), by number.
  type: list
  elements: int
  returned: success
"""

import os
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import mariadb
from ansible_collections.otap.street.plugins.module_utils.joomla import (
    JoomlaFileError,
    parse_config,
    parse_version,
    without_secrets,
)
from ansible_collections.otap.street.plugins.module_utils.migration import HISTORY, RELEASES


def recorded_releases(module, settings: dict) -> tuple[int, int]:
    """The release the site's database records, and the highest release whose SQL it ran (0: none)."""
    records, scripts = settings["dbprefix"] + RELEASES, settings["dbprefix"] + HISTORY
    connection = mariadb.connect(module, database=settings["db"])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                           "AND table_name IN (%s, %s)", (settings["db"], records, scripts))
            present = {row[0] for row in cursor.fetchall()}
            recorded = ran = 0
            if records in present:
                cursor.execute(f"SELECT release_number FROM `{records}` ORDER BY id DESC LIMIT 1")
                row = cursor.fetchone()
                recorded = int(row[0]) if row else 0
            if scripts in present:
                cursor.execute(f"SELECT COALESCE(MAX(release_number), 0) FROM `{scripts}` WHERE success = 1")
                ran = int(cursor.fetchone()[0])
            return recorded, ran
    except mariadb.Error as error:
        module.fail_json(msg=f"cannot read the release of database {settings['db']}: {error}")
    finally:
        connection.close()
    return 0, 0


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            database=dict(type="bool", default=True),
            **mariadb.argument_spec(),
        ),
        supports_check_mode=True,
    )
    root = Path(module.params["root"])
    current = root / "current"
    try:
        settings = parse_config((root / "shared" / "configuration.php").read_text(encoding="utf-8"))
        version = parse_version((current / "libraries" / "src" / "Version.php").read_text(encoding="utf-8"))
    except (OSError, JoomlaFileError) as error:
        module.fail_json(msg=f"{root} is not a site laid out by otap.street: {error}")
    link = os.readlink(current) if current.is_symlink() else ""
    releases = root / "releases"
    served = os.path.basename(link)
    stamp = releases / f".{served}.staged"
    result = dict(
        changed=False,
        joomla_version=version,
        settings=without_secrets(settings),
        release_link=int(served) if served.isdigit() else 0,
        release_package=stamp.read_text(encoding="ascii", errors="replace")[:64]
        if served.isdigit() and stamp.is_file() else "",
        releases_on_disk=sorted(int(p.name) for p in releases.iterdir() if p.name.isdigit() and p.is_dir())
        if releases.is_dir() else [],
    )
    if module.params["database"]:
        result["release_database"], result["release_sql"] = recorded_releases(module, settings)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
