"""keepalived's hook on the production pair (roles/keepalived/files/otap_pair.py): a VIP holder
whose database stayed read-only decides again, one decision at a time, and never promotes once
it has given up the VIP."""

import json
import multiprocessing
from pathlib import Path

import pytest
from test_otap_pair import FakeCursor, FakeDb, otap_pair  # the hook, and the same fakes of MariaDB

STANDBY = {"read_only": True, "replica_of": "10.0.0.1", "io_running": "Connecting", "sql_running": "Yes",
           "lag": None, "received": "0-1-42"}


@pytest.mark.parametrize(("local", "holding", "decided", "again"), [
    (STANDBY, True, None, True),
    (STANDBY, True, 94.0, True),      # ended 6 s ago, asked every 5
    (STANDBY, True, 97.0, False),     # ended 3 s ago
    (STANDBY, False, None, False),    # not the VIP holder: nothing to decide
    (STANDBY | {"read_only": False}, True, None, True),  # opened, its replication settings left behind
    (STANDBY | {"replica_of": None}, True, None, False),  # a stray, a fenced node or the primary: nothing
])
def test_only_a_vip_holder_that_still_replicates_decides_again(local, holding, decided, again):
    assert otap_pair.should_decide_again(local, holding, decided, 100.0, 5) is again


@pytest.mark.parametrize(("state", "addresses", "holds"), [
    ("MASTER", " inet 10.0.0.20/24 brd", True),
    ("MASTER", " inet 10.0.0.22/24 brd", False),  # a state file a crash left behind
    ("BACKUP", " inet 10.0.0.20/24 brd", False),
])
def test_the_vip_is_held_only_when_keepalived_says_so_and_the_address_is_here(monkeypatch, tmp_path, state,
                                                                              addresses, holds):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    otap_pair.record("state", state)
    monkeypatch.setattr(otap_pair.subprocess, "run",
                        lambda *_a, **_k: type("Shown", (), {"stdout": f"2: eth0{addresses} scope global"})())
    assert otap_pair.holds_vip({"vip": "10.0.0.20"}) is holds


def test_a_system_too_slow_to_show_its_addresses_holds_no_vip_for_the_check(monkeypatch, tmp_path):
    """The check asks with what is left of its life: too slow to say is not holding (nothing is decided)."""
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    otap_pair.record("state", "MASTER")
    asked = []

    def slow(argv, timeout, **_k):
        asked.append(timeout)
        raise otap_pair.subprocess.TimeoutExpired(argv, timeout)

    monkeypatch.setattr(otap_pair.subprocess, "run", slow)
    assert otap_pair.holds_vip({"vip": "10.0.0.20"}, timeout=0.3) is False
    assert asked == [0.3]


def hold_the_decision(state_dir: str, started, release) -> None:
    otap_pair.STATE_DIR = state_dir
    with otap_pair.deciding() as mine:
        assert mine
        started.set()
        release.wait(10)


def test_one_decision_at_a_time_and_its_end_is_noted(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    started, release = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(target=hold_the_decision, args=(str(tmp_path), started, release))
    other.start()
    try:
        assert started.wait(10)
        with otap_pair.deciding(wait=False) as mine:
            assert mine is False
    finally:
        release.set()
        other.join(10)
    assert other.exitcode == 0
    assert otap_pair.modified(otap_pair.DECIDED) is not None
    with otap_pair.deciding(wait=False) as mine:
        assert mine is True


def test_without_its_lock_turning_read_only_still_runs_and_deciding_again_does_not(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path / "missing"))
    with otap_pair.deciding() as mine:
        assert mine is True
    with otap_pair.deciding(wait=False) as mine:
        assert mine is False


