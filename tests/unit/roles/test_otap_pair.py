"""keepalived's hook on the production pair (roles/keepalived/files/otap_pair.py): when a new
VIP holder promotes its database, and when it refuses to."""

import importlib.util
import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "roles" / "keepalived" / "files" / "otap_pair.py"
spec = importlib.util.spec_from_file_location("otap_pair", PATH)
otap_pair = importlib.util.module_from_spec(spec)
spec.loader.exec_module(otap_pair)

STANDBY = {"read_only": True, "replica_of": "10.0.0.1", "io_running": "Connecting", "sql_running": "Yes",
           "lag": None, "received": "0-1-42"}


def test_a_writable_node_is_kept_as_it_is():
    action, _, _ = otap_pair.decide(STANDBY | {"read_only": False}, None, None, 20)
    assert action == "keep"


def test_a_read_only_node_that_follows_nobody_never_promotes_itself():
    action, _, reason = otap_pair.decide(STANDBY | {"replica_of": None}, None, 1.0, 20)
    assert action == "refuse" and "reseed" in reason


def test_a_primary_that_still_takes_writes_is_not_doubled():
    action, _, reason = otap_pair.decide(STANDBY, {"read_only": False, "binlog_pos": "0-1-50"}, 1.0, 20)
    assert action == "refuse" and "two primaries" in reason


def test_a_read_only_old_primary_is_caught_up_to_before_promotion():
    action, position, _ = otap_pair.decide(STANDBY, {"read_only": True, "binlog_pos": "0-1-50"}, None, 20)
    assert (action, position) == ("promote", "0-1-50")


def test_a_vanished_primary_with_a_healthy_standby_promotes_after_applying_all_received():
    action, position, reason = otap_pair.decide(STANDBY, None, 4.0, 20)
    assert (action, position) == ("promote", "0-1-42")
    assert "healthy 4s before" in reason


@pytest.mark.parametrize("age", [None, 21.0, 600.0])
def test_a_lagging_or_stopped_standby_is_never_promoted_silently(age):
    action, _, reason = otap_pair.decide(STANDBY, None, age, 20)
    assert action == "refuse" and "could lose writes" in reason


@pytest.mark.parametrize(("io", "sql"), [("No", "Yes"), ("No", "No"), ("Connecting", "No"), ("", "")])
def test_a_standby_whose_replication_was_stopped_is_not_promoted_even_if_caught_up_recently(io, sql):
    action, _, reason = otap_pair.decide(STANDBY | {"io_running": io, "sql_running": sql}, None, 1.0, 20)
    assert action == "refuse" and "stopped" in reason


@pytest.mark.parametrize(("io", "sql", "lag", "healthy"), [
    ("Yes", "Yes", 0, True), ("Yes", "Yes", 5, True), ("Yes", "Yes", 6, False),
    ("Yes", "No", None, False), ("Connecting", "Yes", None, False), ("Yes", "Yes", None, False)])
def test_healthy_replication_means_both_threads_and_little_lag(io, sql, lag, healthy):
    local = STANDBY | {"io_running": io, "sql_running": sql, "lag": lag}
    assert otap_pair.replicating_healthily(local, max_lag=5) is healthy


class FakeCursor:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        self.db.executed.append(sql)
        self.row = {"result": self.db.wait_result} if "MASTER_GTID_WAIT" in sql else {}

    def fetchone(self):
        return self.row


class FakeDb:
    """A database that records what it was told; MASTER_GTID_WAIT answers `wait_result`."""

    def __init__(self, wait_result=0):
        self.wait_result, self.executed = wait_result, []

    def cursor(self):
        return FakeCursor(self)


def test_promotion_applies_up_to_the_position_then_stops_replication_and_opens_writes():
    db = FakeDb(wait_result=0)
    promoted, _ = otap_pair.promote(db, "0-1-50", 30)
    assert promoted
    # Writes open as soon as nothing more is applied; stopping the receiver (which tries to reach a
    # gone primary for two seconds) and the reset come after.
    assert db.executed[1:] == ["STOP SLAVE SQL_THREAD", "SET GLOBAL read_only = 0", "STOP SLAVE", "RESET SLAVE ALL"]


def test_a_standby_that_cannot_catch_up_stays_read_only():
    db = FakeDb(wait_result=-1)
    promoted, outcome = otap_pair.promote(db, "0-1-50", 30)
    assert not promoted and "not promoted" in outcome
    assert "SET GLOBAL read_only = 0" not in db.executed


