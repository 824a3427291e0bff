#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the release register, or add the next release to it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_register
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: The register of numbered releases, kept at the agreed place
description:
  - The register is a YAML file a person can read, one entry per release in order (number, date,
    title, author, package checksum and fingerprint).
  - With I(state=present), adds I(entry) as the next release. The number must be the one after the
    last; an entry that is already there unchanged is left alone (no change), a different entry
    under an existing number is refused. Writers are serialised with a lock file and the file is
    replaced atomically.
  - With I(state=withdrawn), marks release I(entry.release) as withdrawn (who, when, why from
    I(entry.by), I(entry.reason)); rollouts skip it, and a later release goes on top of the one
    before it. A withdrawn release stays in the register, so its number is never reused.
  - With I(state=query), returns the register.
options:
  path:
    description: The register file.
    type: path
    required: true
  state:
    description: Add I(entry) (C(present)), withdraw a release (C(withdrawn)) or only read (C(query)).
    type: str
    choices: [present, withdrawn, query]
    default: query
  entry:
    description: The release to add, with at least C(release), C(date), C(title), C(author).
    type: dict
requirements:
  - PyYAML
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Record release 2
  otap.street.release_register:
    path: /srv/otap-store/register/releases.yml
    state: present
    entry:
      release: 2
      date: "2026-11-24T10:00:00Z"
      title: New footer
      author: agency
      sha256: "{{ built.sha256 }}"
"""

RETURN = r"""
releases:
  description: The register's entries, oldest first.
  type: list
  elements: dict
  returned: success
last:
  description: The last entry (empty when the register is empty).
  type: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml
from ansible_collections.otap.street.plugins.module_utils.store_file import dump_list, load_list, locked, replace

HEADER = (
    "# Release register: every release of the site, in order. Kept by otap.street\n"
    "# (playbooks/package.yml); one entry per release: number, date, title, author, checksum.\n"
)
REQUIRED = ("release", "date", "title", "author")


def withdraw(module, path: str, entry: dict) -> None:
    number = int(entry.get("release") or 0)
    with locked(path):
        releases = load_list(path, "releases")
        found = [item for item in releases if int(item["release"]) == number]
        if not found:
            module.fail_json(msg=f"release {number} is not in the register")
        if found[0].get("withdrawn"):
            module.exit_json(changed=False, releases=releases, last=releases[-1])
        before = dump_list(HEADER, "releases", releases)
        found[0]["withdrawn"] = {"by": entry.get("by", ""), "at": entry.get("date", ""), "reason": entry.get("reason", "")}
        after = dump_list(HEADER, "releases", releases)
        if not module.check_mode:
            replace(module, path, after)
    module.exit_json(changed=True, releases=releases, last=releases[-1], diff=dict(before=before, after=after))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "withdrawn", "query"], default="query"),
            entry=dict(type="dict"),
        ),
        required_if=[("state", "present", ["entry"]), ("state", "withdrawn", ["entry"])],
        supports_check_mode=True,
    )
    require_pyyaml(module)
    path, entry = module.params["path"], module.params["entry"]
    if module.params["state"] == "query":
        releases = load_list(path, "releases")
        module.exit_json(changed=False, releases=releases, last=releases[-1] if releases else {})

    if module.params["state"] == "withdrawn":
        withdraw(module, path, entry)
    missing = [key for key in REQUIRED if entry.get(key) in (None, "")]
    if missing:
        module.fail_json(msg=f"register entry lacks {', '.join(missing)}")
    with locked(path):
        releases = load_list(path, "releases")
        number = int(entry["release"])
        for existing in releases:
            if int(existing["release"]) == number:
                if existing == entry:
                    module.exit_json(changed=False, releases=releases, last=releases[-1])
                module.fail_json(msg=f"release {number} is already registered as '{existing['title']}' "
                                     f"by {existing['author']} on {existing['date']}: build again to get the next number")
        expected = int(releases[-1]["release"]) + 1 if releases else 1
        if number != expected:
            module.fail_json(msg=f"release {number} is out of sequence: the next release is {expected}")
        updated = releases + [entry]
        diff = dict(before=dump_list(HEADER, "releases", releases), after=dump_list(HEADER, "releases", updated))
        if not module.check_mode:
            replace(module, path, diff["after"])
    module.exit_json(changed=True, releases=updated, last=entry, diff=diff)


if __name__ == "__main__":
    main()
