"""push_sender, push_receiver and root_files attacked: by whoever writes a key, an address, a host
entry or a mode (an operator's slip or a hostile party), by the account that owns the inbox, and by
two runs at once. Each test states the guarantee it holds the modules to."""
import fcntl
import os
import pwd
import stat
import subprocess
import threading

import pytest

from ansible_collections.otap.street.plugins.module_utils import root_files
from ansible_collections.otap.street.plugins.modules import push_receiver, push_sender

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7+OTegVOeJVVK7EMPizBwbekYxbsYuHlkeZuGW/meF otap-sync@prod1"
HOST = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMJh0b0xd0M+1mGzu6xnjuI3NccEe+0tYfq65HRe34kX"
OLD = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldOldOldOldOldOldOldOldOldOldOldOldOldO"
EVIL = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvilEvilEvilEvilEvilEvilEvilEvilEvilEvil"
COMMAND = "/usr/local/sbin/otap-sync-receive"


def receive(run_module, tmp_path, **extra):
    args = dict(account="nobody", keys=[KEY], command=COMMAND, authorized_keys_dir=str(tmp_path / "keys"),
                **{"from": ["10.242.42.21"]})
    return run_module(push_receiver, **(args | extra))


def send(run_module, tmp_path, known_hosts=None, **extra):
    args = dict(key=str(tmp_path / "ssh" / "k"), comment="otap-sync@prod1", config_dir=str(tmp_path / "etc"),
                known_hosts={"10.242.42.12": HOST} if known_hosts is None else known_hosts, ssh_config="Host *\n")
    return run_module(push_sender, **(args | extra))


# --- receiver: a key usable from anywhere -------------------------------------------------------
@pytest.mark.parametrize("address", ["*", "0.0.0.0/0", "::/0", "*.*", "?*"])
def test_an_address_pattern_matching_every_client_is_refused(run_module, tmp_path, address):
    done = receive(run_module, tmp_path, **{"from": ["10.242.42.21", address]})
    assert done["failed"], (tmp_path / "keys" / "nobody").read_text()


# --- receiver: a YAML-unquoted mode (0644 is the int 420) -----------------------------------------
def test_an_unquoted_yaml_mode_is_refused_not_taken_as_other_octal(run_module, tmp_path):
    done = receive(run_module, tmp_path, folders=[{"path": str(tmp_path / "d"), "mode": 0o644}])  # mode: 0644
    mode = stat.S_IMODE(os.lstat(tmp_path / "d").st_mode) if (tmp_path / "d").exists() else None
    assert done["failed"] or mode == 0o644, f"folder made with mode {mode:04o}"


# --- idempotence: text holding a carriage return never settles ------------------------------------
def test_ssh_config_with_crlf_is_unchanged_on_the_second_run(run_module, tmp_path):
    assert send(run_module, tmp_path, ssh_config="Host *\r\n  User x\r\n")["changed"]
    assert not send(run_module, tmp_path, ssh_config="Host *\r\n  User x\r\n")["changed"]


def test_command_text_with_crlf_is_unchanged_on_the_second_run(run_module, tmp_path):
    command = tmp_path / "cmd"
    receive(run_module, tmp_path, command=str(command), command_text="#!/bin/sh\r\nexit 0\r\n")
    assert receive(run_module, tmp_path, command=str(command), command_text="#!/bin/sh\r\nexit 0\r\n")["written"] == []


def test_a_file_differing_only_by_carriage_returns_is_set_right(tmp_path):
    path = tmp_path / "cmd"
    path.write_bytes(b"#!/bin/sh\r\nexit 0\r\n")  # a broken shebang (/bin/sh\r)
    os.chmod(path, 0o755)
    root_files.keep(str(path), "#!/bin/sh\nexit 0\n", 0o755, [], False)
    assert path.read_bytes() == b"#!/bin/sh\nexit 0\n"


# --- known_hosts: Python's line ends are not ssh's ------------------------------------------------
@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\r"])
def test_a_comment_in_another_host_s_line_never_becomes_a_line_of_its_own(run_module, tmp_path, separator):
    (tmp_path / "etc").mkdir()
    # For ssh this is one line: host 10.9.9.9, and a comment.
    (tmp_path / "etc" / "known_hosts").write_text(f"10.9.9.9 {OLD} note{separator}evil.example {EVIL}\n")
    found = ["ssh-keygen", "-F", "evil.example", "-f", str(tmp_path / "etc" / "known_hosts")]
    assert subprocess.run(found, capture_output=True).returncode == 1, "ssh does not know evil.example before"
    send(run_module, tmp_path)
    assert subprocess.run(found, capture_output=True).returncode == 1, "ssh trusts EVIL for evil.example after"
    lines = (tmp_path / "etc" / "known_hosts").read_bytes().decode().split("\n")  # ssh's line ends, not Python's
    assert not [line for line in lines if line.startswith("evil.example")], lines