@pytest.mark.parametrize("position", ["0-1-50", ""])
def test_a_node_that_gave_up_the_vip_while_it_decided_is_not_promoted(position):
    db = FakeDb()
    promoted, outcome = otap_pair.promote(db, position, 30, holding=lambda: False)
    assert not promoted and "gave up the VIP" in outcome
    assert not any(sql.startswith(("STOP SLAVE", "RESET SLAVE", "SET GLOBAL read_only")) for sql in db.executed)


@pytest.fixture
def master(monkeypatch, tmp_path):
    """A node that holds the VIP, with its decisions, mails and started services noted."""
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    otap_pair.record("state", "MASTER")
    told = {"mails": [], "services": []}
    monkeypatch.setattr(otap_pair, "settings",
                        lambda: {"name": "prod2", "services": ["otap-uploads.service"], "vip": ""})
    db = LocalDb()
    told["db"] = db
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: db)
    monkeypatch.setattr(otap_pair, "local_state", lambda _connection: dict(STANDBY))
    monkeypatch.setattr(otap_pair, "send_later", lambda subject, body, condition="": told["mails"].append(subject))
    monkeypatch.setattr(otap_pair, "follow_role",
                        lambda services, primary: told["services"].append(primary) or "; start them")
    monkeypatch.setattr(otap_pair.syslog, "syslog", lambda *_a: None)
    return told


def test_a_promotion_on_deciding_again_is_recorded_and_mailed(monkeypatch, master):
    monkeypatch.setattr(otap_pair, "on_master", lambda config: "promoted: the primary 10.0.0.1 is read-only")
    assert otap_pair.decide_again() == 0
    outcome = json.loads(Path(otap_pair.STATE_DIR, "promotion").read_text())["outcome"]
    assert outcome.startswith("promoted") and "decided again" in outcome
    assert master["mails"] == ["prod2 promoted itself to primary of the production pair"]
    assert master["services"] == [True]


@pytest.mark.parametrize("outcome", ["refuse: the witness still reaches 10.0.0.1", "keep: already writable"])
def test_a_refusal_on_deciding_again_is_not_told_again(monkeypatch, master, outcome):
    monkeypatch.setattr(otap_pair, "on_master", lambda config: outcome)
    otap_pair.decide_again()
    assert not Path(otap_pair.STATE_DIR, "promotion").exists()
    assert master["mails"] == [] and master["services"] == []


def test_a_failure_on_deciding_again_leaves_the_node_as_it_was(monkeypatch, master):
    def fails(config):
        raise OSError("the socket is gone")
    monkeypatch.setattr(otap_pair, "on_master", fails)
    assert otap_pair.decide_again() == 0
    assert master["mails"] == [] and master["services"] == []


@pytest.mark.parametrize("state", ["BACKUP", "FAULT"])
def test_a_node_that_no_longer_holds_the_vip_does_not_decide_again(monkeypatch, master, state):
    otap_pair.record("state", state)
    monkeypatch.setattr(otap_pair, "on_master", lambda config: pytest.fail("decided without the VIP"))
    assert otap_pair.decide_again() == 0


def test_no_second_decision_while_one_runs(monkeypatch, master, tmp_path):
    monkeypatch.setattr(otap_pair, "on_master", lambda config: pytest.fail("decided twice at once"))
    started, release = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(target=hold_the_decision, args=(str(tmp_path), started, release))
    other.start()
    try:
        assert started.wait(10)
        assert otap_pair.decide_again() == 0
    finally:
        release.set()
        other.join(10)


