#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage the code tree of one or more releases beside the live one."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_stage
author: otap.street maintainers (!UNKNOWN)
version_added: 0.1.0
short_description: Build C(releases/N) from the release before it, sharing unchanged files
description:
  - For each release in order, builds C(<root>/releases/<N>) from the tree before it (I(base) for
    the first, then the previous release of the list; withdrawn releases are simply not in it); every
    unchanged file is a hard link to the previous release's (shared, not copied), links to
    C(shared/) content are kept as links, the release's changed files are written as new files
    (never through a hard link, so the live release is untouched), and its deletions are removed.
  - The tree is built under a temporary name and renamed into place, so a half-built release never
    exists under its number. A release already staged from the same package is left alone.
  - Checks the result; every file of the package is in the tree with its checksum, every
    deletion is gone.
options:
  root:
    description: The site's top folder (holding C(releases/), C(shared/), C(current)).
    type: path
    required: true
  releases:
    description: The numbers of the releases to stage, in order.
    type: list
    elements: int
    required: true
  base:
    description: The release the first one is built on (the live one); defaults to the number before it.
    type: int
  unpacked_dir:
    description: Folder holding each verified package unpacked as C(<N>/) (C(manifest.yml), C(files/)).
    type: path
    required: true
requirements:
  - PyYAML
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Stage releases 3 and 4 on top of release 2
  otap.street.release_stage:
    root: /var/www/portal
    releases: [3, 4]
    unpacked_dir: /var/lib/otap-release/unpacked
"""

RETURN = r"""
staged:
  description: The releases built by this call.
  type: list
  elements: int
  returned: success
shared_files:
  description: Per release staged, how many files are hard links to the previous release.
  type: dict
  returned: success
"""

import os
import shutil
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.otap.street.plugins.module_utils.release_package import sha256_file
from ansible_collections.otap.street.plugins.module_utils.pyyaml import require as require_pyyaml, yaml


def link_tree(source: Path, target: Path) -> int:
    """Recreate `source` at `target`: directories made, files hard-linked, symlinks copied."""
    shared = 0
    for folder, dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        os.makedirs(target / rel, exist_ok=True)
        os.chmod(target / rel, os.stat(folder).st_mode & 0o7777)
        for name in dirs + files:
            src = Path(folder) / name
            dst = target / rel / name
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                if name in dirs:
                    dirs.remove(name)
            elif name in files:
                os.link(src, dst)
                shared += 1
    return shared


def through_link(tree: Path, rel: str) -> str | None:
    """The first folder on the way to `rel` inside `tree` that is a link (into shared content, say)."""
    here = tree
    for part in rel.split("/")[:-1]:
        here = here / part
        if here.is_symlink():
            return str(here.relative_to(tree))
    return None


def write_new(source: Path, dest: Path, mode: int) -> None:
    """Put a file in place as a new inode, so a hard-linked older release keeps its version."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.otap-new"
    shutil.copyfile(source, tmp)
    os.chmod(tmp, mode)
    os.replace(tmp, dest)


def stage(module, root: Path, release: int, base_release: int, unpacked: Path) -> int | None:
    manifest_path = unpacked / "manifest.yml"
    manifest = yaml.safe_load(manifest_path.read_text())
    if manifest.get("release") != release:
        module.fail_json(msg=f"{unpacked} holds release {manifest.get('release')}, not {release}")
    stamp = root / "releases" / f".{release}.staged"
    target = root / "releases" / str(release)
    if target.is_dir() and stamp.is_file() and stamp.read_text() == sha256_file(manifest_path):
        return None
    base = root / "releases" / str(base_release)
    if not base.is_dir():
        module.fail_json(msg=f"release {release} is staged on top of release {base_release}, "
                             f"but {base} does not exist on this host")
    if module.check_mode:
        return 0
    work = root / "releases" / f".{release}.staging"
    for leftover in (work, target):
        if leftover.exists():
            shutil.rmtree(leftover)
    shared = link_tree(base, work)
    for path in [item["path"] for item in manifest["files"]] + manifest["deletions"]:
        link = through_link(work, path)
        if link:
            shutil.rmtree(work)
            module.fail_json(msg=f"release {release}: {path} lies behind the link {link} (shared content); a release "
                                 "never writes or deletes through a link")
    for item in manifest["files"]:
        dest = work / item["path"]
        if dest.is_symlink() or (dest.exists() and not dest.is_file()):
            shutil.rmtree(work)
            module.fail_json(msg=f"release {release}: {item['path']} would replace a link or folder in the tree")
        if dest.exists():
            shared -= 1
        write_new(unpacked / "files" / item["path"], dest, int(item["mode"], 8))
    for path in manifest["deletions"]:
        dest = work / path
        if dest.is_file() and not dest.is_symlink():
            dest.unlink()
            shared -= 1
    for item in manifest["files"]:
        if sha256_file(work / item["path"]) != item["sha256"]:
            module.fail_json(msg=f"release {release}: {item['path']} did not land intact in the staged tree")
    os.rename(work, target)
    stamp.write_text(sha256_file(manifest_path))
    return shared


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            releases=dict(type="list", elements="int", required=True),
            unpacked_dir=dict(type="path", required=True),
            base=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    require_pyyaml(module)
    root = Path(module.params["root"])
    staged, shared_files = [], {}
    ordered = sorted(module.params["releases"])
    previous = module.params["base"] if module.params["base"] is not None else (ordered[0] - 1 if ordered else 0)
    for release in ordered:
        result = stage(module, root, release, previous, Path(module.params["unpacked_dir"]) / str(release))
        previous = release
        if result is not None:
            staged.append(release)
            shared_files[str(release)] = result
    module.exit_json(changed=bool(staged), staged=staged, shared_files=shared_files)


if __name__ == "__main__":
    main()