# --- known_hosts: the old key of the same host stays trusted --------------------------------------
@pytest.mark.parametrize("old_line", [f"10.242.42.12,prod2 {OLD}", f"prod2,10.242.42.12 {OLD}"])
def test_replacing_a_host_s_key_leaves_no_other_key_ssh_accepts_for_it(run_module, tmp_path, old_line):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "known_hosts").write_text(old_line + "\n")
    send(run_module, tmp_path)
    found = subprocess.run(["ssh-keygen", "-F", "10.242.42.12", "-f", str(tmp_path / "etc" / "known_hosts")],
                           capture_output=True, text=True).stdout
    assert OLD.split()[1] not in found, found


def test_a_host_name_in_other_case_is_refused_and_any_line_that_trusts_a_key_for_the_host_is_replaced(run_module, tmp_path):
    send(run_module, tmp_path, {"prod2.example": OLD})
    refused = send(run_module, tmp_path, {"Prod2.example": HOST})  # ssh matches host names regardless of case
    assert refused["failed"] and "lower case" in refused["msg"]
    (tmp_path / "etc" / "known_hosts").write_text(f"PROD2.example {OLD}\nprod2.* {OLD}\n@cert-authority *.example {OLD}\n"
                                                  f"@revoked * {EVIL}\n!prod2.example,other {OLD}\n")
    send(run_module, tmp_path, {"prod2.example": HOST})
    found = subprocess.run(["ssh-keygen", "-F", "prod2.example", "-f", str(tmp_path / "etc" / "known_hosts")],
                           capture_output=True, text=True).stdout
    assert OLD.split()[1] not in found and HOST.split()[1] in found, found
    kept = (tmp_path / "etc" / "known_hosts").read_text()
    assert f"@revoked * {EVIL}" in kept and f"!prod2.example,other {OLD}" in kept, "a revocation, a negation stay"


def test_a_host_with_a_port_is_matched_as_written_not_as_a_set_of_characters(run_module, tmp_path):
    send(run_module, tmp_path, {"[10.242.42.12]:2222": OLD, "1:2222": EVIL})
    send(run_module, tmp_path, {"[10.242.42.12]:2222": HOST})
    assert (tmp_path / "etc" / "known_hosts").read_text() == f"1:2222 {EVIL}\n[10.242.42.12]:2222 {HOST}\n"


def test_a_hashed_line_for_the_host_is_replaced_too(run_module, tmp_path):
    (tmp_path / "etc").mkdir()
    known = tmp_path / "etc" / "known_hosts"
    known.write_text(f"10.242.42.12 {OLD}\n10.0.0.9 {EVIL}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    send(run_module, tmp_path)
    found = subprocess.run(["ssh-keygen", "-F", "10.242.42.12", "-f", str(known)], capture_output=True, text=True).stdout
    assert OLD.split()[1] not in found and HOST.split()[1] in found, found
    assert subprocess.run(["ssh-keygen", "-F", "10.0.0.9", "-f", str(known)], capture_output=True).returncode == 0


# --- sender: check mode fails where the real run succeeds (ssh-keygen -y refuses an open key)
def test_check_mode_sets_no_mode_on_an_existing_key(run_module, tmp_path):
    send(run_module, tmp_path)
    key = tmp_path / "ssh" / "k"
    key.chmod(0o644)
    os.chmod(tmp_path / "etc" / "known_hosts", 0o600)
    checked = send(run_module, tmp_path, _ansible_check_mode=True)
    assert not checked["failed"] and checked["changed"], checked.get("msg")  # the real run succeeds
    assert stat.S_IMODE(key.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "etc" / "known_hosts").stat().st_mode) == 0o600



# --- sender: ssh-keygen follows a link at KEY.pub -------------------------------------------------
def test_a_link_at_the_public_key_s_place_is_never_followed(run_module, tmp_path):
    (tmp_path / "ssh").mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("root:secret\n")
    (tmp_path / "ssh" / "k.pub").symlink_to(victim)
    send(run_module, tmp_path)
    assert victim.read_text() == "root:secret\n"


