import os
import stat

import pytest

from ansible_collections.otap.street.plugins.module_utils import root_files
from ansible_collections.otap.street.plugins.modules import access_keys

ANNA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnna anna@laptop"
OTAP = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtap otap@controller"


def keys(run_module, folder, accounts, absent=(), **extra):
    return run_module(access_keys, dir=str(folder), keys=accounts, absent=list(absent), **extra)


def owned(path) -> tuple[int, int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_each_account_gets_its_keys_one_per_line_in_a_root_file_and_a_second_run_changes_nothing(run_module, tmp_path):
    folder = tmp_path / "authorized_keys.d"
    done = keys(run_module, folder, {"anna": [f"  {ANNA}\n", OTAP], "otap": [OTAP], "carla": []})
    assert done["changed"] and done["written"] == ["anna", "carla", "otap"] and done["removed"] == []
    assert (folder / "anna").read_text() == f"{ANNA}\n{OTAP}\n"
    assert (folder / "otap").read_text() == f"{OTAP}\n"
    assert (folder / "carla").read_text() == ""
    assert owned(folder) == (0, 0, 0o755)
    assert all(owned(folder / name) == (0, 0, 0o644) for name in ("anna", "otap", "carla"))
    assert sorted(os.listdir(folder)) == ["anna", "carla", "otap"], "no temporary file is left behind"
    again = keys(run_module, folder, {"anna": [ANNA, OTAP], "otap": [OTAP], "carla": None})
    assert not again["changed"] and again["written"] == []


def test_the_files_of_absent_accounts_go_and_other_files_in_the_folder_stay(run_module, tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    for name in ("bob", "otap-uploads"):
        (folder / name).write_text(f"{OTAP}\n")
    done = keys(run_module, folder, {"anna": [ANNA]}, absent=["bob", "dave", "bob"])
    assert done["changed"] and done["removed"] == ["bob"]
    assert sorted(os.listdir(folder)) == ["anna", "otap-uploads"]
    assert not keys(run_module, folder, {"anna": [ANNA]}, absent=["bob", "dave"])["changed"]


@pytest.mark.parametrize("key", [
    f"{ANNA}\n{OTAP}",
    f"{ANNA}\r{OTAP}",
    f"{ANNA}\r\ncommand=\"/bin/sh\" {OTAP}",
    f"{ANNA}\x00{OTAP}",
    "",
    "   \n",
], ids=["newline", "carriage-return", "crlf-with-options", "nul", "empty", "blank"])
def test_a_key_that_is_not_exactly_one_line_is_refused_and_nothing_is_written(run_module, tmp_path, key):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    (folder / "anna").write_text(f"{ANNA}\n")
    refused = keys(run_module, folder, {"otap": [OTAP], "anna": [key]}, absent=["anna-old"])
    assert refused["failed"] and refused["msg"].startswith("anna: ") and "nothing was changed" in refused["msg"]
    assert sorted(os.listdir(folder)) == ["anna"] and (folder / "anna").read_text() == f"{ANNA}\n"


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "", "Anna", "-anna", "a" * 33, "anna\n"])
@pytest.mark.parametrize("where", ["keys", "absent"])
def test_a_name_that_is_not_an_account_is_refused_wherever_it_is_given(run_module, tmp_path, name, where):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    (tmp_path / "escape").write_text("outside\n")
    accounts, absent = ({name: [ANNA]}, []) if where == "keys" else ({}, [name])
    refused = keys(run_module, folder, {"otap": [OTAP], **accounts}, absent=absent)
    assert refused["failed"] and "is not an account name" in refused["msg"]
    assert os.listdir(folder) == [] and (tmp_path / "escape").read_text() == "outside\n"


def test_an_account_both_keyed_and_absent_is_refused(run_module, tmp_path):
    refused = keys(run_module, tmp_path, {"anna": [ANNA]}, absent=["anna"])
    assert refused["failed"] and refused["msg"].startswith("anna: both")
    assert os.listdir(tmp_path) == []