def test_settings_are_read_with_defaults(tmp_path):
    path = tmp_path / "otap-pair.cnf"
    path.write_text("[peer]\nuser = replicator\npassword = s3cret\n[promotion]\nmax_lag = 3\n")
    config = otap_pair.settings(str(path))
    assert (config["user"], config["password"], config["max_lag"], config["healthy_within"]) == \
        ("replicator", "s3cret", 3, 20)


def test_an_unknown_command_is_refused_with_the_usage(capsys):
    assert otap_pair.main(["otap-pair", "promote-now"]) == 2
    assert "otap-pair check" in capsys.readouterr().err


@pytest.mark.parametrize(("outcome", "verb"), [
    ("promoted: the primary is gone", "start"), ("keep: already the writable primary", "start"),
    ("refused: replication stopped", "stop"), ("demoted: gave up the VIP", "stop"),
    ("kept: the database was already read-only", "stop"), ("failed: no socket", "stop")])
def test_the_primary_services_run_exactly_where_the_writable_database_is(monkeypatch, outcome, verb):
    calls = []

    def run(argv, **_):
        calls.append(argv)
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(otap_pair.subprocess, "run", run)
    said = otap_pair.follow_role(["lsyncd.service"], otap_pair.holds_primary(outcome))
    assert calls == [["systemctl", verb, "--no-block", "lsyncd.service"]] and verb in said


def test_no_services_no_systemctl(monkeypatch):
    monkeypatch.setattr(otap_pair.subprocess, "run", lambda *_a, **_k: pytest.fail("ran systemctl"))
    assert otap_pair.follow_role([], True) == ""


WITNESS = {"witness": "10.0.0.10", "witness_ssh": "/etc/keepalived/otap-witness.ssh_config", "peers": ["10.0.0.22"],
           "peer_port": 80}


@pytest.mark.parametrize(("peer", "word", "read_only", "fit"), [
    ("open", None, True, True),          # the peer answers: no question asked
    ("silent", "dead", True, True),      # the primary died: the standby may take the VIP
    ("silent", "alive", True, False),    # the link is cut, the primary lives: the standby stays off the VIP
    ("refused", "alive", True, False),   # the primary's site is down but the host lives: no promotion
    ("silent", None, True, False),       # neither peer nor witness: this standby may be the one cut off
    ("silent", "heard", False, True),    # the primary reaches the witness (the standby died, or the
    ("refused", "heard", False, True),   # link is cut): it keeps serving
    ("silent", None, False, False),      # a primary cut off from both gives up the VIP (and turns read-only)
])
def test_the_network_decides_who_may_hold_the_vip(monkeypatch, tmp_path, peer, word, read_only, fit):
    """A standby asks the witness about its primary; a primary only says hello (the witness's
    knock at a silent standby would eat its budget)."""
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(otap_pair, "witness_says", lambda *_a: (word, None) if read_only else pytest.fail("peer"))
    monkeypatch.setattr(otap_pair, "witness_hears", lambda *_a: word == "heard" if not read_only else pytest.fail("hello"))
    assert otap_pair.fit_by_the_network(WITNESS, read_only, {"10.0.0.22": peer}) is fit


def test_without_a_witness_the_network_decides_nothing():
    assert otap_pair.fit_by_the_network(WITNESS | {"witness": ""}, True, {"10.0.0.22": "silent"}) is True


def test_a_knock_tells_an_open_port_from_a_refusing_host():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert otap_pair.knock("127.0.0.1", listening.getsockname()[1]) == "open"
        closed = listening.getsockname()[1]
    assert otap_pair.knock("127.0.0.1", closed) == "refused"


@pytest.mark.parametrize("error", [socket.timeout("timed out"), OSError(113, "No route to host")])
def test_a_knock_nobody_answers_is_silence(monkeypatch, error):
    def unanswered(*_a, **_k):
        raise error

    monkeypatch.setattr(otap_pair.socket, "create_connection", unanswered)
    assert otap_pair.knock("10.0.0.22", 80) == "silent"


class ProcessList(FakeDb):
    def __init__(self, dumps):
        super().__init__(wait_result=0)
        self.dumps = dumps

    def cursor(self):
        cursor = FakeCursor(self)
        cursor.fetchall = lambda: self.dumps
        return cursor