class LocalDb(FakeDb):
    """The new VIP holder's own database: a healthy read-only standby of 10.0.0.1."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def new_holder(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    otap_pair.record("state", "MASTER")
    otap_pair.touch(otap_pair.REPLICA_HEALTHY)
    db = LocalDb()
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: db)
    monkeypatch.setattr(otap_pair, "local_state", lambda _connection: dict(STANDBY))
    return db


CONFIG = {"peer_wait": 10, "healthy_within": 20, "catch_up_timeout": 30, "peer_port": 80, "retry_after": 5}


def test_a_primary_whose_host_answers_but_whose_database_does_not_is_never_doubled(monkeypatch, new_holder):
    monkeypatch.setattr(otap_pair, "peer_state", lambda *_a, **_k: None)
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "open")
    monkeypatch.setattr(otap_pair, "witness_allows_promotion", lambda *_a: pytest.fail("waited for the witness"))
    outcome = otap_pair.on_master(CONFIG)
    assert outcome.startswith("refuse") and "database does not" in outcome and "every 5s" in outcome
    assert not any("read_only = 0" in sql for sql in new_holder.executed)


@pytest.mark.parametrize("answer", ["silent", "refused"])
def test_a_primary_nobody_reaches_is_left_to_the_witness(monkeypatch, new_holder, answer):
    monkeypatch.setattr(otap_pair, "peer_state", lambda *_a, **_k: None)
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: answer)
    monkeypatch.setattr(otap_pair, "witness_allows_promotion", lambda *_a: (True, "the witness cannot reach it"))
    outcome = otap_pair.on_master(CONFIG)
    assert outcome.startswith("promoted") and "the witness cannot reach it" in outcome
    assert "SET GLOBAL read_only = 0" in new_holder.executed


def test_a_primary_back_read_only_is_caught_up_to_then_replaced(monkeypatch, new_holder):
    monkeypatch.setattr(otap_pair, "peer_state", lambda *_a, **_k: {"read_only": True, "binlog_pos": "0-1-50"})
    outcome = otap_pair.on_master(CONFIG)
    assert outcome.startswith("promoted") and "0-1-50" in outcome
    assert new_holder.executed[-4:] == ["STOP SLAVE SQL_THREAD", "SET GLOBAL read_only = 0", "STOP SLAVE",
                                        "RESET SLAVE ALL"]


def test_a_holder_that_gave_up_the_vip_while_catching_up_stays_read_only(monkeypatch, new_holder):
    def peer_then_leaving(*_a, **_k):
        otap_pair.record("state", "BACKUP")  # keepalived moved on while it waited
        return {"read_only": True, "binlog_pos": "0-1-50"}
    monkeypatch.setattr(otap_pair, "peer_state", peer_then_leaving)
    outcome = otap_pair.on_master(CONFIG)
    assert outcome.startswith("refused") and "gave up the VIP" in outcome
    assert not any("read_only = 0" in sql for sql in new_holder.executed)


def test_an_operator_s_pause_stops_deciding_again_until_resumed_or_old(monkeypatch, master, new_holder, capsys):
    monkeypatch.setattr(otap_pair, "on_master", lambda config: pytest.fail("decided while paused"))
    assert otap_pair.pause_decisions() == 0
    assert capsys.readouterr().out == "1\n", "it says whether this node is still read-only"
    otap_pair.decide_again()
    assert not otap_pair.paused(otap_pair.time.time() + otap_pair.PAUSE_FOR), "a pause left behind ends"
    otap_pair.resume_decisions()
    monkeypatch.setattr(otap_pair, "on_master", lambda config: "refuse: still")
    assert not otap_pair.paused(otap_pair.time.time())
    assert otap_pair.resume_decisions() == 0, "resuming twice is no error"


def test_a_pause_waits_for_the_decision_under_way(monkeypatch, new_holder, tmp_path, capsys):
    started, release = multiprocessing.Event(), multiprocessing.Event()
    other = multiprocessing.Process(target=hold_the_decision, args=(str(tmp_path), started, release))
    other.start()
    try:
        assert started.wait(10)
        pausing = multiprocessing.Process(target=otap_pair.pause_decisions)
        pausing.start()
        pausing.join(1)
        assert pausing.is_alive(), "it paused while a decision was under way"
        release.set()
        pausing.join(10)
        assert pausing.exitcode == 0
    finally:
        release.set()
        other.join(10)
    assert otap_pair.paused(otap_pair.time.time())


def test_a_pause_holds_even_the_promotion_of_a_node_keepalived_hands_the_vip(monkeypatch, master):
    otap_pair.record("state", "BACKUP")
    otap_pair.touch(otap_pair.PAUSED)
    monkeypatch.setattr(otap_pair, "on_leaving", lambda: "kept: the database was already read-only")
    assert otap_pair.decide_on({"services": []}, "BACKUP").startswith("kept")
    assert otap_pair.paused(otap_pair.time.time()), "leaving the VIP does not end an operator's pause"
    otap_pair.record("state", "MASTER")
    monkeypatch.setattr(otap_pair, "peer_state", lambda *_a, **_k: {"read_only": True, "binlog_pos": "0-1-50"})
    outcome = otap_pair.decide_on({"services": [], "peer_wait": 10, "healthy_within": 20, "catch_up_timeout": 30,
                                   "peer_port": 80, "retry_after": 5, "vip": ""}, "MASTER")
    assert outcome.startswith("refuse") and "pause-decisions" in outcome
    assert not any("read_only = 0" in sql for sql in master["db"].executed)


@pytest.mark.parametrize(("notified", "now"), [("MASTER", "BACKUP"), ("FAULT", "MASTER"), ("BACKUP", "MASTER")])
def test_a_notify_overtaken_while_it_waited_leaves_the_decision_to_the_later_one(monkeypatch, master, notified, now):
    otap_pair.record("state", now)
    monkeypatch.setattr(otap_pair, "on_master", lambda config: pytest.fail("promoted on a stale notify"))
    monkeypatch.setattr(otap_pair, "on_leaving", lambda: pytest.fail("demoted on a stale notify"))
    assert otap_pair.decide_on({"services": []}, notified).startswith("skipped")


def test_two_notifies_of_leaving_both_demote(monkeypatch, master):
    otap_pair.record("state", "BACKUP")
    monkeypatch.setattr(otap_pair, "on_leaving", lambda: "demoted: this node gave up the VIP")
    assert otap_pair.decide_on({"services": []}, "FAULT").startswith("demoted")


def test_a_promotion_left_half_done_is_finished_on_deciding_again(monkeypatch, master):
    monkeypatch.setattr(otap_pair, "local_state", lambda _connection: STANDBY | {"read_only": False})
    monkeypatch.setattr(otap_pair, "on_master", lambda config: pytest.fail("decided on a writable node"))
    otap_pair.decide_again()
    assert master["db"].executed == ["STOP SLAVE", "RESET SLAVE ALL"]


def test_a_refusal_on_deciding_again_is_said_when_it_differs_from_the_last(monkeypatch, master):
    said = []
    monkeypatch.setattr(otap_pair.syslog, "syslog", lambda _priority, text: said.append(text))
    for outcome in ["refuse: the primary is gone; healthy 21s ago", "refuse: the primary is gone; healthy 26s ago",
                    "refuse: the witness cannot be asked"]:
        monkeypatch.setattr(otap_pair, "on_master", lambda config, outcome=outcome: outcome)
        otap_pair.decide_again()
    assert said == ["decided again: refuse: the primary is gone; healthy 21s ago",
                    "decided again: refuse: the witness cannot be asked"]


class HeldServer(LocalDb):
    """A writable database whose read lock a long write holds once (lock_wait_timeout)."""

    def __init__(self):
        super().__init__()
        self.held = 1

    def cursor(self):
        cursor = FakeCursor(self)
        execute = cursor.execute

        def held_once(sql, args=None):
            execute(sql, args)
            if sql == otap_pair.READ_ONLY and self.held:
                self.held -= 1
                raise RuntimeError(1205, "Lock wait timeout exceeded")
            cursor.row = {"read_only": 0} if "read_only AS" in sql else {}
        cursor.execute = held_once
        cursor.fetchall = lambda: []
        return cursor


def test_giving_up_the_vip_waits_a_second_at_most_for_the_read_lock(monkeypatch):
    db = HeldServer()
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: db)
    monkeypatch.setattr(otap_pair, "local_state", lambda _connection: STANDBY | {"read_only": False})
    assert otap_pair.on_leaving().startswith("demoted")
    assert db.executed.index("SET SESSION lock_wait_timeout = 1") < db.executed.index(otap_pair.READ_ONLY)
    assert db.executed.count(otap_pair.READ_ONLY) == 2


def test_giving_up_the_vip_kills_a_database_whose_read_lock_stays_held(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "DATABASE_PID", str(tmp_path / "mysqld.pid"))
    db = HeldServer()
    db.held = 2
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: db)
    monkeypatch.setattr(otap_pair, "local_state", lambda _connection: STANDBY | {"read_only": False})
    killed = []
    monkeypatch.setattr(otap_pair.subprocess, "run",
                        lambda argv, **_: killed.append(argv) or type("Done", (), {"returncode": 0})())
    outcome = otap_pair.on_leaving()
    assert outcome.startswith("demoted") and "did not turn read-only" in outcome
    assert killed == [["systemctl", "kill", "--signal=KILL", "mariadb.service"]]


class ReceiverHangs(FakeDb):
    """A database whose STOP SLAVE fails (the receiver could not be stopped)."""

    def cursor(self):
        cursor = FakeCursor(self)
        execute = cursor.execute

        def fails_on_stop(sql, args=None):
            execute(sql, args)
            if sql == "STOP SLAVE":
                raise RuntimeError("Lock wait timeout exceeded")
        cursor.execute = fails_on_stop
        return cursor


def test_a_promotion_whose_tidying_fails_is_a_promotion_and_says_what_is_left():
    db = ReceiverHangs()
    promoted, outcome = otap_pair.promote(db, "0-1-50", 30)
    assert promoted and "RESET SLAVE ALL" in outcome
    assert db.executed.index("SET GLOBAL read_only = 0") < db.executed.index("STOP SLAVE")


@pytest.mark.parametrize(("code", "killed"), [(2002, False), (1040, True), (2013, True), (None, False)])
def test_giving_up_the_vip_kills_a_database_that_answers_but_cannot_be_read(monkeypatch, tmp_path, code, killed):
    """Too many connections, or hung: it may take writes on those it has. One that does not listen
    takes none, and an error that is not the server's (no pymysql during an upgrade) kills nothing."""
    monkeypatch.setattr(otap_pair, "DATABASE_PID", str(tmp_path / "mysqld.pid"))

    def refuses(*_a, **_k):
        raise RuntimeError(code, "cannot read it") if code else ImportError("No module named 'pymysql'")

    monkeypatch.setattr(otap_pair, "connect", refuses)
    ran = []
    monkeypatch.setattr(otap_pair.subprocess, "run",
                        lambda argv, **_: ran.append(argv) or type("Done", (), {"returncode": 0})())
    outcome = otap_pair.on_leaving()
    assert (ran == [["systemctl", "kill", "--signal=KILL", "mariadb.service"]]) == killed
    assert outcome.startswith("demoted" if killed else "kept")


def test_giving_up_the_vip_turns_read_only_a_database_whose_state_could_not_be_read(monkeypatch):
    db = HeldServer()
    db.held = 0
    cursor = db.cursor

    def slow_state():
        made = cursor()
        execute = made.execute

        def reads_slowly(sql, args=None):
            if "@@global.read_only AS" in sql:
                raise RuntimeError(2013, "Lost connection to server during query (timed out)")
            execute(sql, args)
        made.execute = reads_slowly
        return made

    db.cursor = slow_state
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: db)
    assert otap_pair.on_leaving() == "demoted: this node gave up the VIP, its database is now read-only"
    assert otap_pair.READ_ONLY in db.executed
