#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a numbered release package from a release source folder."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_package
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Build a numbered Joomla release package from a source folder
description:
  - Checks a release source folder (C(RELEASE.md), C(files/), C(sql/), C(delete.txt)) against the
    package policy and writes C(release-<N>.tar.gz) with its C(manifest.yml).
  - Refuses, naming the file and the rule, an empty release, a missing C(RELEASE.md), absolute
    paths, C(..), links, device files, content paths, and SQL outside the release SQL allow-list
    (module_utils/sql_policy, which parses every statement; needs sqlglot). Nothing is written when
    anything is refused.
  - With I(signing_key), signs the package with the agency's SSH key (C(ssh-keygen -Y sign),
    namespace C(otap-release)) as C(release-<N>.tar.gz.sig).
  - The number is the one after I(last_release). When the source is the same as a registered
    release that was not withdrawn (same files, scripts, deletions and notes), nothing is built and
    that release is returned, so building a source again changes nothing.
options:
  src:
    description: The release source folder.
    type: path
    required: true
  dest_dir:
    description: Folder to write C(release-<N>.tar.gz) into.
    type: path
    required: true
  last_release:
    description: Number of the last registered release.
    type: int
    required: true
  registered:
    description: The register's entries (C(release), C(fingerprint), C(withdrawn)), to recognise a rebuild.
    type: list
    elements: dict
    default: []
  author:
    description: Who built the release.
    type: str
    required: true
  date:
    description: Date of the release, ISO 8601 in UTC.
    type: str
    required: true
  signing_key:
    description: The agency's private SSH key to sign the package with (empty, no signature).
    type: path
    default: ""
  sql_verdicts:
    description:
      - A folder of the controller's where the allow-list keeps the scripts it passed, so the verification that
        follows (C(release_verify), here and before every rollout) does not parse them again; see
        C(release_verify)'s option of that name. Nothing is kept in check mode.
    type: path
requirements:
  - sqlglot
  - PyYAML
notes:
  - Runs on the controller.
extends_documentation_fragment:
  - otap.street.release_policy
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The source is checked, nothing is written.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Build the next release package
  otap.street.release_package:
    src: examples/releases/02-footer
    dest_dir: /tmp/otap-build
    last_release: 1
    registered: "{{ register.releases }}"
    author: agency
    date: "2026-11-24T10:00:00Z"
  delegate_to: localhost
"""

RETURN = r"""
release:
  description: Number of the release (new, or the registered one when the source was already packaged).
  type: int
  returned: success
package:
  description: Path of the package written (empty when nothing was built).
  type: str
  returned: success
sha256:
  description: Checksum of the package written.
  type: str
  returned: when built
signature:
  description: Path of the package's signature.
  type: str
  returned: when built with I(signing_key)
fingerprint:
  description: Checksum of what the release changes, independent of its number and date.
  type: str
  returned: success
manifest:
  description: The package's manifest.
  type: dict
  returned: success
"""

import calendar
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    scan_source,
    write_package,
)
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_PATHS,
    DEFAULT_CONTENT_TABLES,
)
from ansible_collections.otap.street.plugins.module_utils.signature import SignatureError, sign
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml
from ansible_collections.otap.street.plugins.module_utils.sql_policy import HAS_SQLGLOT, Verdicts


def fingerprint(manifest: dict) -> str:
    what = {key: manifest[key] for key in ("files", "deletions", "sql", "notes_sha256")}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest_dir=dict(type="path", required=True),
            last_release=dict(type="int", required=True),
            registered=dict(type="list", elements="dict", default=[]),
            author=dict(type="str", required=True),
            date=dict(type="str", required=True),
            content_paths=dict(type="list", elements="str", default=[]),
            content_tables=dict(type="list", elements="str", default=[]),
            signing_key=dict(type="path", default=""),
            sql_verdicts=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p = module.params
    if not HAS_SQLGLOT:
        module.fail_json(msg=missing_required_lib("sqlglot"))
    try:
        mtime = calendar.timegm(time.strptime(p["date"], "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        module.fail_json(msg=f"date {p['date']!r} is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ)")
    release = p["last_release"] + 1
    try:
        manifest = scan_source(
            Path(p["src"]), release, p["last_release"], p["author"], p["date"],
            content_paths=DEFAULT_CONTENT_PATHS + tuple(p["content_paths"]),
            content_tables=DEFAULT_CONTENT_TABLES + tuple(p["content_tables"]),
            verdicts=Verdicts(p["sql_verdicts"], remember=not module.check_mode),
        )
    except PackageRefused as refused:
        module.fail_json(msg=f"release source {p['src']} refused, nothing was built: "
                             + "; ".join(str(v) for v in refused.violations),
                         violations=[str(v) for v in refused.violations])
    print_ = fingerprint(manifest)
    for entry in p["registered"]:
        if entry.get("fingerprint") == print_ and not entry.get("withdrawn"):
            module.exit_json(changed=False, release=int(entry["release"]), package="", fingerprint=print_,
                             manifest=manifest, msg=f"{p['src']} is already release {entry['release']}")
    dest = os.path.join(p["dest_dir"], f"release-{release}.tar.gz")
    result = dict(changed=True, release=release, package=dest, fingerprint=print_, manifest=manifest)
    if module.check_mode:
        module.exit_json(**result)
    os.makedirs(p["dest_dir"], exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p["dest_dir"], suffix=".tmp")
    os.close(fd)
    result["sha256"] = write_package(Path(p["src"]), manifest, Path(tmp), mtime)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, dest)
    if p["signing_key"]:
        try:
            result["signature"] = sign(dest, p["signing_key"])
        except SignatureError as error:
            os.unlink(dest)
            module.fail_json(msg=f"release {release} was not built: {error}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
