#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node takes release packages in: keeps them, verifies them and unpacks what holds."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_receive
author: otap.street maintainers (!UNKNOWN)
version_added: 0.4.0
short_description: Take release packages onto a node, verify them, unpack them and stage their code trees, in one call
description:
  - The node's side of a rollout's delivery, in one module call per node. The action plugin of the
    same name copies the packages and their signatures from the controller's cache into a
    temporary folder of the node; this module then makes the node's work folders (C(packages/),
    C(unpacked/), C(backups/) in I(work_dir), owned by root, mode 0700), keeps each package and
    its signature in C(packages/) (mode 0600) and verifies it as M(otap.street.release_verify)
    does (signature by one of I(signers), the register's checksum, the manifest and every file
    in it), unpacking what holds into C(unpacked/<N>). A refused package stops the call; nothing of
    it is unpacked.
  - With I(stage_root), the releases' code trees are then staged beside the live one, in order
    (module_utils/release_tree), each C(<stage_root>/releases/<N>) built from the release before it,
    unchanged files hard-linked, links into C(shared/) kept, changed files written as new files (the
    live release is untouched), the result checked, and renamed into place. A release already staged
    from the same package is left alone.
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
  stage_root:
    description: The site's top folder (holding C(releases/), C(shared/), C(current)); when given, the releases are staged there.
    type: path
  stage_base:
    description: The release the first one is staged on (the live one); defaults to the number before it.
    type: int
requirements:
  - PyYAML
extends_documentation_fragment:
  - otap.street.release_policy
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Verifies what was copied in; keeps, unpacks and stages nothing (a release not yet staged is reported as one it would stage).
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
staged:
  description: The releases whose trees this call staged (with I(stage_root)).
  type: list
  elements: int
  returned: when stage_root is given
shared_files:
  description: Per release staged, how many files are hard links to the release below it.
  type: dict
  returned: when stage_root is given
"""

import filecmp
import os
import shutil
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.package_verify import verify_package
from ansible_collections.otap.street.plugins.module_utils.release_package import (
    SHA256,
    PackageRefused,
    manifest_bytes,
    release_number,
)
from ansible_collections.otap.street.plugins.module_utils.release_tree import StageError, stage_all
from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_PATHS,
    DEFAULT_CONTENT_TABLES,
)
from ansible_collections.otap.street.plugins.module_utils.signature import SignatureError
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml

FOLDERS = ("packages", "unpacked", "backups")


def entries(releases: list[dict]) -> list[tuple[int, str]]:
    """(number, sha256) of every release asked for, or ValueError saying which entry is wrong."""
    found = []
    for entry in releases:
        number = release_number(entry.get("release"))
        sha256 = entry.get("sha256")
        if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
            raise ValueError(f"release {number} has no register checksum (sha256: 64 hexadecimal digits)")
        found.append((number, sha256))
    return found


def private_folder(path: Path, check: bool) -> bool:
    """Make `path` a folder of the module's user alone (root on a node; mode 0700); whether that
    changed anything. A link, a file, or a folder someone else owns is refused, never taken over."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        if not check:
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # mkdir's mode passes the umask
        return True
    except OSError as error:
        raise OSError(f"{path} is not a folder (a link or a file)") from error
    try:
        status = os.fstat(handle)
        if status.st_uid != os.geteuid():
            raise OSError(f"{path} belongs to user {status.st_uid}, not to this account: it is not taken over")
        if status.st_mode & 0o7777 == 0o700:
            return False
        if not check:
            os.fchmod(handle, 0o700)
        return True
    finally:
        os.close(handle)


def same(dest: Path, source: Path) -> bool:
    """Whether `dest` is already a file of the module's user, mode 0600, with `source`'s bytes."""
    if dest.is_symlink() or not dest.is_file():
        return False
    status = dest.stat()
    return (status.st_mode & 0o7777, status.st_uid) == (0o600, os.geteuid()) and filecmp.cmp(dest, source, shallow=False)


