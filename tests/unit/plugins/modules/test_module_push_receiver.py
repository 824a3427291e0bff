import json
import os
import pwd
import stat

import pytest

from ansible_collections.otap.street.plugins.modules import push_receiver

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7+OTegVOeJVVK7EMPizBwbekYxbsYuHlkeZuGW/meF otap-sync@prod1"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOth otap-sync@prod2"
ACCOUNT = "nobody"  # an account every Debian has; the module needs one that exists
COMMAND = "/usr/local/sbin/otap-sync-receive"
OPTIONS = f'restrict,from="10.242.42.21,10.242.42.22",command="{COMMAND}"'


def receive(run_module, tmp_path, keys=(KEY, KEY2), **extra):
    args = dict(account=ACCOUNT, keys=list(keys), command=COMMAND, authorized_keys_dir=str(tmp_path / "keys"),
                folders=[{"path": str(tmp_path / "state")},
                         {"path": str(tmp_path / "state" / "inbox"), "owner": "account", "mode": "0700"},
                         {"path": str(tmp_path / "state" / "inbox" / "code"), "owner": "account"}],
                settings_path=str(tmp_path / "receive.json"), settings={"databases": ["portal_sync"], "inbox": "/x"},
                **{"from": ["10.242.42.21", "10.242.42.22"]})
    return run_module(push_receiver, **(args | extra))