def test_a_link_in_a_file_s_place_is_replaced_and_its_target_never_touched(run_module, tmp_path):
    folder, target = tmp_path / "keys", tmp_path / "shadow"
    folder.mkdir(mode=0o755)
    target.write_text("root:x:0:0\n")
    (folder / "anna").symlink_to(target)
    (folder / "bob").symlink_to(target)
    done = keys(run_module, folder, {"anna": [ANNA]}, absent=["bob"], _ansible_diff=True)
    assert done["written"] == ["anna"] and done["removed"] == ["bob"]
    assert not (folder / "anna").is_symlink() and (folder / "anna").read_text() == f"{ANNA}\n"
    assert not os.path.lexists(folder / "bob")
    assert target.read_text() == "root:x:0:0\n"
    assert "root:x" not in str(done["diff"]), "the diff shows what is in the file's place, not the link's target"


def test_a_file_of_the_wrong_owner_or_mode_is_put_right(run_module, tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o777)
    (folder / "anna").write_text(f"{ANNA}\n")
    os.chmod(folder / "anna", 0o666)
    (folder / "otap").write_text(f"{OTAP}\n")
    os.chown(folder / "otap", 1000, 1000)
    os.chmod(folder, 0o777)
    done = keys(run_module, folder, {"anna": [ANNA], "otap": [OTAP]})
    assert done["changed"] and done["written"] == ["anna", "otap"]
    assert owned(folder) == (0, 0, 0o755)
    assert owned(folder / "anna") == owned(folder / "otap") == (0, 0, 0o644)


def test_check_mode_says_what_would_change_shows_it_and_changes_nothing(run_module, tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    (folder / "anna").write_text("ssh-ed25519 AAAAold anna@old\n")
    os.chmod(folder / "anna", 0o644)
    (folder / "bob").write_text(f"{OTAP}\n")
    done = keys(run_module, folder, {"anna": [ANNA], "otap": [OTAP]}, absent=["bob"],
                _ansible_check_mode=True, _ansible_diff=True)
    assert done["changed"] and done["written"] == ["anna", "otap"] and done["removed"] == ["bob"]
    shown = {d["after_header"].rsplit("/", 1)[1]: (d["before"], d["after"]) for d in done["diff"]}
    assert shown == {"anna": ("ssh-ed25519 AAAAold anna@old\n", f"{ANNA}\n"), "otap": ("", f"{OTAP}\n"),
                     "bob": (f"{OTAP}\n", "")}
    assert sorted(os.listdir(folder)) == ["anna", "bob"]
    assert (folder / "anna").read_text() == "ssh-ed25519 AAAAold anna@old\n"
    assert not keys(run_module, tmp_path / "new", {"anna": [ANNA]}, _ansible_check_mode=True)["failed"]
    assert not (tmp_path / "new").exists()


def test_a_folder_that_is_not_a_folder_is_refused(run_module, tmp_path):
    (tmp_path / "keys").write_text("")
    refused = keys(run_module, tmp_path / "keys", {"anna": [ANNA]})
    assert refused["failed"] and "is not a folder" in refused["msg"]


@pytest.mark.parametrize("where", ["keys", "absent"])
def test_a_folder_where_an_account_s_file_goes_is_refused_before_anything_is_written(run_module, tmp_path, where):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    (folder / "dave").write_text(f"{OTAP}\n")
    (folder / "bob").mkdir()
    accounts, absent = ({"anna": [ANNA], "bob": [ANNA]}, ["dave"]) if where == "keys" else ({"anna": [ANNA]}, ["bob", "dave"])
    refused = keys(run_module, folder, accounts, absent=absent)
    assert refused["failed"] and refused["msg"].startswith("bob: a folder stands where the key file goes")
    assert sorted(os.listdir(folder)) == ["bob", "dave"]


def test_a_key_that_is_not_valid_text_is_refused():
    # Ansible's own loaders refuse such a string before a module sees it; the module refuses it too.
    why = access_keys.refusal({"anna": [ANNA], "bob": ["ssh-ed25519 AAAA\udc0a bob"]}, [])
    assert why == "bob: a key that is not valid text (nothing was changed)"


def test_keys_are_taken_away_before_any_write_and_a_failed_write_says_what_was_done(run_module, tmp_path, monkeypatch):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    (folder / "dave").write_text(f"{OTAP}\n")

    def disk_full(path, text, mode, uid=0, gid=0):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(root_files, "write", disk_full)
    failed = keys(run_module, folder, {"anna": [ANNA]}, absent=["dave"])
    assert failed["failed"] and failed["removed"] == ["dave"] and failed["written"] == []
    assert failed["msg"] == f"{folder / 'anna'}: No space left on device (the accounts in written and removed are done)"
    assert os.listdir(folder) == []