# --- root_files.folder: the owner is set through a link that appeared after lstat -----------------
def test_a_link_swapped_in_while_a_folder_is_made_is_not_chowned_through(tmp_path, monkeypatch):
    # inbox/code sits in the account's own inbox: the account can rm it and plant a link.
    victim = tmp_path / "etc"
    victim.mkdir(mode=0o755)
    place = tmp_path / "inbox" / "code"
    place.parent.mkdir()
    real_lstat, planted = os.lstat, []

    def racing_lstat(path, *args, **kwargs):
        try:
            return real_lstat(path, *args, **kwargs)
        finally:
            if str(path) == str(place) and not planted:
                planted.append(True)
                os.symlink(victim, place)  # the account wins the race, just after lstat

    monkeypatch.setattr(root_files.os, "lstat", racing_lstat)
    nobody = pwd.getpwnam("nobody")
    try:
        root_files.folder(str(place), None, nobody.pw_uid, nobody.pw_gid)
    except OSError:
        pass
    assert os.lstat(victim).st_uid == 0, "the account now owns the folder the link pointed at"


# --- receiver: an account that is root ------------------------------------------------------------
def test_the_forced_command_is_not_given_to_root(run_module, tmp_path):
    assert receive(run_module, tmp_path, account="root")["failed"]


# --- known_hosts: two lower environments' syncs trusting their hosts at once on one node ----------
def test_a_run_waits_for_another_run_s_edit_of_known_hosts_to_end(run_module, tmp_path):
    send(run_module, tmp_path, {"10.0.0.1": HOST})
    other = os.open(tmp_path / "etc", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(other, fcntl.LOCK_EX)  # another run between its read and its write
    done = []
    waiting = threading.Thread(target=lambda: done.append(send(run_module, tmp_path, {"10.0.0.2": OLD})))
    waiting.start()
    waiting.join(0.5)
    assert not done, "the run did not wait for the lock"
    (tmp_path / "etc" / "known_hosts").write_text(f"10.0.0.1 {HOST}\n10.0.0.3 {EVIL}\n")  # the other run's write
    os.close(other)
    waiting.join(10)
    assert done and not done[0]["failed"]
    assert (tmp_path / "etc" / "known_hosts").read_text() == f"10.0.0.1 {HOST}\n10.0.0.3 {EVIL}\n10.0.0.2 {OLD}\n"


# --- held from the first attack on --------------------------------------------------------------
@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x1e"])
def test_a_unicode_separator_in_a_key_comment_stays_one_line_for_sshd(run_module, tmp_path, separator):
    key = f"{KEY} x{separator}ssh-ed25519 {EVIL.split()[1]} evil"
    assert not receive(run_module, tmp_path, keys=[key])["failed"]
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "keys" / "nobody")],
                            capture_output=True, text=True, check=True).stdout
    assert len(listed.splitlines()) == 1


@pytest.mark.parametrize("command", ["/usr/local/sbin/..", "/..", "/a/../b", "~/x y", "/x;id", "/x$(id)"])
def test_commands_that_leave_or_break_the_path_are_refused(run_module, tmp_path, command):
    assert receive(run_module, tmp_path, command=command)["failed"]


@pytest.mark.parametrize("address", ["10.0.0.1\u2028", "10.0.0.1\\", 'a"b', "a,b", "a b", "10.0.0.1\t"])
def test_addresses_with_quotes_commas_blanks_or_separators_are_refused(run_module, tmp_path, address):
    assert receive(run_module, tmp_path, **{"from": [address]})["failed"]


def test_three_hosts_written_in_alternation_settle(run_module, tmp_path):
    hosts = [{"10.0.0.1": HOST}, {"10.0.0.2": OLD}, {"10.0.0.3": EVIL}]
    for known in hosts:
        send(run_module, tmp_path, known)
    for known in hosts * 2:
        assert not send(run_module, tmp_path, known)["changed"]


def test_a_fifo_at_the_keys_file_is_replaced_without_hanging(run_module, tmp_path):
    (tmp_path / "keys").mkdir()
    os.mkfifo(tmp_path / "keys" / "nobody")
    assert receive(run_module, tmp_path)["changed"]
    assert (tmp_path / "keys" / "nobody").is_file()


def test_a_link_at_the_keys_folder_is_refused(run_module, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "keys").symlink_to(tmp_path / "elsewhere")
    assert receive(run_module, tmp_path)["failed"] and os.listdir(tmp_path / "elsewhere") == []


def test_a_failed_write_leaves_no_temporary_file(run_module, tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "nobody").mkdir()  # a folder where the file goes: rename fails
    assert receive(run_module, tmp_path)["failed"]
    assert os.listdir(tmp_path / "keys") == ["nobody"]