@pytest.mark.parametrize(("answer", "closed"), [("silent", True), ("refused", False), ("open", False)])
def test_the_primary_closes_the_replication_of_a_silent_standby_only(answer, closed):
    db = ProcessList([{"id": 7, "host": "otap-prod2.otap-street:47788"}])
    released = otap_pair.release_silent_standbys(db, {"10.0.0.22": answer})
    assert released == (["otap-prod2.otap-street:47788"] if closed else [])
    assert [sql for sql in db.executed if sql.startswith("KILL")] == (["KILL CONNECTION %s"] if closed else [])


class EndedMeanwhile(ProcessList):
    """A replication connection that ends between the listing and the KILL (MariaDB error 1094)."""

    def cursor(self):
        cursor = super().cursor()
        execute = cursor.execute

        def kill(sql, args=None):
            execute(sql, args)
            if sql.startswith("KILL") and args == (7,):
                raise RuntimeError(otap_pair.UNKNOWN_THREAD, "Unknown thread id: 7")
            if sql.startswith("KILL") and args == (8,):
                raise RuntimeError(1227, "Access denied")

        cursor.execute = kill
        return cursor


def test_a_connection_that_ended_meanwhile_is_no_failure_but_other_errors_are():
    db = EndedMeanwhile([{"id": 7, "host": "a:1"}, {"id": 9, "host": "b:2"}])
    assert otap_pair.release_silent_standbys(db, {"10.0.0.22": "silent"}) == ["b:2"]
    denied = EndedMeanwhile([{"id": 8, "host": "a:1"}])
    with pytest.raises(RuntimeError, match="Access denied"):
        otap_pair.release_silent_standbys(denied, {"10.0.0.22": "silent"})


def test_no_peer_no_replication_closed():
    db = ProcessList([{"id": 7, "host": "10.0.0.22:47788"}])
    assert otap_pair.release_silent_standbys(db, {}) == [] and db.executed == []


class Ssh:
    """subprocess.Popen of the ssh that asks the witness: each question answers `out` with `rc`, or
    hangs until it is killed; every question is kept (`asked`)."""

    def __init__(self, rc: int = 0, out: str = "", hangs: bool = False, failures: int = 0):
        self.rc, self.out, self.hangs, self.asked, self.failures = rc, out, hangs, [], failures

    def __call__(self, argv, **_kwargs):
        process = Process(self, argv)
        self.asked.append(process)
        return process


class Process:
    def __init__(self, ssh: Ssh, argv):
        self.ssh, self.argv, self.returncode, self.killed = ssh, argv, None, threading.Event()

    def read(self) -> bytes:
        if self.ssh.hangs:
            self.killed.wait(30)
            return b""
        return self.ssh.out.encode() if isinstance(self.ssh.out, str) else self.ssh.out

    def wait(self):
        if self.returncode is None:
            failing = self.ssh.failures > 0
            self.ssh.failures -= failing
            self.returncode = -9 if self.killed.is_set() else 255 if failing else self.ssh.rc
        return self.returncode

    def poll(self):
        return self.returncode

    def communicate(self, timeout):
        if self.ssh.hangs and not self.killed.wait(30 if timeout is None else timeout):
            raise otap_pair.subprocess.TimeoutExpired("ssh", timeout)
        answer = self.read()
        self.wait()
        return answer, None

    def kill(self):
        self.killed.set()


@pytest.mark.parametrize(("rc", "out", "said"), [
    (0, "alive\n", ("alive", None)), (0, "dead\n", ("dead", None)), (0, "dead 3.5\n", ("dead", 3.5)),
    (0, "dead soon\n", (None, None)), (0, "alive 3.5\n", ("alive", None)), (0, "maybe\n", (None, None)),
    (0, "", (None, None)), (1, "", (None, None)), (255, "alive", (None, None))])
def test_only_a_clear_answer_of_the_witness_counts(monkeypatch, rc, out, said):
    monkeypatch.setattr(otap_pair.subprocess, "Popen", Ssh(rc, out))
    assert otap_pair.witness_says(WITNESS, "10.0.0.21", timeout=0.5) == said


def test_a_witness_that_hangs_counts_as_not_asked_and_its_question_is_ended(monkeypatch):
    ssh = Ssh(hangs=True)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", ssh)
    assert otap_pair.witness_says(WITNESS, "10.0.0.21", timeout=0.2) == (None, None)
    assert [process.killed.is_set() for process in ssh.asked] == [True]


