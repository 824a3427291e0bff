"""A planned switchover on the nodes (roles/keepalived/files/otap_pair.py: take-over on the
standby, hand-over on the primary): the VIP moves only once the standby is the writable primary,
and a hand-over that fails before the old primary turns read-only leaves everything as it was."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

from fakes import FakeConnection

PATH = Path(__file__).resolve().parents[3] / "roles" / "keepalived" / "files" / "otap_pair.py"
spec = importlib.util.spec_from_file_location("otap_pair_switchover", PATH)
otap_pair = importlib.util.module_from_spec(spec)
spec.loader.exec_module(otap_pair)

VIP, OLD, NEW = "10.242.42.20", "10.242.42.21", "10.242.42.22"
CONFIG = {"user": "replicator", "password": "", "catch_up_timeout": 30}


class Clock:
    def __init__(self, monkeypatch):
        self.now = 1000.0
        monkeypatch.setattr(otap_pair.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(otap_pair.time, "sleep", self.sleep)

    def sleep(self, seconds):
        self.now += seconds


class Database(FakeConnection):
    """A node's MariaDB: `writable_after` reads of read_only before it turns writable (None: it
    never does by itself); `read_only_after` likewise for turning read-only."""

    def __init__(self, log, name, read_only, replica_of=None, writable_after=None, read_only_after=None):
        self.log, self.name, self.read_only, self.replica_of = log, name, read_only, replica_of
        self.writable_after, self.read_only_after = writable_after, read_only_after

    def execute(self, sql, args=None):
        if not sql.startswith(("SELECT @@global", "SHOW SLAVE")):
            self.log.append((self.name, sql if args is None else (sql, args)))
        if sql == "SET GLOBAL read_only = 1":
            self.read_only = True
        elif sql == "SET GLOBAL read_only = 0":
            self.read_only = False
        elif sql.startswith("SELECT @@global.read_only"):
            for countdown, value in (("writable_after", False), ("read_only_after", True)):
                left = getattr(self, countdown)
                if left is not None:
                    setattr(self, countdown, left - 1)
                    if left <= 0:
                        self.read_only = value
        self.row = ({"result": 0} if "MASTER_GTID_WAIT" in sql
                    else {"read_only": int(self.read_only), "binlog_pos": "0-1-77"} if "@@global" in sql
                    else {"Master_Host": self.replica_of, "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes",
                          "Seconds_Behind_Master": 0, "Gtid_IO_Pos": "0-1-70"}
                    if sql == "SHOW SLAVE STATUS" and self.replica_of else {})



@pytest.fixture(name="street")
def fixture_street(monkeypatch):
    """The old primary's view: its own database, the standby's over the network, its commands;
    every step in one log."""
    log = []
    Clock(monkeypatch)
    own = Database(log, "old", read_only=False)
    peer = Database(log, "new", read_only=True, replica_of=OLD, writable_after=3)
    in_flight = [2]

    def connect(host=None, user="root", password=""):
        return peer if host == NEW else own

    def run(command, **kwargs):
        log.append(("run", " ".join(command)))
        if command[:2] == ["nft", "list"]:
            held = any(step == ("run", "nft -f -") for step in log) and \
                not any(step == ("run", f"nft delete table inet {otap_pair.HOLD_TABLE}") for step in log)
            return subprocess.CompletedProcess(command, 0 if held else 1, b"", b"")
        if command[0].endswith("push"):
            return subprocess.CompletedProcess(command, run.push_rc, ">f+++++++++ 2026/12/04 x new:images/a.jpg\n",
                                               "no route" if run.push_rc else "")
        return subprocess.CompletedProcess(command, 0, "", "")

    run.push_rc = 0

    def established(address):
        assert address == VIP
        in_flight[0] = max(0, in_flight[0] - 1)
        log.append(("in flight", in_flight[0]))
        return in_flight[0]

    monkeypatch.setattr(otap_pair, "connect", connect)
    monkeypatch.setattr(otap_pair.subprocess, "run", run)
    monkeypatch.setattr(otap_pair, "established", established)
    return {"log": log, "own": own, "peer": peer, "run": run, "in_flight": in_flight}


def steps(log):
    return [step for step in log if step[0] != "in flight"]


def test_the_vip_moves_only_after_the_standby_is_the_writable_primary(street):
    done = otap_pair.hand_over(CONFIG, NEW, VIP, 15, "/usr/local/sbin/otap-uploads-push")
    assert steps(street["log"]) == [
        ("run", "nft -f -"),
        ("run", "/usr/local/sbin/otap-uploads-push"),
        ("old", "SET SESSION lock_wait_timeout = 5"),
        ("old", "SET GLOBAL read_only = 1"),
        ("run", "systemctl stop keepalived"),
        ("run", f"nft list table inet {otap_pair.HOLD_TABLE}"),
        ("run", f"nft delete table inet {otap_pair.HOLD_TABLE}"),
    ]
    assert street["own"].read_only and not street["peer"].read_only
    assert ("in flight", 0) in street["log"], "read-only before the requests in flight ended"
    assert any("1 brought over" in line for line in done) and any("new:images/a.jpg" in line for line in done)
    assert done[-2].endswith("keepalived stopped: the VIP moves") and done[-1].endswith("hold released")


def test_requests_that_do_not_end_stop_the_hand_over_with_nothing_changed(street):
    street["in_flight"][0] = 10**6
    with pytest.raises(RuntimeError, match="still open after 15s"):
        otap_pair.hand_over(CONFIG, NEW, VIP, 15, "")
    assert not street["own"].read_only
    assert ("run", f"nft delete table inet {otap_pair.HOLD_TABLE}") in street["log"]
    assert ("run", "systemctl stop keepalived") not in street["log"]


def test_uploads_that_cannot_be_brought_level_stop_the_hand_over_with_nothing_changed(street):
    street["run"].push_rc = 12
    with pytest.raises(RuntimeError, match="no route"):
        otap_pair.hand_over(CONFIG, NEW, VIP, 15, "/usr/local/sbin/otap-uploads-push")
    assert not street["own"].read_only
    assert steps(street["log"])[-1] == ("run", f"nft delete table inet {otap_pair.HOLD_TABLE}")


def test_a_standby_that_does_not_take_over_keeps_the_vip_where_it_is_and_the_hold_in_place(street):
    """Once read-only, the old primary cannot tell whether the standby is still promoting: it
    neither opens again nor lets requests in; the caller waits for the take-over's word."""
    street["peer"].writable_after = None
    with pytest.raises(RuntimeError, match="did not become the writable primary"):
        otap_pair.hand_over(CONFIG, NEW, VIP, 15, "")
    assert street["own"].read_only
    assert not any(step[1].startswith("nft delete") for step in steps(street["log"]) if step[0] == "run")
    assert ("run", "systemctl stop keepalived") not in street["log"]


