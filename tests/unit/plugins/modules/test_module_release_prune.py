import os

from ansible_collections.otap.street.plugins.modules import release_prune


def node(tmp_path, trees, copies, live):
    root, work = tmp_path / "portal", tmp_path / "work"
    for number in trees:
        (root / "releases" / str(number)).mkdir(parents=True)
        (root / "releases" / str(number) / "index.php").write_text(str(number))
        (root / "releases" / f".{number}.staged").write_text("stamp")
    os.symlink(f"{root}/releases/{live}", root / "current")
    (work / "packages").mkdir(parents=True)
    for number in copies:
        (work / "unpacked" / str(number)).mkdir(parents=True)
        for suffix in (".tar.gz", ".tar.gz.sig"):
            (work / "packages" / f"release-{number}{suffix}").write_text("package")
    return root, work


def args(root, work, release, keep=3):
    return dict(root=str(root), work_dir=str(work), release=release, keep=keep)


def test_old_trees_and_copies_go_and_a_second_run_changes_nothing(run_module, tmp_path):
    root, work = node(tmp_path, range(1, 10), range(1, 10), live=9)
    result = run_module(release_prune, **args(root, work, 9))
    assert result["changed"]
    assert sorted(os.listdir(root / "releases")) == [".6.staged", ".7.staged", ".8.staged", ".9.staged",
                                                     "6", "7", "8", "9"]
    assert sorted(os.listdir(work / "unpacked")) == ["6", "7", "8", "9"]
    assert sorted(os.listdir(work / "packages")) == [f"release-{n}{s}" for n in (6, 7, 8, 9)
                                                     for s in (".tar.gz", ".tar.gz.sig")]
    assert "releases/5" in result["removed"] and "packages/release-5.tar.gz.sig" in result["removed"]
    assert not run_module(release_prune, **args(root, work, 9))["changed"]


def test_the_live_release_and_the_one_before_it_stay_whatever_their_number(run_module, tmp_path):
    # A release made live again by a rollback (4) after newer ones were staged and withdrawn.
    root, work = node(tmp_path, [2, 3, 4, 10, 11, 12, 13], [], live=4)
    run_module(release_prune, **args(root, work, 4, keep=1))
    assert sorted(os.listdir(root / "releases")) == [".12.staged", ".13.staged", ".3.staged", ".4.staged",
                                                     "12", "13", "3", "4"]


def test_check_mode_says_what_would_go_and_removes_nothing(run_module, tmp_path):
    root, work = node(tmp_path, range(1, 7), range(1, 7), live=6)
    result = run_module(release_prune, _ansible_check_mode=True, **args(root, work, 6))
    assert result["changed"] and result["removed"] == ["releases/1", "releases/2", "releases/.1.staged",
                                                       "releases/.2.staged", "unpacked/1", "unpacked/2",
                                                       "packages/release-1.tar.gz", "packages/release-1.tar.gz.sig",
                                                       "packages/release-2.tar.gz", "packages/release-2.tar.gz.sig"]
    assert sorted(os.listdir(root / "releases"))[-6:] == [str(n) for n in range(1, 7)]
    assert len(os.listdir(work / "packages")) == 12


def test_only_release_numbers_are_touched_and_links_are_not_followed(run_module, tmp_path):
    root, work = node(tmp_path, range(1, 8), range(1, 3), live=7)
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    os.symlink(outside, root / "releases" / "0")
    os.symlink(outside / "keep", work / "unpacked" / "0")
    (root / "releases" / "notes").mkdir()
    (work / "packages" / "release-1.tar.gz.bak").write_text("kept")
    run_module(release_prune, **args(root, work, 7))
    assert (outside / "keep").is_dir() and (root / "releases" / "0").is_symlink()
    assert (root / "releases" / "notes").is_dir()
    assert (work / "packages" / "release-1.tar.gz.bak").is_file()
    assert not (root / "releases" / "1").exists() and not (work / "unpacked" / "1").exists()


def test_a_node_without_copies_or_trees_has_nothing_to_remove(run_module, tmp_path):
    root = tmp_path / "portal"
    (root / "releases").mkdir(parents=True)
    result = run_module(release_prune, **args(root, tmp_path / "none", 3))
    assert not result["changed"] and result["removed"] == []


def test_a_negative_keep_is_refused(run_module, tmp_path):
    root, work = node(tmp_path, [1, 2], [], live=2)
    result = run_module(release_prune, **args(root, work, 2, keep=-1))
    assert result["failed"] and "not -1" in result["msg"]
    assert (root / "releases" / "1").is_dir()


def test_stamps_whose_tree_is_gone_go_too(run_module, tmp_path):
    root, work = node(tmp_path, range(5, 9), [], live=8)
    for number in (2, 3):
        (root / "releases" / f".{number}.staged").write_text("left by an older cleanup")
    result = run_module(release_prune, **args(root, work, 8))
    assert result["removed"] == ["releases/.2.staged", "releases/.3.staged"]
    assert sorted(os.listdir(root / "releases")) == [".5.staged", ".6.staged", ".7.staged", ".8.staged",
                                                     "5", "6", "7", "8"]
    assert not run_module(release_prune, **args(root, work, 8))["changed"]
