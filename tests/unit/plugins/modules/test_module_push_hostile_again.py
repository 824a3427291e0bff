"""A second attack on the mended push_sender, push_receiver and root_files, and on pair_node_info.
test_defect_* found a defect in 01124d0 or 2388d49, since mended; test_holds_* held from the start."""
import fcntl
import os
import re
import subprocess
import threading

import pytest

from ansible_collections.otap.street.plugins.modules import pair_node_info, push_sender
from test_module_push_hostile import EVIL, HOST, KEY, OLD, receive, send  # the first attack's helpers

# The only shape of line push_receiver promises: restrict, from= IP addresses/networks, command=.
PROMISED = re.compile(r'restrict,from="[0-9a-f.:/]+(,[0-9a-f.:/]+)*",command="[^"]+" ssh-ed25519 [A-Za-z0-9+/=]+( .*)?')


def ssh_finds(known, name) -> str:
    return subprocess.run(["ssh-keygen", "-F", name, "-f", str(known)], capture_output=True, text=True).stdout


# --- DEFECT 1: an IPv6 zone id ("%...") is anything but '/' and '%' to ipaddress ----------------
@pytest.mark.parametrize("address", [
    "::1%x,*",                                    # sshd: "*" falls back to a wildcard: any client
    f"::1%x\n{EVIL} evil",                        # a line of its own: an unrestricted key
    '::1%x",pty,port-forwarding,agent-forwarding,user-rc,expiry-time="29991231',  # options after restrict
])
def test_defect_an_ipv6_zone_id_smuggles_a_wildcard_a_line_or_options_into_authorized_keys(run_module, tmp_path, address):
    done = receive(run_module, tmp_path, **{"from": ["10.242.42.21", address]})
    if done["failed"]:
        return
    text = (tmp_path / "keys" / "nobody").read_text()
    assert all(PROMISED.fullmatch(line) for line in text.splitlines()), text
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "keys" / "nobody")], capture_output=True, text=True)
    assert len(listed.stdout.splitlines()) == 1, listed.stdout


def test_defect_a_zone_id_holding_a_line_break_authorizes_a_key_of_its_own_with_no_option_at_all(run_module, tmp_path):
    for attempt in range(40):  # a real key whose base64 holds no '/' (ipaddress splits the prefix at '/')
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(tmp_path / f"e{attempt}")],
                       check=True)
        evil = (tmp_path / f"e{attempt}.pub").read_text().split()[1]
        if "/" not in evil:
            break
    done = receive(run_module, tmp_path, **{"from": ["10.242.42.21", f"::1%x\nssh-ed25519 {evil} evil"]})
    assert done["failed"] or not (tmp_path / "keys" / "nobody").exists()
    # (as written: ssh-keygen -l lists the hostile key alone, as a line without restrict, from= or command=)


# --- DEFECT 2 (minor): accepted spellings sshd cannot match: the key silently never works --------
@pytest.mark.parametrize("address", ["10.242.42.0/255.255.255.0",  # sshd: strtonum("255.255.255.0") fails
                                     "10.242.42.0/0.0.0.255",       # a host mask, likewise
                                     "::ffff:10.242.42.21"])         # sshd normalises v4-mapped clients to v4
def test_defect_an_address_sshd_reads_otherwise_is_refused_or_written_as_sshd_reads_it(run_module, tmp_path, address):
    done = receive(run_module, tmp_path, **{"from": [address]})
    if done["failed"]:
        return
    written = re.search(r'from="([^"]*)"', (tmp_path / "keys" / "nobody").read_text()).group(1)
    assert re.fullmatch(r"[0-9.]+(/\d+)?|[0-9a-f:]+(/\d+)?", written) and "::ffff:" not in written, written


@pytest.mark.parametrize("address", ["010.1.1.1", " 10.0.0.1", "10.0.0.1 ", "10.1", "0x0a.0.0.1", "10.0.0.0/23",
                                     "2001:db8::/63", "10.0.0.1/33", "10.0.0.1/24"])