@pytest.fixture(name="standby")
def fixture_standby(monkeypatch):
    log = []
    Clock(monkeypatch)
    own = Database(log, "new", read_only=True, replica_of=OLD)
    primary = Database(log, "old", read_only=False, read_only_after=4)
    connections = {"primary": primary}

    def connect(host=None, user="root", password=""):
        if host is None:
            return own
        if connections["primary"] is None:
            raise RuntimeError(2003, "Can't connect")
        assert (host, user) == (OLD, "replicator")
        return connections["primary"]

    monkeypatch.setattr(otap_pair, "connect", connect)
    return {"log": log, "own": own, "primary": primary, "connections": connections}


def test_the_standby_promotes_once_the_primary_is_read_only_at_its_last_position(standby):
    promoted, outcome = otap_pair.take_over(CONFIG, 30)
    assert promoted and outcome.startswith("promoted:")
    assert standby["log"] == [
        ("new", ("SELECT MASTER_GTID_WAIT(%s, %s) AS result", ("0-1-77", 30))),
        ("new", "STOP SLAVE SQL_THREAD"), ("new", "SET GLOBAL read_only = 0"), ("new", "STOP SLAVE"),
        ("new", "RESET SLAVE ALL")]


@pytest.mark.parametrize("primary", ["writable", "silent"])
def test_the_standby_never_promotes_beside_a_writable_or_silent_primary(standby, primary):
    if primary == "writable":
        standby["primary"].read_only_after = None
    else:
        standby["connections"]["primary"] = None
    promoted, outcome = otap_pair.take_over(CONFIG, 30)
    assert not promoted and outcome.startswith("refuse") and "nothing was changed" in outcome
    assert standby["log"] == [] and standby["own"].read_only


@pytest.mark.parametrize(("read_only", "replica_of", "taken"), [(False, None, True), (True, None, False)])
def test_a_node_that_is_the_primary_already_or_follows_nobody_is_left_as_it_is(standby, read_only, replica_of, taken):
    standby["own"].read_only, standby["own"].replica_of = read_only, replica_of
    promoted, outcome = otap_pair.take_over(CONFIG, 30)
    assert promoted is taken and outcome.startswith("keep:" if taken else "refuse:")
    assert standby["log"] == []


def test_the_kernel_tables_are_read_for_both_address_families(tmp_path):
    vip4, vip6 = otap_pair.kernel_hex(VIP)
    assert vip4 == ("142AF20A" if otap_pair.sys.byteorder == "little" else "0AF22A14")
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    tcp = tmp_path / "tcp"
    tcp.write_text(header + "".join(
        f"   {i}: {local} 0100000A:C350 {state} 00000000:00000000 00:00000000 00000000 0 0 1\n"
        for i, (local, state) in enumerate([
            (f"{vip4}:0050", "01"),          # a request in flight
            (f"{vip4}:0050", "06"),          # TIME_WAIT: ended
            (f"{vip4}:0050", "0A"),          # the listener
            (f"{vip4}:0CEA", "01"),          # MariaDB, not the site
            ("152AF20A:0050", "01")])))     # the node's own address
    tcp6 = tmp_path / "tcp6"
    tcp6.write_text(header + f"   0: {vip6}:01BB 0000000000000000FFFF00000100000A:C351 01 "
                    "00000000:00000000 00:00000000 00000000 0 0 1\n")
    assert otap_pair.established(VIP, tables=(str(tcp), str(tcp6), str(tmp_path / "absent"))) == 2