def owned(path) -> tuple[int, int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_each_key_may_run_the_command_only_from_the_addresses_only_and_a_second_run_changes_nothing(run_module, tmp_path):
    done = receive(run_module, tmp_path)
    assert done["changed"]
    assert (tmp_path / "keys" / ACCOUNT).read_text() == f"{OPTIONS} {KEY}\n{OPTIONS} {KEY2}\n"
    assert owned(tmp_path / "keys") == (0, 0, 0o755) and owned(tmp_path / "keys" / ACCOUNT) == (0, 0, 0o644)
    assert json.loads((tmp_path / "receive.json").read_text()) == {"databases": ["portal_sync"], "inbox": "/x"}
    assert owned(tmp_path / "receive.json") == (0, 0, 0o644)
    nobody = pwd.getpwnam(ACCOUNT)
    assert owned(tmp_path / "state") == (0, 0, 0o755)
    assert owned(tmp_path / "state" / "inbox") == (nobody.pw_uid, nobody.pw_gid, 0o700)
    assert owned(tmp_path / "state" / "inbox" / "code")[:2] == (nobody.pw_uid, nobody.pw_gid)
    again = receive(run_module, tmp_path)
    assert not again["changed"] and again["written"] == []


def test_the_command_is_installed_root_s_and_executable_before_the_keys_that_run_it(run_module, tmp_path):
    command = tmp_path / "sbin" / "otap-sync-receive"
    command.parent.mkdir()
    done = receive(run_module, tmp_path, command=str(command), command_text="#!/bin/sh\nexit 0\n")
    assert command.read_text() == "#!/bin/sh\nexit 0\n" and owned(command) == (0, 0, 0o755)
    assert done["written"][-1] == str(tmp_path / "keys" / ACCOUNT), "the keys come last"
    assert done["written"].index(str(command)) < done["written"].index(str(tmp_path / "receive.json"))
    assert f'command="{command}"' in (tmp_path / "keys" / ACCOUNT).read_text()


def test_a_folder_given_no_mode_keeps_the_mode_a_sender_gave_it(run_module, tmp_path):
    receive(run_module, tmp_path)
    code = tmp_path / "state" / "inbox" / "code"
    code.chmod(0o2775)  # rsync gave it the sender's mode
    assert not receive(run_module, tmp_path)["changed"] and stat.S_IMODE(code.stat().st_mode) == 0o2775
    code.chmod(0o755)
    os.chown(code, 0, 0)
    assert receive(run_module, tmp_path)["written"] == [str(code)]
    assert owned(code)[:2] == (pwd.getpwnam(ACCOUNT).pw_uid, pwd.getpwnam(ACCOUNT).pw_gid)


def test_a_former_file_is_removed_and_a_folder_in_its_place_is_refused(run_module, tmp_path):
    rule = tmp_path / "sudoers.d" / "otap-sync"
    rule.parent.mkdir()
    rule.write_text("otap-sync ALL=(root) NOPASSWD: ALL\n")
    done = receive(run_module, tmp_path, absent=[str(rule)])
    assert done["changed"] and not rule.exists()
    assert not receive(run_module, tmp_path, absent=[str(rule)])["changed"]
    rule.mkdir()
    refused = receive(run_module, tmp_path, absent=[str(rule)])
    assert refused["failed"] and rule.is_dir()


@pytest.mark.parametrize("key", [
    f"{KEY}\n{OPTIONS.replace('10.242', '0.0')} {KEY2}",
    f"{KEY}\r{KEY2}",
    f'command="/bin/sh" {KEY}',
    f"restrict {KEY}",
    f"{KEY}\x00",
    "ssh-ed25519",
    "",
    "ssh-ed25519 AAAA\"C3Nz",
], ids=["second-line", "carriage-return", "options-before", "restrict-word", "nul", "no-blob", "empty", "quote-in-blob"])
def test_a_key_that_is_not_one_plain_line_is_refused_and_nothing_is_written(run_module, tmp_path, key):
    refused = receive(run_module, tmp_path, keys=[KEY, key])
    assert refused["failed"] and "nothing was changed" in refused["msg"]
    assert not (tmp_path / "keys").exists() and not (tmp_path / "state").exists()


@pytest.mark.parametrize("address", [
    '10.0.0.1",command="/bin/sh',
    "10.0.0.1,0.0.0.0/0",
    "10.0.0.1 *",
    "10.0.0.1\n",
    "",
], ids=["closes-quote", "comma-widens", "blank", "line-break", "empty"])
def test_an_address_that_could_widen_or_break_the_options_is_refused(run_module, tmp_path, address):
    refused = receive(run_module, tmp_path, **{"from": ["10.242.42.21", address]})
    assert refused["failed"] and "nothing was changed" in refused["msg"]
    assert not (tmp_path / "keys").exists()


def test_no_address_at_all_is_refused_rather_than_a_key_usable_from_anywhere(run_module, tmp_path):
    refused = receive(run_module, tmp_path, **{"from": []})
    assert refused["failed"] and "from= must name them" in refused["msg"]


@pytest.mark.parametrize("command", ["relative/cmd", "/usr/bin/x y", '/bin/x"', "/usr/../bin/sh"])
def test_a_command_that_is_not_a_plain_absolute_path_is_refused(run_module, tmp_path, command):
    refused = receive(run_module, tmp_path, command=command)
    assert refused["failed"] and "not a plain absolute path" in refused["msg"]


@pytest.mark.parametrize("account", ["../etc/passwd", "Nobody", "nobody\n", "a/b"])
def test_an_account_name_that_could_leave_the_keys_folder_is_refused(run_module, tmp_path, account):
    refused = receive(run_module, tmp_path, account=account)
    assert refused["failed"] and "not an account name" in refused["msg"]
    assert not (tmp_path / "keys").exists()


def test_an_account_that_does_not_exist_is_refused_but_check_mode_says_what_would_change(run_module, tmp_path):
    refused = receive(run_module, tmp_path, account="otap-nosuchone")
    assert refused["failed"] and "create it first" in refused["msg"] and not (tmp_path / "state").exists()
    checked = receive(run_module, tmp_path, account="otap-nosuchone", _ansible_check_mode=True, _ansible_diff=True)
    assert checked["changed"] and str(tmp_path / "state" / "inbox") in checked["written"]
    assert not (tmp_path / "state").exists() and not (tmp_path / "keys").exists()


def test_a_link_at_the_keys_file_is_replaced_never_followed(run_module, tmp_path):
    (tmp_path / "keys").mkdir()
    victim = tmp_path / "root_authorized_keys"
    victim.write_text("ssh-ed25519 AAAAroot root@admin\n")
    (tmp_path / "keys" / ACCOUNT).symlink_to(victim)
    receive(run_module, tmp_path)
    assert not (tmp_path / "keys" / ACCOUNT).is_symlink()
    assert victim.read_text() == "ssh-ed25519 AAAAroot root@admin\n"


def test_check_mode_writes_nothing(run_module, tmp_path):
    checked = receive(run_module, tmp_path, _ansible_check_mode=True, _ansible_diff=True)
    assert checked["changed"] and os.listdir(tmp_path) == []
