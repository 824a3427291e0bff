#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep what only this node holds: its transactions outside the primary's history, decoded."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stranded_transactions
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Find and keep the transactions of a node that its primary never got
description:
  - Compares this node's C(gtid_binlog_state) with what the primary holds (I(primary_state) and
    I(primary_position)). When this node holds transactions beyond it (it wrote while it was cut
    off, or it crashed as the primary with commits its standby had not yet received), reads its
    binary log with C(mariadb-binlog --verbose) and writes those transactions, rows decoded, to
    I(dest), readable by a person, so that a rebuild of the node loses nothing unseen.
  - Returns what each transaction changed (table, operation, number of rows), never the values;
    those are in I(dest) only (mode 0600, as it may hold personal data).
  - Removes I(dest) when there is nothing to keep.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - otap.street.mariadb
options:
  primary_state:
    description: The primary's C(@@gtid_binlog_state).
    type: str
    required: true
  primary_position:
    description: >-
      The primary's C(@@gtid_current_pos) and C(@@gtid_slave_pos), comma-separated (they cover what it
      got from a reseed's dump, which is not in its binary log).
    type: str
    default: ""
  node_state:
    description: >-
      This node's C(@@gtid_binlog_state) read before the primary's state; only transactions within it
      count (a node still replicating receives the primary's transactions meanwhile). Empty to read
      it now.
    type: str
    default: ""
  dest:
    description: Where to write the decoded transactions on this node.
    type: path
    required: true
  binlog_command:
    description: The binary log reader.
    type: path
    default: /usr/bin/mariadb-binlog
notes:
  - Reads every binary log file the server still has (C(expire_logs_days) bounds them).
attributes:
  check_mode:
    support: full
    details: Finds, and writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Keep what prod1 holds that the primary does not
  otap.street.stranded_transactions:
    primary_state: "{{ primary_gtid.query_result[0][0].state }}"
    primary_position: "{{ primary_gtid.query_result[0][0].position }}"
    dest: /var/lib/otap-failover/stranded-transactions.txt
  delegate_to: prod1
"""

RETURN = r"""
diverged:
  description: Whether this node's GTID state goes beyond the primary's (also when its binary log
    no longer holds the transactions, so that I(count) is 0).
  type: bool
  returned: always
state:
  description: This node's C(gtid_binlog_state).
  type: str
  returned: always
count:
  description: How many transactions this node holds beyond the primary.
  type: int
  returned: always
transactions:
  description: Each such transaction, C(gtid), C(when) (the server's clock) and C(changes).
  type: list
  elements: dict
  returned: always
summary:
  description: One line per transaction, for people.
  type: list
  elements: str
  returned: always
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils import binlog, mariadb


def read_server(module) -> tuple[str, list[str]]:
    """This node's GTID state and its binary log files, oldest first."""
    connection = mariadb.connect(module)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@global.gtid_binlog_state, @@global.log_bin_index, @@global.datadir")
            state, index, datadir = cursor.fetchone()
    except mariadb.Error as error:
        module.fail_json(msg=f"cannot read this node's GTID state: {error}")
    finally:
        connection.close()
    if not index:
        return state or "", []
    index = index if os.path.isabs(index) else os.path.join(datadir, index)
    with open(index, encoding="utf-8") as listed:
        names = [line.strip() for line in listed if line.strip()]
    return state or "", [name if os.path.isabs(name) else os.path.normpath(os.path.join(datadir, name))
                         for name in names]


def decode(module, command: str, files: list[str], known, upto) -> list[binlog.Transaction]:
    """The transactions beyond known: the binary log decoded into a file on disk (it may be larger
    than memory), read back as a stream."""
    with tempfile.TemporaryDirectory(dir=module.tmpdir) as work:
        decoded = os.path.join(work, "binlog.txt")
        argv = [command, "--no-defaults", "--base64-output=decode-rows", "--verbose", f"--result-file={decoded}", *files]
        rc, _out, error = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=f"{command} could not read the binary log: {error.strip()[-500:]}")
        # surrogateescape: values that are not UTF-8 (a BLOB, latin1 text) are kept byte for byte.
        with open(decoded, encoding="utf-8", errors="surrogateescape") as reader:
            return binlog.stranded(reader, known, upto)


def document(found: list[binlog.Transaction]) -> str:
    parts = ["# Transactions this node held that the primary did not, decoded by mariadb-binlog.\n"
             "# '###' lines are the rows (@1, @2 ... the table's columns in order).\n"]
    for transaction in found:
        parts.append(f"\n# ---- {transaction.summary()}\n" + "\n".join(transaction.lines) + "\n")
    return "".join(parts)


def differs(path: str, text: str) -> bool:
    if not os.path.exists(path):
        return True
    with open(path, encoding="utf-8", errors="surrogateescape") as current:
        return current.read() != text


def write(path: str, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".stranded.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogateescape") as out:
            out.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            primary_state=dict(type="str", required=True),
            primary_position=dict(type="str", default=""),
            dest=dict(type="path", required=True),
            node_state=dict(type="str", default=""),
            binlog_command=dict(type="path", default="/usr/bin/mariadb-binlog"),
            **mariadb.argument_spec(),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        known = binlog.highest(p["primary_state"], p["primary_position"])
    except ValueError as error:
        module.fail_json(msg=f"the primary's GTID state cannot be read: {error}")
    state, files = read_server(module)
    try:
        upto = binlog.highest(p["node_state"]) if p["node_state"] else None
    except ValueError as error:
        module.fail_json(msg=f"this node's GTID state cannot be read: {error}")
    state = p["node_state"] or state
    diverged = binlog.beyond(state, known)
    found = decode(module, p["binlog_command"], files, known, upto) if diverged and files else []
    changed = False
    if found:
        text = document(found)
        changed = differs(p["dest"], text)
        if changed and not module.check_mode:
            write(p["dest"], text)
    elif os.path.exists(p["dest"]):
        changed = True
        if not module.check_mode:
            os.unlink(p["dest"])
    summary = [t.summary() for t in found]
    if diverged and not found:
        summary.append(f"this node's GTID state ({state}) goes beyond the primary's, but its binary log "
                       "no longer holds those transactions: they cannot be shown")
    module.exit_json(changed=changed, diverged=diverged, count=len(found), state=state, summary=summary,
                     transactions=[{"gtid": t.gtid, "when": t.when, "changes": t.changes} for t in found])


if __name__ == "__main__":
    main()