def test_the_hold_drops_only_new_connections_to_the_site_on_the_vip():
    rules = otap_pair.hold_rules(VIP)
    assert f"table inet {otap_pair.HOLD_TABLE}" in rules
    assert f"ip daddr {VIP} tcp dport {{ 80, 443 }} tcp flags & (syn | ack) == syn drop" in rules


@pytest.mark.parametrize("argv", [["hand-over"], ["hand-over", "--to", NEW], ["take-over"],
                                  ["take-over", "--wait", "soon"]])
def test_a_switchover_command_without_what_it_needs_is_refused(argv):
    with pytest.raises(SystemExit) as refused:
        otap_pair.main(["otap-pair", *argv])
    assert refused.value.code == 2


def test_a_standby_that_cannot_catch_up_stays_the_standby(standby, monkeypatch):
    original = standby["own"].execute

    def behind(sql, args=None):
        original(sql, args)
        if "MASTER_GTID_WAIT" in sql:
            standby["own"].row = {"result": -1}

    monkeypatch.setattr(standby["own"], "execute", behind)
    promoted, outcome = otap_pair.take_over(CONFIG, 30)
    assert not promoted and "not promoted" in outcome
    assert [step for _, step in standby["log"] if isinstance(step, str)] == [] and standby["own"].read_only


def test_a_primary_silent_for_a_moment_is_asked_again(standby, monkeypatch):
    answers = iter([None, None, {"read_only": True, "binlog_pos": "0-1-77"}])
    monkeypatch.setattr(otap_pair, "peer_state", lambda *_a, **_k: next(answers))
    promoted, _ = otap_pair.take_over(CONFIG, 30)
    assert promoted and standby["log"][0][1][1] == ("0-1-77", 30)


@pytest.mark.parametrize(("command", "result", "code"), [
    (["take-over", "--wait", "5"], (True, "promoted: ..."), 0),
    (["take-over", "--wait", "5"], (False, "refused: ..."), 1),
    (["hand-over", "--to", NEW, "--vip", VIP], ["  0.01s  held"], 0),
    (["hand-over", "--to", NEW, "--vip", VIP], RuntimeError("2 connection(s) still open"), 1)])
def test_the_command_says_by_its_status_whether_the_switch_happened(monkeypatch, capsys, command, result, code):
    def outcome(*_a, **_k):
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(otap_pair, "settings", lambda: CONFIG)
    monkeypatch.setattr(otap_pair, "take_over", outcome)
    monkeypatch.setattr(otap_pair, "hand_over", outcome)
    monkeypatch.setattr(otap_pair.syslog, "syslog", lambda *_a: None)
    assert otap_pair.main(["otap-pair", *command]) == code
    said = capsys.readouterr()
    assert (said.err if code else said.out).strip()


@pytest.mark.parametrize(("state", "released"), [("MASTER", True), ("BACKUP", False), ("FAULT", False)])
def test_a_hold_left_behind_is_released_when_the_node_takes_the_vip(monkeypatch, tmp_path, state, released):
    """A hand-over cut off midway (its SSH session gone) leaves its hold: the node that takes the
    VIP next must not drop every new connection."""
    commands = []

    def run(command, **kwargs):
        commands.append(" ".join(command))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(otap_pair, "settings", lambda: {"services": [], "name": "prod2"})
    monkeypatch.setattr(otap_pair, "on_master", lambda config: "keep: already the writable primary")
    monkeypatch.setattr(otap_pair, "on_leaving", lambda: "kept: already read-only")
    monkeypatch.setattr(otap_pair.subprocess, "run", run)
    monkeypatch.setattr(otap_pair.syslog, "syslog", lambda *_a: None)
    assert otap_pair.notify(state) == 0
    assert (f"nft delete table inet {otap_pair.HOLD_TABLE}" in commands) is released


def test_a_node_without_nft_still_promotes_when_it_takes_the_vip(monkeypatch, tmp_path):
    def missing(command, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", command[0])

    outcomes = []
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(otap_pair, "settings", lambda: {"services": [], "name": "prod2"})
    monkeypatch.setattr(otap_pair, "on_master", lambda config: outcomes.append("asked") or "keep: already primary")
    monkeypatch.setattr(otap_pair.subprocess, "run", missing)
    monkeypatch.setattr(otap_pair.syslog, "syslog", lambda *_a: None)
    assert otap_pair.notify("MASTER") == 0
    assert outcomes == ["asked"]
    assert '"outcome": "keep: already primary"' in (tmp_path / "promotion").read_text()
