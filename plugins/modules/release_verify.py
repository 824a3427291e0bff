#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify a release package before it is used, and optionally unpack it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_verify
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Verify a Joomla release package against its signature, checksum, manifest and policy
description:
  - Reads the package once. Every byte goes to the register's checksum, to the agency's signature
    check (C(ssh-keygen -Y verify) against I(signers), the namespace C(otap-release)) and to the tar
    reader, which checks the manifest (the first member) and against it every file's sha256, that no
    member is a link, device file, absolute path, C(..) escape or content path, the release number,
    and the RELEASE.md declarations.
  - With I(sql_policy), every SQL script is parsed and held against the release SQL allow-list
    (module_utils/sql_policy; needs sqlglot, so it runs on the controller). The nodes skip it, since
    the signature and checksum prove they hold the very bytes the controller checked.
  - With I(extract_to), the verified bytes are unpacked (files/, sql/, RELEASE.md, manifest.yml),
    streamed into a private staging folder as they are read and moved into place only when
    everything holds; a refused package leaves nothing behind.
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
  signature:
    description: Path of the agency's signature (C(release-<N>.tar.gz.sig)); needed with I(signers).
    type: path
  signers:
    description:
      - The agency's public keys, each C({principal, key}) (C(otap_release_signers) in the inventory).
        Given, the signature is required; empty means no signature is checked (only for packages
        inspected before they are signed).
    type: list
    elements: dict
    default: []
  sql_policy:
    description: Hold the SQL against the allow-list (needs the Python library sqlglot).
    type: bool
    default: false
  extract_to:
    description: Folder to unpack the verified package into; replaced if it exists.
    type: path
  sql_verdicts:
    description:
      - A folder of the controller's where the allow-list keeps the scripts it passed (module_utils/sql_policy,
        C(Verdicts)), named by a digest of the policy's code, sqlglot's version, the content tables, the Joomla-update
        declaration and the script - a script passed before is not parsed again (seconds for a large one). Refusals
        are not kept. A folder that is a link, or that another account owns or may write, is not used. Nothing is
        kept in check mode.
    type: path
requirements:
  - PyYAML
  - sqlglot (with I(sql_policy=true))
extends_documentation_fragment:
  - otap.street.release_policy
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Verifies; does not unpack.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Verify release 3 on a node and unpack it
  otap.street.release_verify:
    package: /var/lib/otap-release/packages/release-3.tar.gz
    signature: /var/lib/otap-release/packages/release-3.tar.gz.sig
    signers: "{{ otap_release_signers }}"
    release: 3
    sha256: "{{ register_entry.sha256 }}"
    extract_to: /var/lib/otap-release/unpacked/3
"""

RETURN = r"""
manifest:
  description: The verified manifest.
  type: dict
  returned: success
signed_by:
  description: The principal whose key made the signature (empty when none was checked).
  type: str
  returned: success
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
from ansible_collections.otap.street.plugins.module_utils.release_package import PackageRefused
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_PATHS,
    DEFAULT_CONTENT_TABLES,
)
from ansible_collections.otap.street.plugins.module_utils.signature import SignatureError
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml
from ansible_collections.otap.street.plugins.module_utils.sql_policy import HAS_SQLGLOT, Verdicts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            package=dict(type="path", required=True),
            release=dict(type="int"),
            sha256=dict(type="str"),
            signature=dict(type="path"),
            signers=dict(type="list", elements="dict", default=[]),
            sql_policy=dict(type="bool", default=False),
            extract_to=dict(type="path"),
            sql_verdicts=dict(type="path"),
            content_paths=dict(type="list", elements="str", default=[]),
            content_tables=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p = module.params
    if p["sql_policy"] and not HAS_SQLGLOT:
        module.fail_json(msg=missing_required_lib("sqlglot"))
    package = Path(p["package"])
    if not package.is_file():
        module.fail_json(msg=f"{package} does not exist: build it with playbooks/package.yml first")
    signature = None
    if p["signers"]:
        try:
            signature = Path(p["signature"] or "").read_bytes()
        except OSError:
            module.fail_json(msg=f"{package.name} refused: it has no signature ({p['signature']}); the agency signs "
                                 "every package (playbooks/package.yml does)")
    dest = Path(p["extract_to"]) if p["extract_to"] and not module.check_mode else None
    report: dict = {}
    try:
        manifest = verify_package(
            package, p["release"], p["sha256"], signature, p["signers"] or None,
            content_paths=DEFAULT_CONTENT_PATHS + tuple(p["content_paths"]),
            content_tables=DEFAULT_CONTENT_TABLES + tuple(p["content_tables"]),
            check_sql=p["sql_policy"], extract_to=dest, report=report,
            verdicts=Verdicts(p["sql_verdicts"], remember=not module.check_mode) if p["sql_policy"] else None,
        )
    except PackageRefused as refused:
        module.fail_json(msg=f"{package.name} refused: " + "; ".join(str(v) for v in refused.violations),
                         violations=[str(v) for v in refused.violations])
    except SignatureError as error:
        module.fail_json(msg=f"{package.name} refused: {error}")
    changed = bool(report.get("unpacked")) if dest is not None else bool(p["extract_to"])
    module.exit_json(changed=changed, manifest=manifest, signed_by=report.get("signed_by", ""))


if __name__ == "__main__":
    main()