def test_a_check_with_no_time_left_does_not_ask(monkeypatch):
    monkeypatch.setattr(otap_pair.subprocess, "Popen", lambda *_a, **_k: pytest.fail("asked the witness"))
    assert otap_pair.witness_says(WITNESS, "10.0.0.21", timeout=0) == (None, None)


@pytest.mark.parametrize(("rc", "out", "heard"), [
    (0, "heard\n", True), (1, "", False), (0, "", False), (0, "heard twice\n", False), (0, "alive\n", False),
    (255, "heard\n", False)])
def test_only_the_witness_s_heard_counts_for_a_hello(monkeypatch, rc, out, heard):
    ssh = Ssh(rc, out)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", ssh)
    assert otap_pair.witness_hears(WITNESS, 0.5) is heard
    assert ssh.asked[0].argv[-1] == "hello"


def test_a_hello_that_hangs_or_has_no_time_left_is_not_heard(monkeypatch):
    monkeypatch.setattr(otap_pair.subprocess, "Popen", Ssh(hangs=True))
    assert otap_pair.witness_hears(WITNESS, 0.2) is False
    monkeypatch.setattr(otap_pair.subprocess, "Popen", lambda *_a, **_k: pytest.fail("asked the witness"))
    assert otap_pair.witness_hears(WITNESS, 0) is False


def test_an_early_question_is_answered_once_and_never_asked_twice(monkeypatch):
    """ask_early asks as a primary and as a standby; the answer that counts is read, even with no
    time left to ask anew, and a question no one read is ended with the check."""
    ssh = Ssh(0, "heard\n")
    monkeypatch.setattr(otap_pair.subprocess, "Popen", ssh)
    otap_pair.ask_early(WITNESS | {"peers": ["10.0.0.22"]})
    try:
        assert [process.argv[-1] for process in ssh.asked] == ["hello", "peer 10.0.0.22"]
        assert otap_pair.witness_hears(WITNESS, 0) is True
        assert otap_pair.witness_hears(WITNESS, 0) is False  # answered once: not asked again without time
        assert len(ssh.asked) == 2
    finally:
        otap_pair.drop_early()
    assert not otap_pair.EARLY


def test_a_question_whose_ssh_fails_at_once_is_put_again_until_the_witness_had_its_second(monkeypatch):
    """ssh refused for a moment: answered on a later try, and the witness's time counted until then."""
    ssh = Ssh(0, "heard\n", failures=3)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", ssh)
    question = otap_pair.Question(WITNESS, "hello")
    assert question.answer(5) == ["heard"]
    assert len(ssh.asked) == 4 and not question.failed_early()
    answered = question.waited()
    time.sleep(0.2)
    assert question.waited() == answered < otap_pair.WITNESS_MIN


def test_a_question_whose_ssh_fails_at_every_try_is_put_again_until_dropped_and_is_silence(monkeypatch):
    """No route to the witness: every ssh fails at once. It is put again every ASK_AGAIN seconds, no
    faster, while the check waits; all that time is the witness's, and its silence."""
    ssh = Ssh(0, "heard\n", failures=10**6)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", ssh)
    question = otap_pair.Question(WITNESS, "hello")
    assert question.answer(0.5) is None
    assert 2 <= len(ssh.asked) <= 0.5 / otap_pair.ASK_AGAIN + 2
    assert question.waited() >= 0.5 and not question.failed_early()
    assert all(process.returncode is not None for process in ssh.asked)


def test_a_refusal_of_the_witness_s_own_is_its_answer_not_put_again(monkeypatch):
    ssh = Ssh(1, "")
    monkeypatch.setattr(otap_pair.subprocess, "Popen", ssh)
    assert otap_pair.witness_hears(WITNESS, 0.5) is False
    assert len(ssh.asked) == 1


def test_a_question_that_can_no_longer_be_put_adds_nothing_to_the_witness_s_time(monkeypatch):
    """ssh failed, and starting it again failed too: the witness has not had its time."""
    ssh = Ssh(0, "heard\n", failures=1)

    def once(argv, **kwargs):
        if ssh.asked:
            raise OSError(11, "Resource temporarily unavailable")
        return ssh(argv, **kwargs)

    monkeypatch.setattr(otap_pair.subprocess, "Popen", once)
    otap_pair.ask_early(WITNESS | {"peers": ["10.0.0.22"]})
    try:
        question = otap_pair.EARLY["hello"]
        question.reader.join(5)
        assert question.failed_early() and otap_pair.witness_time("hello", 0.3) == 0.3
    finally:
        otap_pair.drop_early()


