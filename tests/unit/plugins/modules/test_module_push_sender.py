import os
import stat
import subprocess

import pytest

from ansible_collections.otap.street.plugins.modules import push_sender

HOST = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMJh0b0xd0M+1mGzu6xnjuI3NccEe+0tYfq65HRe34kX"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOth"
CONFIG = "Host *\n  User otap-sync\n"


def send(run_module, tmp_path, known_hosts=None, **extra):
    args = dict(key=str(tmp_path / "ssh" / "otap_sync_ed25519"), comment="otap-sync@prod1",
                config_dir=str(tmp_path / "etc"), known_hosts={"10.242.42.12": HOST} if known_hosts is None else known_hosts,
                ssh_config=CONFIG)
    return run_module(push_sender, **(args | extra))


def owned(path) -> tuple[int, int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_a_new_key_its_settings_and_a_second_run_that_changes_nothing(run_module, tmp_path):
    done = send(run_module, tmp_path)
    assert done["changed"] and done["public_key"].startswith("ssh-ed25519 ") and len(done["public_key"].split()) == 2
    assert done["authorized_key"] == f"{done['public_key']} otap-sync@prod1"
    key = tmp_path / "ssh" / "otap_sync_ed25519"
    assert owned(key) == (0, 0, 0o600) and owned(f"{key}.pub") == (0, 0, 0o600)
    assert owned(tmp_path / "ssh")[2] == 0o700, "a new ~/.ssh is private"
    assert (tmp_path / "ssh" / "otap_sync_ed25519.pub").read_text() == f"{done['public_key']} otap-sync@prod1\n"
    made = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True).stdout
    assert made.split()[:2] == done["public_key"].split(), "the public key is the private key's own"
    assert (tmp_path / "etc" / "known_hosts").read_text() == f"10.242.42.12 {HOST}\n"
    assert (tmp_path / "etc" / "ssh_config").read_text() == CONFIG
    assert owned(tmp_path / "etc") == (0, 0, 0o755)
    assert all(owned(tmp_path / "etc" / name) == (0, 0, 0o644) for name in ("known_hosts", "ssh_config"))
    again = send(run_module, tmp_path)
    assert not again["changed"] and again["public_key"] == done["public_key"], "an existing key is kept"


def test_other_hosts_lines_stay_in_their_place_and_each_run_for_one_host_changes_nothing_after_its_first(run_module, tmp_path):
    send(run_module, tmp_path, {"10.242.42.12": HOST})
    send(run_module, tmp_path, {"10.242.42.13": OTHER})
    assert (tmp_path / "etc" / "known_hosts").read_text() == f"10.242.42.12 {HOST}\n10.242.42.13 {OTHER}\n"
    assert not send(run_module, tmp_path, {"10.242.42.12": HOST})["changed"]
    assert not send(run_module, tmp_path, {"10.242.42.13": OTHER})["changed"]
    changed = send(run_module, tmp_path, {"10.242.42.12": OTHER})
    assert changed["changed"] and (tmp_path / "etc" / "known_hosts").read_text() == f"10.242.42.12 {OTHER}\n10.242.42.13 {OTHER}\n"
    only = send(run_module, tmp_path, {"10.242.42.13": OTHER}, exclusive=True)
    assert only["changed"] and (tmp_path / "etc" / "known_hosts").read_text() == f"10.242.42.13 {OTHER}\n"


@pytest.mark.parametrize("known", [
    {"10.242.42.12": f"{HOST}\n10.0.0.66 {OTHER}"},
    {"10.242.42.12": f"{HOST} extra"},
    {"10.242.42.12": f"{HOST}\x00"},
    {"10.242.42.12": ""},
    {"10.242.42.12\n10.0.0.66": HOST},
    {"* ": HOST},
    {"host,other": HOST},
], ids=["second-line-in-key", "word-after-key", "nul", "empty", "line-break-in-name", "blank-in-name", "comma-pattern"])
def test_a_host_entry_that_would_be_more_than_one_line_or_name_is_refused_and_nothing_is_written(run_module, tmp_path, known):
    refused = send(run_module, tmp_path, known)
    assert refused["failed"] and "nothing was changed" in refused["msg"]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "ssh").exists()


