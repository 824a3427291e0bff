# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release's code tree, staged beside the live one (module release_receive stages what it took in):
built from the release before it under a temporary name, every unchanged file a hard link to that
release's, links into shared/ content kept as links, changed files written as new files (never
through a hard link: the live release is untouched), deletions removed, the result checked, and
renamed into place, so a half-built release never exists under its number."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ansible_collections.otap.street.plugins.module_utils.release_package import sha256_file
from ansible_collections.otap.street.plugins.module_utils.pyyaml import yaml


def stage_all(root: Path, releases: list[int], base: int | None, unpacked_dir: Path,
              check: bool = False) -> tuple[list[int], dict[str, int]]:
    """Stage `releases` in order, the first on top of `base` (the number before it when None), each
    next on top of the one before it in the list (a withdrawn release is simply not in it): the
    releases built, and per release how many files it shares with the one below."""
    staged, shared_files = [], {}
    ordered = sorted(releases)
    previous = base if base is not None else (ordered[0] - 1 if ordered else 0)
    for release in ordered:
        shared = stage(root, release, previous, unpacked_dir / str(release), check, base_planned=previous in staged)
        previous = release
        if shared is not None:
            staged.append(release)
            shared_files[str(release)] = shared
    return staged, shared_files


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
    """Put a file in place as a new inode, so a hard-linked older release keeps its version: written
    into a file made new here (never one the tree already holds, which may be a hard link into the
    live release or a link into shared content), then renamed over `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(handle, "wb") as out, source.open("rb") as data:
            shutil.copyfileobj(data, out)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StageError(ValueError):
    """A release that cannot be staged; nothing of it is left under its number."""


def stage(root: Path, release: int, base_release: int, unpacked: Path, check: bool = False,
          base_planned: bool = False) -> int | None:
    """Build `releases/<release>` on top of `releases/<base_release>` from the unpacked package:
    how many files it shares with the base, None when it was already staged from the same package
    (0 in check mode, which builds nothing; there `base_planned` says the base would have been staged
    just before). StageError says why it cannot be."""
    manifest_path = unpacked / "manifest.yml"
    manifest = yaml.safe_load(manifest_path.read_text())
    if manifest.get("release") != release:
        raise StageError(f"{unpacked} holds release {manifest.get('release')}, not {release}")
    stamp = root / "releases" / f".{release}.staged"
    target = root / "releases" / str(release)
    if target.is_dir() and stamp.is_file() and stamp.read_text() == sha256_file(manifest_path):
        return None
    base = root / "releases" / str(base_release)
    if not base.is_dir() and not (check and base_planned):
        raise StageError(f"release {release} is staged on top of release {base_release}, "
                         f"but {base} does not exist on this host")
    if check:
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
            raise StageError(f"release {release}: {path} lies behind the link {link} (shared content); a release "
                             "never writes or deletes through a link")
    for item in manifest["files"]:
        dest = work / item["path"]
        if dest.is_symlink() or (dest.exists() and not dest.is_file()):
            shutil.rmtree(work)
            raise StageError(f"release {release}: {item['path']} would replace a link or folder in the tree")
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
            raise StageError(f"release {release}: {item['path']} did not land intact in the staged tree")
    os.rename(work, target)
    stamp.write_text(sha256_file(manifest_path))
    return shared