def test_without_a_thread_to_spare_the_answer_is_read_when_asked_for(monkeypatch):
    def no_thread(_thread):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(otap_pair.threading.Thread, "start", no_thread)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", Ssh(0, "heard\n"))
    assert otap_pair.witness_hears(WITNESS, 0.5) is True
    # A refusal for a moment: none of the failed question's time is the witness's, and it is put again.
    refused = Ssh(0, "heard\n", failures=1)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", refused)
    otap_pair.ask_early(WITNESS | {"peers": ["10.0.0.22"]})
    try:
        refused.asked[0].wait()
        assert otap_pair.witness_time("hello", 0.5) == 0.5
        assert otap_pair.witness_hears(WITNESS, 1.0) is True
        assert [process.argv[-1] for process in refused.asked] == ["hello", "peer 10.0.0.22", "hello"]
    finally:
        otap_pair.drop_early()
    refused = Ssh(0, "heard\n", failures=2)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", refused)
    assert otap_pair.witness_hears(WITNESS, 1.0) is True and len(refused.asked) == 3
    hangs = Ssh(hangs=True)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", hangs)
    assert otap_pair.witness_hears(WITNESS, 0.1) is False
    assert [process.returncode for process in hangs.asked] == [-9]


@pytest.mark.parametrize("error", [OSError(24, "Too many open files"), ValueError("embedded null byte")])
def test_a_question_that_cannot_start_is_not_asked_and_raises_nothing(monkeypatch, error):
    def fails(*_a, **_k):
        raise error

    monkeypatch.setattr(otap_pair.subprocess, "Popen", fails)
    otap_pair.ask_early(WITNESS | {"peers": ["10.0.0.22"]})
    assert not otap_pair.EARLY
    assert otap_pair.witness_hears(WITNESS, 1.5) is False


def test_the_time_it_takes_to_start_ssh_is_not_the_witness_s(monkeypatch):
    """A node whose disk stalls may take long to start ssh: the witness's time starts once it runs."""
    ssh = Ssh(hangs=True)

    def slow(argv, **kwargs):
        time.sleep(0.3)
        return ssh(argv, **kwargs)

    monkeypatch.setattr(otap_pair.subprocess, "Popen", slow)
    question = otap_pair.Question(WITNESS, "hello")
    try:
        assert question.waited() < 0.2
    finally:
        question.drop()


def test_a_dropped_question_leaves_no_process_behind(monkeypatch):
    ssh = Ssh(hangs=True)
    monkeypatch.setattr(otap_pair.subprocess, "Popen", ssh)
    question = otap_pair.Question(WITNESS, "hello")
    question.drop()
    assert [process.returncode for process in ssh.asked] == [-9]


def test_an_answer_that_is_not_text_is_no_answer(monkeypatch):
    monkeypatch.setattr(otap_pair.subprocess, "Popen", Ssh(0, b"\xff\xfe heard"))
    started = time.monotonic()
    assert otap_pair.witness_hears(WITNESS, 5) is False
    assert time.monotonic() - started < 2  # read, not waited out


# --- Every automatic decision reaches operations ---

@pytest.mark.parametrize("outcome, subject", [
    ("promoted: the primary vanished; promoted to primary at 0-1-42", "prod2 promoted itself to primary"),
    ("refuse: replication is stopped", "refused to promote its database"),
    ("refused: could not catch up", "refused to promote its database"),
    ("demoted: this node gave up the VIP, its database is now read-only", "prod2 gave up the primary role"),
    ("failed: database gone", "the failover hook failed"),
])
def test_each_decision_has_its_mail(outcome, subject):
    mail_subject, body = otap_pair.decision_mail("prod2", outcome)
    assert subject in mail_subject and outcome in body and "otap_action=status" in body


@pytest.mark.parametrize("outcome", ["keep: already the primary", "kept: the database was already read-only"])
def test_nothing_decided_nothing_mailed(outcome):
    assert otap_pair.decision_mail("prod2", outcome) is None