def test_holds_odd_ipv4_spellings_and_wide_or_host_bit_networks_are_refused(run_module, tmp_path, address):
    assert receive(run_module, tmp_path, **{"from": [address]})["failed"]


@pytest.mark.parametrize("address", ["2001:db8::1", "2001:db8:0:1::/64", "10.0.0.1/32", "10.0.0.0/24"])
def test_holds_ipv6_and_narrow_networks_are_taken_and_settle(run_module, tmp_path, address):
    assert not receive(run_module, tmp_path, **{"from": [address]})["failed"]
    assert receive(run_module, tmp_path, **{"from": [address]})["written"] == []


# --- DEFECT 3: ssh ends the host field at a blank or tab only; str.split() at any whitespace -----
@pytest.mark.parametrize("line", [f"a\x0cb,10.242.42.12 {OLD}", f"a\xa0b,10.242.42.12 {OLD}",
                                  f"a\x1cb,10.242.42.12 {OLD}", f"\x0b#x,10.242.42.12 {OLD}",
                                  f"a\u2028b,10.242.42.12 {OLD}"])
def test_defect_an_old_key_ssh_trusts_for_the_host_survives_its_replacement(run_module, tmp_path, line):
    (tmp_path / "etc").mkdir()
    known = tmp_path / "etc" / "known_hosts"
    known.write_text(line + "\n")
    assert OLD.split()[1] in ssh_finds(known, "10.242.42.12"), "ssh trusts OLD for the host before"
    send(run_module, tmp_path)
    found = ssh_finds(known, "10.242.42.12")
    assert OLD.split()[1] not in found, found


# --- DEFECT 4: two first runs at once (two environments, one node, one key path) ------------------
def test_defect_a_key_another_run_made_meanwhile_is_not_replaced(run_module, tmp_path, monkeypatch):
    key = tmp_path / "ssh" / "k"
    real_link, other = os.link, []

    def racing_link(src, dst, *args, **kwargs):
        if str(dst) == str(key) and not other:  # the other run made the key and returned its public half
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "other", "-f", str(key)], check=True)
            other.append(subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True,
                                        check=True).stdout.split()[1])
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(push_sender.os, "link", racing_link)
    done = send(run_module, tmp_path)
    monkeypatch.setattr(push_sender.os, "link", real_link)
    on_disk = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True).stdout.split()[1]
    assert on_disk == other[0], "the key the other run handed to its receiver is gone"
    assert done["failed"] or done["public_key"].split()[1] == on_disk


