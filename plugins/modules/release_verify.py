#!/usr/bin/python
"""Verify a release package before it is used, and optionally unpack it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_verify
author: otap.street maintainers
version_added: 0.1.0
short_description: Verify a Joomla release package against its manifest and the package policy
description:
  - Checks the package's manifest schema, the sha256 of every file, script and the release notes,
    that no member is a link, device file, absolute path, C(..) escape or content path, that no SQL
    drops, truncates, renames or deletes from a content table, and that the release number is the
    expected one.
  - Runs wherever the package is about to be used (the controller, the store, every site host).
  - With I(extract_to), unpacks the verified package there (files/, sql/, RELEASE.md, manifest.yml).
options:
  package:
    description: Path of C(release-<N>.tar.gz).
    type: path
    required: true
  release:
    description: The release number the package must carry.
    type: int
  sha256:
    description: The checksum the package file must have (as recorded in the register).
    type: str
  extract_to:
    description: Folder to unpack the verified package into; replaced if it exists.
    type: path
  content_paths:
    description: Content paths besides the default ones.
    type: list
    elements: str
    default: []
  content_tables:
    description: Content tables besides the default ones.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode (verifies; does not unpack).
"""

EXAMPLES = r"""
- name: Verify release 3 on the host before rolling it out
  otap.street.release_verify:
    package: /var/lib/otap/packages/release-3.tar.gz
    release: 3
    sha256: "{{ register_entry.sha256 }}"
    extract_to: /var/lib/otap/unpacked/3
"""

RETURN = r"""
manifest:
  description: The verified manifest.
  type: dict
  returned: success
"""

import os
import shutil
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.release_package import (
    PackageRefused,
    extract_verified,
    manifest_bytes,
    sha256_file,
    verify_package,
)
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_PATHS,
    DEFAULT_CONTENT_TABLES,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            package=dict(type="path", required=True),
            release=dict(type="int"),
            sha256=dict(type="str"),
            extract_to=dict(type="path"),
            content_paths=dict(type="list", elements="str", default=[]),
            content_tables=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    package = Path(p["package"])
    if not package.is_file():
        module.fail_json(msg=f"{package} does not exist: build it with playbooks/package.yml first")
    if p["sha256"] and sha256_file(package) != p["sha256"]:
        module.fail_json(msg=f"{package.name} refused: its checksum differs from the register's "
                             "(the package was changed or replaced after it was registered)")
    try:
        manifest = verify_package(
            package, p["release"],
            content_paths=DEFAULT_CONTENT_PATHS + tuple(p["content_paths"]),
            content_tables=DEFAULT_CONTENT_TABLES + tuple(p["content_tables"]),
        )
    except PackageRefused as refused:
        module.fail_json(msg=f"{package.name} refused: " + "; ".join(str(v) for v in refused.violations),
                         violations=[str(v) for v in refused.violations])
    changed = False
    if p["extract_to"]:
        dest = Path(p["extract_to"])
        marker = dest / "manifest.yml"
        same = marker.is_file() and marker.read_bytes() == manifest_bytes(manifest)
        if not same:
            changed = True
            if not module.check_mode:
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
                extract_verified(package, manifest, tmp)
                if dest.exists():
                    shutil.rmtree(dest)
                os.rename(tmp, dest)
    module.exit_json(changed=changed, manifest=manifest)


if __name__ == "__main__":
    main()