def test_a_key_of_another_type_or_one_that_cannot_be_read_is_refused_never_replaced(run_module, tmp_path):
    (tmp_path / "ssh").mkdir(mode=0o700)
    key = tmp_path / "ssh" / "otap_sync_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(key)], check=True)
    before = key.read_bytes()
    refused = send(run_module, tmp_path)
    assert refused["failed"] and "not ed25519" in refused["msg"] and key.read_bytes() == before
    key.write_text("not a key\n")
    refused = send(run_module, tmp_path)
    assert refused["failed"] and "cannot be read as a private key" in refused["msg"]
    assert key.read_text() == "not a key\n"


def test_a_key_with_a_passphrase_is_refused_at_once_not_waited_on(run_module, tmp_path):
    (tmp_path / "ssh").mkdir(mode=0o700)
    key = tmp_path / "ssh" / "otap_sync_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(key)], check=True)
    refused = send(run_module, tmp_path)
    assert refused["failed"] and "cannot be read as a private key" in refused["msg"]


def test_a_link_in_the_key_s_place_is_refused(run_module, tmp_path):
    (tmp_path / "ssh").mkdir(mode=0o700)
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "ssh" / "otap_sync_ed25519").symlink_to(tmp_path / "elsewhere")
    refused = send(run_module, tmp_path)
    assert refused["failed"] and "not a regular file" in refused["msg"]
    assert (tmp_path / "elsewhere").read_text() == ""


def test_wrong_modes_are_set_right_and_a_link_at_a_settings_file_is_replaced_not_followed(run_module, tmp_path):
    send(run_module, tmp_path)
    key = tmp_path / "ssh" / "otap_sync_ed25519"
    key.chmod(0o644)
    target = tmp_path / "target"
    target.write_text("untouched\n")
    (tmp_path / "etc" / "ssh_config").unlink()
    (tmp_path / "etc" / "ssh_config").symlink_to(target)
    mended = send(run_module, tmp_path)
    assert mended["changed"] and owned(key) == (0, 0, 0o600)
    assert not (tmp_path / "etc" / "ssh_config").is_symlink() and target.read_text() == "untouched\n"


def test_check_mode_makes_nothing_and_says_what_would_change(run_module, tmp_path):
    checked = send(run_module, tmp_path, _ansible_check_mode=True, _ansible_diff=True)
    assert checked["changed"] and checked["public_key"] == "" and checked["authorized_key"] == ""
    assert not (tmp_path / "ssh").exists() and not (tmp_path / "etc").exists()
    send(run_module, tmp_path)
    checked = send(run_module, tmp_path, {"10.242.42.12": OTHER}, _ansible_check_mode=True, _ansible_diff=True)
    assert checked["changed"] and [d["before_header"] for d in checked["diff"]] == [str(tmp_path / "etc" / "known_hosts")]
    assert (tmp_path / "etc" / "known_hosts").read_text() == f"10.242.42.12 {HOST}\n"


def test_the_files_can_be_named_apart_from_the_folder_s_defaults(run_module, tmp_path):
    known, config = tmp_path / "etc" / "otap-witness.known_hosts", tmp_path / "etc" / "otap-witness.ssh_config"
    done = send(run_module, tmp_path, known_hosts_path=str(known), ssh_config_path=str(config), exclusive=True)
    assert done["changed"] and known.read_text() == f"10.242.42.12 {HOST}\n" and config.read_text() == CONFIG
    assert sorted(os.listdir(tmp_path / "etc")) == ["otap-witness.known_hosts", "otap-witness.ssh_config"]
