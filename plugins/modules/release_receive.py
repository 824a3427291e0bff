#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node takes release packages in: keeps them, verifies them and unpacks what holds."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_receive
author: otap.street maintainers (!UNKNOWN)
version_added: 0.4.0
short_description: Take release packages onto a node, verify them and unpack them, in one call
description:
  - The node's side of a rollout's delivery, in one module call per node. The action plugin of the
    same name copies the packages and their signatures from the controller's cache into a
    temporary folder of the node; this module then makes the node's work folders (C(packages/),
    C(unpacked/), C(backups/) in I(work_dir), owned by root, mode 0700), keeps each package and
    its signature in C(packages/) (mode 0600) and verifies it as M(otap.street.release_verify)
    does (signature by one of I(signers), the register's checksum, the manifest and every file
    in it), unpacking what holds into C(unpacked/<N>). A refused package stops the call; nothing of
    it is unpacked.
  - The node trusts nothing the controller checked, and verifies for itself what it keeps.
options:
  incoming:
    description:
      - The controller's folder (the package cache) holding C(release-<N>.tar.gz) and
        C(release-<N>.tar.gz.sig) for each release. The action plugin copies them into a temporary
        folder of the node, where the module reads them.
    type: path
    required: true
  work_dir:
    description: The node's work folder for releases.
    type: path
    required: true
  releases:
    description: Each release to take in, C({release, sha256}) (the register's checksum).
    type: list
    elements: dict
    required: true
  signers:
    description: The agency's public keys, each C({principal, key}); every package must be signed by one.
    type: list
    elements: dict
    required: true
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
requirements:
  - PyYAML
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Verifies what was copied in; keeps and unpacks nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Hand releases 3 and 4 to a node
  otap.street.release_receive:
    incoming: /root/.cache/otap-release        # the controller's cache (the action plugin copies from it)
    work_dir: /var/lib/otap-release
    releases: [{release: 3, sha256: "{{ sha256_of_3 }}"}, {release: 4, sha256: "{{ sha256_of_4 }}"}]
    signers: "{{ otap_release_signers }}"
"""

RETURN = r"""
releases:
  description: Per release taken in, its number, verified manifest and the principal who signed it.
  type: list
  elements: dict
  returned: success
"""

import os
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
from ansible_collections.otap.street.plugins.module_utils.release_package import PackageRefused, manifest_bytes
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_PATHS,
    DEFAULT_CONTENT_TABLES,
)
from ansible_collections.otap.street.plugins.module_utils.signature import SignatureError
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml

FOLDERS = ("packages", "unpacked", "backups")


def private_folder(path: Path, check: bool) -> bool:
    """Make `path` a folder of the module's user alone (root on a node; mode 0700); whether that changed anything."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OSError(f"{path} is not a folder")
    if not path.exists():
        if not check:
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # mkdir's mode passes the umask
        return True
    status = path.stat()
    if (status.st_mode & 0o7777, status.st_uid, status.st_gid) == (0o700, os.geteuid(), os.getegid()):
        return False
    if not check:
        os.chown(path, os.geteuid(), os.getegid())
        os.chmod(path, 0o700)
    return True


def same(dest: Path, data: bytes) -> bool:
    """Whether `dest` already holds `data` as root's file of mode 0600."""
    if dest.is_symlink() or not dest.is_file():
        return False
    status = dest.stat()
    return (status.st_mode & 0o7777, status.st_uid, status.st_gid) == (0o600, os.geteuid(), os.getegid()) and dest.read_bytes() == data


def private_copy(data: bytes, folder: Path, name: str) -> Path:
    """A new file of root's alone (mode 0600) in `folder` holding `data`."""
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def put(data: bytes, dest: Path, check: bool) -> bool:
    """`dest` holds `data` (root's, mode 0600) afterwards; whether it had to change."""
    if same(dest, data):
        return False
    if not check:
        os.replace(private_copy(data, dest.parent, dest.name), dest)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            incoming=dict(type="path", required=True),
            work_dir=dict(type="path", required=True),
            releases=dict(type="list", elements="dict", required=True),
            signers=dict(type="list", elements="dict", required=True),
            content_paths=dict(type="list", elements="str", default=[]),
            content_tables=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p, check = module.params, module.check_mode
    if not p["signers"]:
        module.fail_json(msg="No signer is listed: without the agency's public keys no package is taken in")
    incoming, work = Path(p["incoming"]), Path(p["work_dir"])
    changed, received = False, []
    try:
        changed |= private_folder(work, check)
        for folder in FOLDERS:
            changed |= private_folder(work / folder, check)
    except OSError as error:
        module.fail_json(msg=f"The work folders in {work} cannot be made: {error}")
    packages = work / "packages"
    for entry in p["releases"]:
        number, sha256 = int(entry["release"]), str(entry["sha256"])
        name = f"release-{number}.tar.gz"
        try:
            package = (incoming / name).read_bytes()
            signature = (incoming / f"{name}.sig").read_bytes()
        except OSError as error:
            module.fail_json(msg=f"{name} or its signature was not handed over: {error}", changed=changed,
                             releases=received)
        dest = None if check else work / "unpacked" / str(number)
        before = (dest / "manifest.yml").read_bytes() if dest is not None and (dest / "manifest.yml").is_file() else None
        # The bytes checked are the bytes kept: verified in a copy of root's, which then becomes the package.
        checked = incoming / name if check else private_copy(package, packages, name)
        report: dict = {}
        try:
            manifest = verify_package(
                checked, number, sha256, signature, p["signers"],
                content_paths=DEFAULT_CONTENT_PATHS + tuple(p["content_paths"]),
                content_tables=DEFAULT_CONTENT_TABLES + tuple(p["content_tables"]),
                check_sql=False, extract_to=dest, report=report,
            )
            if not check and not same(packages / name, package):
                os.replace(checked, packages / name)
                changed = True
            changed |= check and not same(packages / name, package)
        except PackageRefused as refused:
            module.fail_json(msg=f"{name} refused: " + "; ".join(str(v) for v in refused.violations),
                             violations=[str(v) for v in refused.violations], changed=changed, releases=received)
        except SignatureError as error:
            module.fail_json(msg=f"{name} refused: {error}", changed=changed, releases=received)
        finally:
            if not check:
                checked.unlink(missing_ok=True)
        changed |= put(signature, packages / f"{name}.sig", check)
        changed |= dest is not None and before != manifest_bytes(manifest)
        received.append({"release": number, "manifest": manifest, "signed_by": report.get("signed_by", "")})
    module.exit_json(changed=changed, releases=received)


if __name__ == "__main__":
    main()