CONFIG = {"name": "prod1"}


@pytest.mark.parametrize("local, inactive, stray, stopped", [
    ({"read_only": True, "replica_of": None, "binlog_pos": "0-1-9"}, [], True, False),
    ({"read_only": True, "replica_of": "10.0.0.2", "binlog_pos": "0-1-9"}, [], False, False),
    ({"read_only": True, "replica_of": None, "binlog_pos": ""}, [], False, False),  # new, never wrote
    ({"read_only": False, "replica_of": None, "binlog_pos": "0-1-9"}, ["otap-uploads.service"], False, True),
    ({"read_only": False, "replica_of": None, "binlog_pos": "0-1-9"}, [], False, False),
])
def test_stray_nodes_and_a_primary_without_its_services_are_conditions_to_report(local, inactive, stray, stopped):
    found = otap_pair.condition_mails(CONFIG, local, inactive)
    assert (found["stray"] is not None, found["services"] is not None) == (stray, stopped)
    if stopped:
        assert "otap-uploads.service" in found["services"][0] and "reach only prod1" in found["services"][1]


def measured(tmp_path, **record):
    path = tmp_path / "lag.json"
    path.write_text(json.dumps({"time": 1000, "differences": 0, "lag_seconds": None, "error": ""} | record))
    return {"uploads_state": str(path), "uploads_lag_max": 60}


@pytest.mark.parametrize(("record", "now", "said"), [
    ({}, 1005, None),                                                   # level
    ({"differences": 3, "lag_seconds": 60}, 1005, None),                # a file in flight, not yet too old
    ({"differences": 3, "lag_seconds": 61}, 1005, "3 differences are not on the standby, the oldest saved 61 s ago"),
    ({"differences": 1, "lag_seconds": None}, 1005, None),              # a deletion under way has no age
    ({"differences": None, "error": "rsync error: 12"}, 1005, None),    # a standby rebooting: not yet
    ({"differences": None, "error": "rsync error: 12", "error_since": 950}, 1005, None),
    ({"differences": None, "error": "rsync error: 12", "error_since": 900}, 1005,
     "has not been able to compare them with the standby's for 105 s: rsync error: 12"),
    ({"differences": None, "error_since": 900}, 1005, "the measure failed without a word"),
    ({"differences": 0, "fresh_for": 30}, 1031, "its last measure of them is 31 s old"),  # the timer stopped
    ({"differences": 0}, 1081, "its last measure of them is 81 s old"),  # a record that does not say how long
])
def test_the_primary_s_own_measure_says_when_its_uploads_do_not_reach_the_standby(tmp_path, record, now, said):
    found = otap_pair.uploads_behind(measured(tmp_path, **record), now)
    assert (found is None) if said is None else (said in found), found


@pytest.mark.parametrize("content", ["", "{cut", "[]", '{"differences": 0}', '{"time": "soon"}',
                                     '{"time": 1000, "lag_seconds": "many", "differences": 1}'])
def test_an_unreadable_measure_is_said_and_never_raises(tmp_path, content):
    config = measured(tmp_path)
    Path(config["uploads_state"]).write_text(content)
    assert "its measure of them cannot be read" in otap_pair.uploads_behind(config, 1005)


def test_a_missing_measure_is_said_and_none_is_looked_for_without_a_file_named(tmp_path):
    assert "no measure of them" in otap_pair.uploads_behind(measured(tmp_path) | {"uploads_state": str(tmp_path / "none")}, 1005)
    assert otap_pair.uploads_behind({"uploads_state": ""}, 1005) is None


def test_uploads_behind_are_mailed_only_by_a_primary_whose_replication_runs():
    primary = {"read_only": False, "replica_of": None, "binlog_pos": "0-1-9"}
    behind = "3 differences are not on the standby, the oldest saved 200 s ago (more than 60 s)"
    subject, body = otap_pair.condition_mails(CONFIG, primary, [], behind)["uploads"]
    assert subject == "prod1's uploads are not reaching the standby" and behind in body
    assert otap_pair.condition_mails(CONFIG, primary, ["otap-uploads.service"], behind)["uploads"] is None, \
        "a stopped replication is mailed as that"
    standby = {"read_only": True, "replica_of": "10.0.0.2", "binlog_pos": "0-1-9"}
    assert otap_pair.condition_mails(CONFIG, standby, [], behind)["uploads"] is None


