#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a release's SQL scripts to a Joomla site's database, with a history like Flyway's."""

from __future__ import annotations

DOCUMENTATION = r"""
module: joomla_migrate
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Apply release SQL scripts once, with history and a way back
description:
  - Applies the C(sql/*.sql) scripts of one or more releases, in release then name order, to the
    database of the Joomla site whose C(configuration.php) is given. Each statement runs exactly as
    written (split only at its boundaries); C(#__) is replaced by the site's C(dbprefix) outside
    string literals. A statement with Joomla's C(/** CAN FAIL **/) hint may fail because it was
    already done (table exists, duplicate column or key, nothing to drop); the rest must succeed.
  - The scripts run as the release account (I(login_user)), which has no right of its own in the
    site's database. Before a script runs, the tables it names as C(#__name) are copied aside and
    the account is lent its rights on exactly those tables (C(DROP) too on those a statement drops,
    empties or renames, unless they hold content), never on this module's history; the rights go
    when the scripts end. So the database refuses a script any table not copied before it,
    whatever the package policy would miss, and dropping the database.
  - The node refuses, before anything runs, a statement MariaDB would read otherwise than the
    splitter (an executable comment, an unclosed quote), a kind of statement it cannot copy for,
    one that names this module's own tables, or one that names a site table with the literal
    prefix instead of C(#__).
  - The history, the copies and the lent rights are kept as the user the module runs as, through
    the socket (root on the nodes); it touches only names it made itself or checked.
  - Every script is recorded in C(#__otap_schema_history) in the site's own database (release,
    script, checksum, applied by, applied at, duration, success). A script already applied is
    skipped; a script whose checksum changed since it was applied is an error.
  - Before a script runs, every table it may change is copied aside, into the database
    C(otap_copies_<site database>), which the release account cannot reach. When a script fails, everything this rollout applied is undone from those copies
    and the module fails naming the release, script, line and error; the database is as it was.
    MariaDB commits DDL implicitly, so this is the only way back a migration has.
  - I(state=finalized) records the releases in C(#__otap_release_history) and drops the copies;
    I(state=rolled_back) restores the copies of a rollout whose later steps failed;
    I(state=recorded) notes that the site now runs release I(releases[0]) (its first release, or a
    rollback of the code);
    I(state=query) only reads.
  - With I(guard) (on Acceptance), the content tables' rows and checksums are measured before and
    after the scripts; C(content_changes) names every content table that changed, and whether the
    release declared it (I(declared)); a row added counts as a change.
  - With I(writable) (on Production), every other content table the scripts name is measured
    before and after them; a row added, changed or removed in one of them, or a definition
    changed (a column redefined, a new invisible or generated column, a CHECK constraint, the
    AUTO_INCREMENT counter), fails the rollout and puts the database back, naming the table. The
    site's own writes are held meanwhile, so every such change is the SQL's.
  - Returns the CHECKSUM TABLE of every table the scripts touched and the server's GTID position,
    so the standby can be checked against them (module replication_check).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
options:
  config:
    description: The site's C(configuration.php); gives the database name and table prefix.
    type: path
    required: true
  state:
    description: What to do.
    type: str
    choices: [applied, finalized, rolled_back, recorded, query]
    default: applied
  releases:
    description: The numbers of the releases, in order.
    type: list
    elements: int
    default: []
  unpacked_dir:
    description: >-
      Folder holding each verified package unpacked as C(<N>/); the scripts are in C(<N>/sql/),
      the title in C(<N>/manifest.yml). Needed for C(applied) and C(finalized).
    type: path
  rollout:
    description: Identifies this rollout (the run id), so its steps can be finalised or undone.
    type: str
    default: ""
  applied_by:
    description: Who applies the scripts.
    type: str
    default: otap.street
  guard:
    description: Measure the content tables before and after the scripts (C(applied) only).
    type: bool
    default: false
  content_tables:
    description: Content tables (without prefix, C(*) as wildcard) besides the package policy's defaults.
    type: list
    elements: str
    default: []
  declared:
    description: Content tables (C(#__name)) the releases declare they change (RELEASE.md C(Content-Changes)).
    type: list
    elements: str
    default: []
  writable:
    description:
      - The content tables (C(#__name)) whose rows the scripts may add, change or remove (C(applied)
        only); a change in any other content table they name fails the rollout, which is undone.
      - Omitted, the scripts are held to no such list (Test, Acceptance); an empty list holds
        every content table.
    type: list
    elements: str
  statement_timeout:
    description:
      - Seconds one statement of the scripts may run (C(applied)). One that runs longer is ended
        from a connection of the module's own (KILL QUERY), whatever the script set in its session,
        and the rollout is undone as after any failed statement. At most 86400.
    type: int
    default: 600
  sql_timeout:
    description:
      - Seconds the scripts of the rollout may run in all (C(applied)), root's preparation and its
        copies of the tables they name included. The statement or copy running when they are up is
        ended, one not yet started is not started, and the rollout is undone (its rollback and the
        restore come on top). At most 86400.
    type: int
    default: 1800
requirements:
  - PyYAML
attributes:
  check_mode:
    support: full
    details: Reports which scripts would run.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Apply the SQL of releases 3 and 4
  otap.street.joomla_migrate:
    config: /var/www/portal/shared/configuration.php
    releases: [3, 4]
    unpacked_dir: /var/lib/otap-release/unpacked
    rollout: "{{ otap_run_id }}"
"""

