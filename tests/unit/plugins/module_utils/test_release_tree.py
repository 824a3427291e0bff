import os
import shutil
from pathlib import Path

import yaml

from ansible_collections.otap.street.plugins.module_utils.release_package import sha256_bytes
from ansible_collections.otap.street.plugins.module_utils import release_tree


def site(tmp_path):
    root = tmp_path / "portal"
    base = root / "releases" / "1"
    (base / "templates").mkdir(parents=True)
    (root / "shared" / "images").mkdir(parents=True)
    (base / "index.php").write_text("v1 index")
    (base / "templates" / "t.php").write_text("v1 template")
    (base / "old.js").write_text("old")
    os.symlink(str(root / "shared" / "images"), base / "images")
    return root


def unpacked(tmp_path, release, files, deletions=()):
    folder = tmp_path / "unpacked" / str(release)
    for path, text in files.items():
        (folder / "files" / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / "files" / path).write_text(text)
    manifest = {"release": release, "files": [{"path": p, "sha256": sha256_bytes(t.encode()), "mode": "0644"}
                                               for p, t in files.items()], "deletions": list(deletions)}
    (folder / "manifest.yml").write_text(yaml.safe_dump(manifest))
    return release


def run_stage(root, unpacked_dir, releases, base=None):
    """stage_all as module release_receive reports it: what was staged, or why it failed."""
    try:
        staged, shared = release_tree.stage_all(Path(root), releases, base, Path(unpacked_dir))
    except release_tree.StageError as error:
        return {"failed": True, "msg": str(error)}
    return {"failed": False, "changed": bool(staged), "staged": staged, "shared_files": shared}


def test_a_release_shares_unchanged_files_and_leaves_the_live_one_alone(tmp_path):
    root = site(tmp_path)
    result = run_stage(root=str(root), unpacked_dir=str(tmp_path / "unpacked"),
                        releases=[unpacked(tmp_path, 2, {"templates/t.php": "v2 template"}, ["old.js"])])
    assert result["changed"] and result["staged"] == [2]
    new, old = root / "releases" / "2", root / "releases" / "1"
    assert (new / "templates" / "t.php").read_text() == "v2 template"
    assert (old / "templates" / "t.php").read_text() == "v1 template", "the live release was changed"
    assert os.stat(new / "index.php").st_ino == os.stat(old / "index.php").st_ino, "unchanged file copied"
    assert not (new / "old.js").exists() and (old / "old.js").exists()
    assert os.readlink(new / "images") == str(root / "shared" / "images")
    assert result["shared_files"] == {"2": 1}


def test_releases_stage_in_order_and_a_second_run_changes_nothing(tmp_path):
    root = site(tmp_path)
    args = dict(root=str(root), unpacked_dir=str(tmp_path / "unpacked"),
                releases=[unpacked(tmp_path, 2, {"a.php": "2"}), unpacked(tmp_path, 3, {"a.php": "3"})])
    assert run_stage(**args)["staged"] == [2, 3]
    assert (root / "releases" / "3" / "a.php").read_text() == "3"
    assert not run_stage(**args)["changed"]


def test_a_missing_base_release_is_refused(tmp_path):
    root = site(tmp_path)
    result = run_stage(root=str(root), unpacked_dir=str(tmp_path / "unpacked"),
                        releases=[unpacked(tmp_path, 3, {"a.php": "3"})])
    assert result["failed"] and "on top of release 2" in result["msg"]


def test_a_withdrawn_release_is_skipped_by_building_on_the_one_before(tmp_path):
    root = site(tmp_path)
    result = run_stage(root=str(root), unpacked_dir=str(tmp_path / "unpacked"), base=1,
                        releases=[unpacked(tmp_path, 3, {"a.php": "3"})])
    assert result["staged"] == [3]
    assert (root / "releases" / "3" / "index.php").read_text() == "v1 index"


def test_staging_never_writes_or_deletes_through_a_link_into_shared_content(tmp_path):
    root = site(tmp_path)
    (root / "shared" / "images" / "photo.jpg").write_text("the webmaster's upload")
    for files, deletions in (({"images/evil.php": "<?php system($_GET['c']);"}, []),
                             ({"index.php": "v2"}, ["images/photo.jpg"]),
                             ({"images/sub/new.txt": "x"}, [])):
        result = run_stage(root=str(root), unpacked_dir=str(tmp_path / "unpacked"),
                            releases=[unpacked(tmp_path, 2, files, deletions)])
        assert result["failed"] and "lies behind the link images" in result["msg"], result
        assert sorted(os.listdir(root / "shared" / "images")) == ["photo.jpg"]
        assert (root / "shared" / "images" / "photo.jpg").read_text() == "the webmaster's upload"
        assert sorted(os.listdir(root / "releases")) == ["1"], "a refused release leaves no half-built tree"
        for name in ("files", "manifest.yml"):
            target = tmp_path / "unpacked" / "2" / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()


# An adversarial review's findings, mended.

def test_a_file_of_the_live_release_named_like_the_temporary_name_is_left_alone(tmp_path):
    """write_new copies into `.<name>.otap-new` beside the file it replaces; in the staged tree that
    name can already be a hard link to the live release's file (a release may ship any such name),
    and shutil.copyfile then writes through the hard link into the live release."""
    root = site(tmp_path)
    (root / "releases" / "1" / "templates" / ".t.php.otap-new").write_text("v1 file of its own")
    result = run_stage(root=str(root), unpacked_dir=str(tmp_path / "unpacked"),
                       releases=[unpacked(tmp_path, 2, {"templates/t.php": "v2 template"})])
    assert result["staged"] == [2]
    live = root / "releases" / "1" / "templates" / ".t.php.otap-new"
    assert live.read_text() == "v1 file of its own", "the live release's file was overwritten"
    assert (root / "releases" / "2" / "templates" / ".t.php.otap-new").exists(), "an unchanged file was lost"


def test_check_mode_reports_several_pending_releases_without_failing(tmp_path):
    """In check mode nothing is built, so the second release's base (the first) never exists and
    stage_all raises StageError, which release_receive reports as a failure in check mode (it
    only forgives FileNotFoundError), once the packages are already unpacked on the node."""
    root = site(tmp_path)
    releases = [unpacked(tmp_path, 2, {"a.php": "2"}), unpacked(tmp_path, 3, {"a.php": "3"})]
    try:
        staged, _ = release_tree.stage_all(root, releases, None, tmp_path / "unpacked", check=True)
    except release_tree.StageError as error:
        raise AssertionError(f"check mode failed: {error}") from error
    assert staged == [2, 3] and not (root / "releases" / "2").exists()
