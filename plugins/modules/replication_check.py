#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that a standby holds exactly what its primary wrote: tables compared by checksum."""

from __future__ import annotations

DOCUMENTATION = r"""
module: replication_check
author: otap.street maintainers (!UNKNOWN)
version_added: 0.4.0
short_description: Check that a standby's tables equal the primary's after a change
description:
  - Waits until the standby has applied the primary's GTID position I(position)
    (C(MASTER_GTID_WAIT)), then compares the C(CHECKSUM TABLE) of each table in I(expected) with the
    primary's value. Fails naming every table that differs, since the standby then diverged (a
    statement that escaped the binary log, say) and must be rebuilt before it may take over.
  - Only reads; changes nothing.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
options:
  database:
    description: The database the tables are in.
    type: str
    required: true
  position:
    description: The primary's C(gtid_binlog_pos) right after the change.
    type: str
    required: true
  expected:
    description: Table name to the primary's C(CHECKSUM TABLE) value.
    type: dict
    required: true
  timeout:
    description: Seconds to wait for the standby to reach I(position).
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    details: It only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check that the standby applied the release's SQL exactly
  otap.street.replication_check:
    database: portal
    position: "{{ migrated.position }}"
    expected: "{{ migrated.checksums }}"
  delegate_to: prod2
"""

RETURN = r"""
checksums:
  description: The standby's checksums of the tables compared.
  type: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import mariadb


def main():
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="str", required=True),
            position=dict(type="str", required=True),
            expected=dict(type="dict", required=True),
            timeout=dict(type="int", default=60),
            **mariadb.argument_spec(),
        ),
        supports_check_mode=True,
    )
    p = module.params
    connection = mariadb.connect(module, p["database"])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (p["position"], p["timeout"]))
            if cursor.fetchone()[0] != 0:
                module.fail_json(msg=f"the standby did not reach the primary's position {p['position']} within "
                                     f"{p['timeout']} s: check replication (failover.yml -e otap_action=status)")
            tables = sorted(p["expected"])
            found = {}
            if tables:
                cursor.execute("CHECKSUM TABLE " + ", ".join("`" + t.replace("`", "``") + "`" for t in tables))
                found = {name.split(".", 1)[1]: value for name, value in cursor.fetchall()}
    except mariadb.Error as error:
        module.fail_json(msg=f"cannot compare the standby's tables: {error}")
    differ = [t for t in tables if str(found.get(t)) != str(p["expected"][t])]
    if differ:
        module.fail_json(msg=f"the standby diverged from the primary: {', '.join(differ)} differ after the change "
                             "(rebuild it with failover.yml -e otap_action=reseed before it may take over)",
                         checksums=found, differ=differ)
    module.exit_json(changed=False, checksums=found)


if __name__ == "__main__":
    main()