RETURN = r"""
applied:
  description: The scripts applied by this call, with their duration in milliseconds.
  type: list
  elements: dict
  returned: success
skipped:
  description: The scripts that were already applied.
  type: list
  elements: dict
  returned: success
current_release:
  description: The release the site's database records as current (0 when none).
  type: int
  returned: success
history:
  description: The rows of the schema history.
  type: list
  elements: dict
  returned: state=query
tolerated:
  description: Statements with the C(/** CAN FAIL **/) hint that failed as already done.
  type: list
  elements: dict
  returned: state=applied
content_changes:
  description: Content tables whose rows changed, vanished or were added, with C(declared) (with I(guard)).
  type: list
  elements: dict
  returned: state=applied
checksums:
  description: CHECKSUM TABLE of every table the scripts touched, after them.
  type: dict
  returned: state=applied
position:
  description: The server's C(gtid_binlog_pos) after the scripts.
  type: str
  returned: state=applied
"""

import getpass
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import mariadb, migration
from ansible_collections.otap.street.plugins.module_utils.joomla import JoomlaFileError, parse_config
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml
from ansible_collections.otap.street.plugins.module_utils.release_policy import DEFAULT_CONTENT_TABLES

STATES = ["applied", "finalized", "rolled_back", "recorded", "query"]

# The longest either bound may be (seconds): a day is no maintenance window, and a timer past
# Python's own limit would never fire.
A_DAY = 86400


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="path", required=True),
            state=dict(type="str", default="applied", choices=STATES),
            releases=dict(type="list", elements="int", default=[]),
            unpacked_dir=dict(type="path"),
            rollout=dict(type="str", default=""),
            applied_by=dict(type="str", default="otap.street"),
            guard=dict(type="bool", default=False),
            content_tables=dict(type="list", elements="str", default=[]),
            declared=dict(type="list", elements="str", default=[]),
            writable=dict(type="list", elements="str"),
            statement_timeout=dict(type="int", default=600),
            sql_timeout=dict(type="int", default=1800),
            **mariadb.argument_spec(),
        ),
        required_if=[("state", "applied", ["rollout", "unpacked_dir"]), ("state", "finalized", ["rollout", "unpacked_dir"]),
                     ("state", "rolled_back", ["rollout"]), ("state", "recorded", ["rollout"])],
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p = module.params
    try:
        with open(p["config"], encoding="utf-8") as handle:
            settings = parse_config(handle.read())
    except (OSError, JoomlaFileError) as error:
        module.fail_json(msg=f"cannot read the site's settings from {p['config']}: {error}")
    # The history, the copies and the rights lent are kept as the OS user; the scripts run as the
    # release account (login_user), when one is given.
    if any(n < 1 for n in p["releases"]):
        module.fail_json(msg=f"releases are numbered from 1: {p['releases']}")
    for bound in ("statement_timeout", "sql_timeout"):
        if not 1 <= p[bound] <= A_DAY:
            module.fail_json(msg=f"{bound} is in seconds, at least 1 and at most {A_DAY}: {p[bound]}")
    own_account = p["login_user"] not in ("", getpass.getuser())
    if p["state"] == "applied" and not own_account:
        module.fail_json(msg="state=applied runs the scripts as a release account of their own (login_user), never as "
                             f"{getpass.getuser()}, the user that keeps the history and the copies")
    connection = mariadb.connect(module, settings["db"], dict_rows=True, as_os_user=True)
    # The release account has no right in the site's database until rights are lent: it connects to none.
    scripts = mariadb.connect(module, None, dict_rows=True) if own_account else None
    watch = mariadb.connect(module, None, as_os_user=True) if p["state"] == "applied" else None
    releases = [{"release": n, "dir": os.path.join(p["unpacked_dir"] or "", str(n))} for n in sorted(p["releases"])]
    check = module.check_mode
    result = dict(changed=False)
    try:
        site = migration.Migration(connection, settings["db"], settings["dbprefix"], p["rollout"],
                                   p["applied_by"] or os.environ.get("USER", "otap.street"), scripts, watch,
                                   p["statement_timeout"], p["sql_timeout"])
        if p["state"] == "query":
            result["history"] = migration.history(site)
        elif p["state"] == "applied":
            content = DEFAULT_CONTENT_TABLES + tuple(p["content_tables"])
            result.update(migration.apply(site, releases, content if p["guard"] else None, p["declared"], check,
                                          content, p["writable"]))
        elif p["state"] == "finalized":
            result["changed"] = migration.finalize(site, releases, check)
        elif p["state"] == "rolled_back":
            result["restored"] = migration.roll_back(site, releases, check)
            result["changed"] = bool(result["restored"])
        elif p["state"] == "recorded":
            result["changed"] = migration.record(site, releases[0]["release"], check)
        result["current_release"] = site.current_release()
    except migration.MigrationError as error:
        module.fail_json(msg=str(error), **error.result)
    except mariadb.Error as error:
        module.fail_json(msg=f"database {settings['db']}: {error}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