def test_a_primary_mails_its_uploads_lag_once_it_has_lasted(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    sent = []
    monkeypatch.setattr(otap_pair, "send_later", lambda *mail, condition="": sent.append((mail[0], condition)))
    monkeypatch.setattr(otap_pair, "inactive_services", lambda services: [])
    config = {"name": "prod1", "services": ["otap-uploads.service"], "report_after": 30} | \
        measured(tmp_path, differences=2, lag_seconds=180)
    primary = {"read_only": False, "replica_of": None, "binlog_pos": "0-1-9"}
    for now in (1000, 1031):
        monkeypatch.setattr(otap_pair.time, "time", lambda now=now: now)
        Path(config["uploads_state"]).write_text(json.dumps({"time": now - 5, "differences": 2, "lag_seconds": 180,
                                                             "error": ""}))
        otap_pair.report_lasting_conditions(config, primary)
    assert sent == [("prod1's uploads are not reaching the standby", "uploads")]


def test_a_condition_is_reported_once_when_it_has_lasted_and_again_after_it_ended(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    assert not otap_pair.lasting("stray", True, 30, 1000.0)
    assert not otap_pair.lasting("stray", True, 30, 1029.0)
    assert otap_pair.lasting("stray", True, 30, 1030.0)
    assert not otap_pair.lasting("stray", True, 30, 1100.0), "told twice"
    assert not otap_pair.lasting("stray", False, 30, 1101.0)
    assert not list(tmp_path.iterdir())
    assert not otap_pair.lasting("stray", True, 30, 2000.0)
    assert otap_pair.lasting("stray", True, 30, 2031.0)


def test_a_condition_whose_mail_did_not_go_out_is_reported_again_after_another_while(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(otap_pair, "settings", lambda: {"mail_host": "", "mail_to": []})
    monkeypatch.setattr(otap_pair.sys, "stdin", io.StringIO("body"))
    monkeypatch.setattr(otap_pair.time, "time", lambda: 1040.0)
    otap_pair.lasting("stray", True, 30, 1000.0)
    assert otap_pair.lasting("stray", True, 30, 1030.0)
    assert otap_pair.main(["otap-pair", "mail", "prod1 is a stray node", "stray"]) == 0  # no server: not sent
    assert not otap_pair.lasting("stray", True, 30, 1069.0)
    assert otap_pair.lasting("stray", True, 30, 1070.0), "not asked again"
    otap_pair.untold("services", 1071.0)  # a condition that ended meanwhile stays forgotten
    assert not (tmp_path / "since-services").exists()


def test_a_mail_reaches_an_smtp_server():
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            received.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = {"mail_host": "127.0.0.1", "mail_port": port, "mail_from": "otap-pair@prod2",
                  "mail_to": ["ops@example.net", "oncall@example.net"]}
        assert otap_pair.send(config, "prod2 promoted itself", "promoted: ...") == \
            "mailed ops@example.net, oncall@example.net"
    finally:
        controller.stop()
    ((to, content),) = received
    assert to == ["ops@example.net", "oncall@example.net"] and "Subject: prod2 promoted itself" in content


def test_a_mail_server_that_does_not_answer_is_said_not_waited_for():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = {"mail_host": "127.0.0.1", "mail_port": port, "mail_from": "a@b", "mail_to": ["ops@example.net"]}
    assert otap_pair.send(config, "s", "b").startswith("mail not sent:")
    assert otap_pair.send(config | {"mail_host": ""}, "s", "b").startswith("no mail")


def test_reporting_never_makes_a_node_unfit_nor_waits_on_systemd(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path / "missing"))  # every state file write fails
    calls = []

    def slow(argv, **kwargs):
        calls.append(kwargs.get("timeout"))
        raise otap_pair.subprocess.TimeoutExpired(argv, kwargs.get("timeout"))

    monkeypatch.setattr(otap_pair.subprocess, "run", slow)
    local = {"read_only": False, "replica_of": None, "binlog_pos": "0-1-9"}
    otap_pair.report_lasting_conditions({"name": "prod1", "services": ["otap-uploads.service"],
                                         "report_after": 0}, local)
    assert calls == [1]
    stray = {"read_only": True, "replica_of": None, "binlog_pos": "0-1-9"}
    otap_pair.report_lasting_conditions({"name": "prod1", "services": [], "report_after": 0}, stray)  # no raise
