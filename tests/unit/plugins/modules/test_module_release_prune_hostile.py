"""release_prune against what an operator or a broken run may leave: `current` spelled otherwise
than release_switch writes it, names that look like numbers, links and files where folders were;
the tasks it replaced (two `find`s, two `file: state=absent` loops) set the expected behaviour."""

import os

import pytest

from ansible_collections.otap.street.plugins.modules import release_prune, release_switch


def node(tmp_path, trees, copies, current):
    root, work = tmp_path / "portal", tmp_path / "work"
    (root / "releases").mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "shared" / "content.txt").write_text("the site's content")
    for number in trees:
        (root / "releases" / str(number)).mkdir()
        (root / "releases" / str(number) / "index.php").write_text(str(number))
        os.symlink(root / "shared", root / "releases" / str(number) / "images")
        (root / "releases" / f".{number}.staged").write_text("stamp")
    os.symlink(current, root / "current")
    for folder in ("unpacked", "packages"):
        (work / folder).mkdir(parents=True)
    for number in copies:
        (work / "unpacked" / str(number)).mkdir()
        for suffix in (".tar.gz", ".tar.gz.sig"):
            (work / "packages" / f"release-{number}{suffix}").write_text("package")
    return root, work


def args(root, work, release, keep):
    return dict(root=str(root), work_dir=str(work), release=release, keep=keep)


# 1. `current` written with a trailing slash (what tab completion gives: ln -sfn releases/4/ current).
#    release_switch reads it as release 4; release_prune's live() takes basename("releases/4/") == ""
#    and deletes the tree the site serves.
@pytest.mark.parametrize("target", ["releases/4/", "{root}/releases/4/"])
def test_the_tree_current_points_at_stays_when_the_link_ends_in_a_slash(run_module, tmp_path, target):
    root = tmp_path / "portal"
    root, work = node(tmp_path, range(1, 10), [], current=target.format(root=root))
    assert release_switch.current_release(str(root / "current"), str(root)) == 4  # the project's own reading
    result = run_module(release_prune, **args(root, work, 9, keep=1))
    assert "releases/4" not in result["removed"]
    assert (root / "releases" / "4" / "index.php").is_file()


# 2. Names str.isdigit() accepts but int() refuses (superscripts, circled digits): the module dies
#    with a ValueError traceback. The old `find` (regex ^\d+$, Unicode Nd only) never matched them.
@pytest.mark.parametrize("where", ["releases", "unpacked", "current"])
@pytest.mark.parametrize("name", ["\u00b2", "\u2460"])  # '²', '①'
def test_a_name_isdigit_accepts_but_int_refuses_is_left_alone(run_module, tmp_path, where, name):
    root, work = node(tmp_path, range(1, 4), range(1, 4), current="releases/3")
    if where == "releases":
        (root / "releases" / name).mkdir()
    elif where == "unpacked":
        (work / "unpacked" / name).mkdir()
    else:
        (root / "releases" / name).mkdir()
        os.unlink(root / "current")
        os.symlink(f"releases/{name}", root / "current")
    result = run_module(release_prune, **args(root, work, 3, keep=0))
    assert not result["failed"]
    assert (root / "releases" / name).is_dir() or (work / "unpacked" / name).is_dir()


# 3. Two names for one number ("3" and "03", or "3" and Arabic-Indic "٣"): numbered() keeps one in a
#    dict keyed by int, so one run removes one and the next run removes the other - not idempotent.
#    (The old tasks removed both in one run. Better: only canonical ASCII names are release numbers.)
@pytest.mark.parametrize("alias", ["03", "\u0663"])
def test_a_second_run_changes_nothing_when_two_names_share_a_number(run_module, tmp_path, alias):
    root, work = node(tmp_path, range(1, 10), [], current="releases/9")
    (root / "releases" / alias).mkdir()
    run_module(release_prune, **args(root, work, 9, keep=0))
    second = run_module(release_prune, **args(root, work, 9, keep=0))
    assert not second["changed"], second["removed"]


# 4. Semantics change, work copies: the old `find` (file_type: any) listed links and files too, and
#    `file: state=absent` removed the link itself (never its target). release_prune skips a link or a
#    file named like an old copy, so it stays forever.
def test_stale_links_and_files_named_like_old_copies_go_as_with_the_old_tasks(run_module, tmp_path):
    root, work = node(tmp_path, [9], [9], current="releases/9")
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep.tar.gz").write_text("kept")
    os.symlink(outside / "keep", work / "unpacked" / "1")
    (work / "unpacked" / "2").write_text("a file")
    os.symlink(outside / "keep.tar.gz", work / "packages" / "release-1.tar.gz")
    result = run_module(release_prune, **args(root, work, 9, keep=0))
    assert not os.path.lexists(work / "unpacked" / "1")
    assert not os.path.lexists(work / "unpacked" / "2")
    assert not os.path.lexists(work / "packages" / "release-1.tar.gz")
    assert (outside / "keep").is_dir() and (outside / "keep.tar.gz").is_file()  # targets untouched
    assert sorted(result["removed"]) == ["packages/release-1.tar.gz", "unpacked/1", "unpacked/2"]
