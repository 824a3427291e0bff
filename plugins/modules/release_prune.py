#!/usr/bin/python
# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove the release trees and work copies a node no longer keeps."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_prune
author: otap.street maintainers (!UNKNOWN)
version_added: 0.5.0
short_description: Remove old release trees and the work copies of older releases on a node
description:
  - Run after release I(release) went live. Of the code trees C(<root>/releases/<N>) it keeps the
    I(keep) + 1 newest by number, release I(release) and release I(release) - 1, and the tree
    C(<root>/current) resolves into however the link is written; the others are removed, with the
    stamp their staging left (C(releases/.<N>.staged)); so are stamps whose tree is gone.
  - Of the work folder's copies, the unpacked packages C(unpacked/<N>) and the packages
    C(packages/release-<N>.tar.gz) with their signatures, it removes those of releases older than
    I(release) - I(keep).
  - Only names written as a release number is (C(7), not C(07)) are touched; anything else in those
    folders stays. Links are removed themselves, never followed, and a folder that is itself a link
    is not looked into.
options:
  root:
    description: The site's top folder (holding C(releases/) and C(current)).
    type: path
    required: true
  work_dir:
    description: The node's release work folder (holding C(unpacked/) and C(packages/)).
    type: path
    required: true
  release:
    description: The release just made live.
    type: int
    required: true
  keep:
    description: How many releases to keep besides the live one and the one before it (0 or more).
    type: int
    required: true
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
- name: Remove releases beyond the three kept before release 9
  otap.street.release_prune:
    root: /var/www/portal
    work_dir: /var/lib/otap-release
    release: 9
    keep: 3
"""

RETURN = r"""
removed:
  description: What was removed (what would be, in check mode), relative to I(root) or I(work_dir).
  type: list
  elements: str
  returned: success
  sample: [releases/4, releases/.4.staged, unpacked/5, packages/release-5.tar.gz, packages/release-5.tar.gz.sig]
"""

import os
import re
import shutil
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

# Only names a release number is written as (str(int)): "07", "٣" or "²" are left alone.
NUMBER = re.compile(r"0|[1-9][0-9]*", re.ASCII)
PACKAGE = re.compile(r"release-(0|[1-9][0-9]*)\.tar\.gz(\.sig)?", re.ASCII)
STAMP = re.compile(r"\.(0|[1-9][0-9]*)\.staged", re.ASCII)


def real_folder(path: Path) -> bool:
    """A folder, not a link to one."""
    return path.is_dir() and not path.is_symlink()


def entries(folder: Path) -> list[Path]:
    """What a folder holds; nothing when it is missing or is itself a link (never followed)."""
    return sorted(folder.iterdir()) if real_folder(folder) else []


def numbered(folder: Path) -> dict[int, Path]:
    """The entries of `folder` named by a release number."""
    return {int(entry.name): entry for entry in entries(folder) if NUMBER.fullmatch(entry.name)}


def serves(tree: Path, live: str) -> bool:
    """Whether `current`, resolved, is this tree or lies inside it (however the link is spelled)."""
    resolved = os.path.realpath(tree)
    return live == resolved or live.startswith(resolved + os.sep)


def trees_to_remove(root: Path, release: int, keep: int) -> list[Path]:
    trees = {number: tree for number, tree in numbered(root / "releases").items() if real_folder(tree)}
    kept = set(sorted(trees)[-(keep + 1):]) | {release, release - 1}
    live = os.path.realpath(root / "current")
    return [trees[number] for number in sorted(trees) if number not in kept and not serves(trees[number], live)]


def stamps_to_remove(root: Path, trees: list[Path]) -> list[Path]:
    """The staging stamps of the trees removed, and those whose tree is gone already."""
    going = {tree.name for tree in trees}
    return [stamp for stamp in entries(root / "releases") if (match := STAMP.fullmatch(stamp.name))
            and (match.group(1) in going or not (root / "releases" / match.group(1)).exists())
            and not real_folder(stamp)]


def copies_to_remove(work_dir: Path, release: int, keep: int) -> list[Path]:
    older = release - keep
    unpacked = [path for number, path in sorted(numbered(work_dir / "unpacked").items()) if number < older]
    return unpacked + [path for path in entries(work_dir / "packages")
                       if (match := PACKAGE.fullmatch(path.name)) and int(match.group(1)) < older
                       and not real_folder(path)]


def remove(path: Path) -> None:
    """A folder with what it holds; a link itself, never what it points at."""
    if real_folder(path):
        shutil.rmtree(path)
    else:
        path.unlink()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            work_dir=dict(type="path", required=True),
            release=dict(type="int", required=True),
            keep=dict(type="int", required=True),
        ),
        supports_check_mode=True,
    )
    root, work_dir = Path(module.params["root"]), Path(module.params["work_dir"])
    release, keep = module.params["release"], module.params["keep"]
    if keep < 0:
        module.fail_json(msg=f"keep is how many releases to keep besides the live one and the one before it: not {keep}")
    trees = trees_to_remove(root, release, keep)
    stamps = stamps_to_remove(root, trees)
    copies = copies_to_remove(work_dir, release, keep)
    names = [(path, str(path.relative_to(root))) for path in trees + stamps] + \
        [(path, str(path.relative_to(work_dir))) for path in copies]
    removed = [name for path, name in names]
    if not module.check_mode:
        done = []
        for path, name in names:
            try:
                remove(path)
            except OSError as error:
                module.fail_json(msg=f"could not remove {path}: {error}", removed=done)
            done.append(name)
    module.exit_json(changed=bool(removed), removed=removed)


if __name__ == "__main__":
    main()