# --- held: ssh-keygen missing, the temporary folder, check mode and the lock, bad hashes ----------
def test_holds_ssh_keygen_not_on_path_fails_without_traceback_and_leaves_no_temporary_folder(run_module, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    done = send(run_module, tmp_path)
    assert os.listdir(tmp_path / "ssh") == []
    assert done["failed"] and "ssh-keygen" in done["cmd"]  # msg is only "Error executing command." (ansible 2.19)



def test_holds_a_failing_ssh_keygen_leaves_no_temporary_folder(run_module, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "ssh-keygen").write_text("#!/bin/sh\necho broken >&2\nexit 1\n")
    os.chmod(tmp_path / "bin" / "ssh-keygen", 0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    done = send(run_module, tmp_path)
    assert done["failed"] and "broken" in done["msg"]
    assert os.listdir(tmp_path / "ssh") == []


def test_holds_check_mode_on_a_missing_folder_takes_no_lock_and_writes_nothing(run_module, tmp_path):
    done = send(run_module, tmp_path, _ansible_check_mode=True)
    assert not done["failed"] and done["changed"] and not (tmp_path / "etc").exists() and not (tmp_path / "ssh").exists()


def test_holds_check_mode_on_an_existing_folder_waits_for_the_lock_and_writes_nothing(run_module, tmp_path):
    send(run_module, tmp_path)
    before = {name: (tmp_path / "etc" / name).read_bytes() for name in os.listdir(tmp_path / "etc")}
    other = os.open(tmp_path / "etc", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(other, fcntl.LOCK_EX)
    done = []
    waiting = threading.Thread(target=lambda: done.append(send(run_module, tmp_path, {"10.0.0.2": OLD},
                                                               _ansible_check_mode=True)))
    waiting.start()
    waiting.join(0.3)
    assert not done
    os.close(other)
    waiting.join(10)
    assert done and done[0]["changed"] and not done[0]["failed"]
    assert before == {name: (tmp_path / "etc" / name).read_bytes() for name in os.listdir(tmp_path / "etc")}


@pytest.mark.parametrize("field", ["|1|@@@|xyz", "|1|YWJj", "|1|YWJj|YWJj|YWJj", "|1||", "|1|YWJj|!!!="])
def test_holds_a_hashed_field_with_bad_base64_is_kept_without_a_traceback(run_module, tmp_path, field):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "known_hosts").write_text(f"{field} {OLD}\n")
    done = send(run_module, tmp_path)
    assert not done["failed"]
    assert (tmp_path / "etc" / "known_hosts").read_text() == f"{field} {OLD}\n10.242.42.12 {HOST}\n"


def test_holds_a_negated_or_wildcard_or_port_pattern_follows_ssh(run_module, tmp_path):
    (tmp_path / "etc").mkdir()
    known = tmp_path / "etc" / "known_hosts"
    known.write_text(f"10.242.42.1? {OLD}\n10.242.42.1[2] {EVIL}\n[10.242.42.12]:22 {EVIL}\n")
    send(run_module, tmp_path)
    assert OLD.split()[1] not in ssh_finds(known, "10.242.42.12")
    assert ssh_finds(known, "10.242.42.12").count("ssh-ed25519") == 1


# --- pair_node_info: `ip -4 -o addr show` --------------------------------------------------------
IP = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.242.42.21/24 brd 10.242.42.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.242.42.201/24 scope global secondary eth0:vip\\       valid_lft forever preferred_lft forever
3: eth1    inet 10.242.42.2/32 scope global deprecated dynamic noprefixroute eth1\\       valid_lft 42sec preferred_lft 0sec
"""


def test_holds_secondary_addresses_labels_and_prefixes_are_read_whole():
    held = pair_node_info.addresses_in(IP)
    assert held == {"127.0.0.1", "10.242.42.21", "10.242.42.201", "10.242.42.2"}
    assert "10.242.42.20" not in held and "10.242.42.255" not in held


def test_defect_minor_a_point_to_point_address_is_not_seen():
    out = "4: tun0    inet 10.242.42.20 peer 10.242.42.1/32 scope global tun0\\       valid_lft forever preferred_lft forever\n"
    held = pair_node_info.addresses_in(out)
    assert "10.242.42.20" in held and "10.242.42.1" not in held, held


@pytest.mark.parametrize("address", ["10.242.42.20/24", " 10.242.42.20", "2001:db8::20", "vip.example"])
def test_defect_an_address_that_can_never_match_fails_instead_of_saying_nobody_holds_it(run_module, mariadb, address):
    done = run_module(pair_node_info, login_unix_socket=mariadb.socket, address=address)
    assert done["failed"], f"holds_address={done.get('holds_address')} for {address!r}"


def test_holds_a_configured_replica_is_read_and_nothing_changes(run_module, mariadb):
    mariadb("CHANGE MASTER TO MASTER_HOST='192.0.2.7', MASTER_USER='r', MASTER_CONNECT_RETRY=7")
    try:
        read = run_module(pair_node_info, login_unix_socket=mariadb.socket)
    finally:
        mariadb("RESET SLAVE ALL")
    assert not read["failed"] and read["replica"]["Is_Replica"] and read["replica"]["Master_Host"] == "192.0.2.7"
    from ansible_collections.otap.street.plugins.filter.pair import pair_state
    state = pair_state([read | {"item": "prod2", "read_only": True}, {"item": "prod1", "read_only": False, "gtid_binlog_pos": "0-1-5",
                                                   "gtid_slave_pos": "", "replica": {"Is_Replica": False},
                                                   "holds_address": True}],
                       {"prod1": "192.0.2.7", "prod2": "192.0.2.8"}, "prod1")
    assert state["primary"] == "prod1" and state["nodes"]["prod2"]["connect_retry"] == 7