def private_copy(source: Path, folder: Path, name: str) -> Path:
    """A new file of the module's user alone (mode 0600) in `folder`, holding `source`'s bytes."""
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with os.fdopen(handle, "wb") as out, source.open("rb") as data:
            shutil.copyfileobj(data, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def receive(incoming: Path, work: Path, number: int, sha256: str, params: dict, check: bool) -> tuple[dict, bool]:
    """Verify one release in a private copy, then keep it and unpack it; (what was received, changed)."""
    name = f"release-{number}.tar.gz"
    packages, package, signature = work / "packages", incoming / name, incoming / f"{name}.sig"
    for kept in (packages / name, packages / f"{name}.sig"):
        if kept.is_dir() and not kept.is_symlink():
            raise OSError(f"{kept} is a folder, where the package's file belongs")
    # The bytes checked are the bytes kept: verified in private copies, which then become the package
    # and its signature (in check mode, read where they were handed over).
    copies = [] if check else [private_copy(package, packages, name)]
    try:
        if not check:
            copies.append(private_copy(signature, packages, f"{name}.sig"))
        checked, signed = (package, signature) if check else copies
        report: dict = {}
        manifest = verify_package(
            checked, number, sha256, signed.read_bytes(), params["signers"],
            content_paths=DEFAULT_CONTENT_PATHS + tuple(params["content_paths"]),
            content_tables=DEFAULT_CONTENT_TABLES + tuple(params["content_tables"]),
            check_sql=False, extract_to=None if check else work / "unpacked" / str(number), report=report,
        )
        changed = False
        for copy, kept in ((checked, packages / name), (signed, packages / f"{name}.sig")):
            if not same(kept, copy):
                changed = True
                if not check:
                    os.replace(copy, kept)  # a link there is replaced, never followed
    finally:
        for copy in copies:
            copy.unlink(missing_ok=True)
    if check:
        kept = work / "unpacked" / str(number) / "manifest.yml"
        changed |= not (kept.is_file() and kept.read_bytes() == manifest_bytes(manifest))
    else:
        changed |= bool(report.get("unpacked"))
    return {"release": number, "manifest": manifest, "signed_by": report.get("signed_by", "")}, changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            incoming=dict(type="path", required=True),
            work_dir=dict(type="path", required=True),
            releases=dict(type="list", elements="dict", required=True),
            signers=dict(type="list", elements="dict", required=True),
            content_paths=dict(type="list", elements="str", default=[]),
            content_tables=dict(type="list", elements="str", default=[]),
            stage_root=dict(type="path"),
            stage_base=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    require_pyyaml(module)
    p, check = module.params, module.check_mode
    if not p["signers"]:
        module.fail_json(msg="No signer is listed: without the agency's public keys no package is taken in")
    try:
        wanted = entries(p["releases"])
    except ValueError as error:
        module.fail_json(msg=f"Nothing was taken in: {error}")
    incoming, work = Path(p["incoming"]), Path(p["work_dir"])
    changed, received = False, []
    try:
        for folder in (work, *(work / name for name in FOLDERS)):
            changed |= private_folder(folder, check)
    except OSError as error:
        module.fail_json(msg=f"The work folders in {work} cannot be made: {error}", changed=changed)
    for number, sha256 in wanted:
        name = f"release-{number}.tar.gz"
        try:
            taken, moved = receive(incoming, work, number, sha256, p, check)
        except PackageRefused as refused:
            module.fail_json(msg=f"{name} refused: " + "; ".join(str(v) for v in refused.violations),
                             violations=[str(v) for v in refused.violations], changed=changed, releases=received)
        except SignatureError as error:
            module.fail_json(msg=f"{name} refused: {error}", changed=changed, releases=received)
        except OSError as error:
            module.fail_json(msg=f"{name} was not taken in: {error}", changed=changed, releases=received)
        changed |= moved
        received.append(taken)
    if not p["stage_root"]:
        module.exit_json(changed=changed, releases=received)
    numbers = [entry[0] for entry in wanted]
    try:
        staged, shared_files = stage_all(Path(p["stage_root"]), numbers, p["stage_base"], work / "unpacked", check)
    except (StageError, OSError) as error:
        if not (check and isinstance(error, FileNotFoundError)):
            module.fail_json(msg=f"Taken in, but not staged: {error}", changed=True, releases=received)
        staged, shared_files = sorted(numbers), {}  # never unpacked here in check mode: each would be staged
    module.exit_json(changed=changed or bool(staged), releases=received, staged=staged, shared_files=shared_files)


if __name__ == "__main__":
    main()
