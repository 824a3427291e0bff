"""One writer, always (roles/keepalived/files/otap_pair.py): a primary cut off from its peer and
the witness fences itself in its next check, and a standby whose primary is silent promotes
itself only once nobody has heard of that primary for `fence_after` seconds."""

import contextlib
import errno
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from fakes import FakeConnection

PATH = Path(__file__).resolve().parents[3] / "roles" / "keepalived" / "files" / "otap_pair.py"
spec = importlib.util.spec_from_file_location("otap_pair_fence", PATH)
otap_pair = importlib.util.module_from_spec(spec)
spec.loader.exec_module(otap_pair)
URLOPEN = urllib.request.urlopen  # the real one, for the test that needs a real request

FENCE_AFTER = 8.0
CONFIG = {"witness": "10.0.0.10", "witness_ssh": "/etc/keepalived/otap-witness.ssh_config",
          "peers": ["10.0.0.22"], "peer_port": 80, "fence_after": FENCE_AFTER, "check_budget": 2.0,
          "check_url": "http://127.0.0.1/otap-fpm-ping", "max_lag": 5, "services": ["otap-uploads.service"],
          "name": "prod1", "report_after": 30, "retry_after": 5}


class Clock:
    """time.time, time.monotonic and time.sleep of one made-up clock: sleeping moves it on."""

    def __init__(self, monkeypatch, start: float = 1_000_000.0):
        self.now, self.slept = start, 0.0
        monkeypatch.setattr(otap_pair.time, "time", lambda: self.now)
        monkeypatch.setattr(otap_pair.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(otap_pair.time, "sleep", self.sleep)

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds
        self.slept += seconds


@pytest.fixture(name="clock")
def fixture_clock(monkeypatch, tmp_path):
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    return Clock(monkeypatch)


def peer_seen(at: float) -> None:
    path = os.path.join(otap_pair.STATE_DIR, otap_pair.PEER_SEEN)
    Path(path).touch()
    os.utime(path, (at, at))


class Witness:
    """The witness as the standby hears it: its word on the primary, and when the primary itself
    last asked (None: never); every question's time is kept."""

    def __init__(self, clock: Clock, word: str | None, primary_asked_at=None):
        self.clock, self.word, self.primary_asked_at, self.asked = clock, word, primary_asked_at, []

    def __call__(self, config, address, timeout=4.0):
        self.asked.append(self.clock.now)
        self.clock.now += 0.3  # a question over SSH takes a while
        asked_at = self.primary_asked_at(self.clock.now) if callable(self.primary_asked_at) else self.primary_asked_at
        return self.word, (None if self.word != "dead" or asked_at is None else self.clock.now - asked_at)


@pytest.mark.parametrize(("heard", "now", "wait"), [
    (100.0, 100.0, 8.0), (100.0, 105.0, 3.0), (100.0, 108.0, 0.0), (100.0, 250.0, 0.0),
    (100.0, 90.0, 8.0)])  # a clock that went back: never more than the whole wait
def test_the_wait_runs_from_when_the_primary_was_last_heard_of(heard, now, wait):
    assert otap_pair.fence_wait(heard, now, FENCE_AFTER) == wait


def test_a_dead_primary_is_replaced_once_a_cut_off_one_would_have_fenced_itself(monkeypatch, clock):
    seen = clock.now - 1.5
    peer_seen(seen)
    witness = Witness(clock, "dead")
    monkeypatch.setattr(otap_pair, "witness_says", witness)
    allowed, said = otap_pair.witness_allows_promotion(CONFIG, "10.0.0.21")
    assert allowed and "cannot reach 10.0.0.21 either" in said
    assert witness.asked == [seen + FENCE_AFTER]


def test_a_primary_that_asked_the_witness_lately_is_given_the_time_to_fence_itself(monkeypatch, clock):
    """The cut reached the witness after the link between the nodes: the primary went on asking
    the witness (its peer silent) until moments ago, so it may still be writable."""
    peer_seen(clock.now - 60)
    asked_at = clock.now - 1.0
    witness = Witness(clock, "dead", primary_asked_at=asked_at)
    monkeypatch.setattr(otap_pair, "witness_says", witness)
    allowed, _ = otap_pair.witness_allows_promotion(CONFIG, "10.0.0.21")
    assert allowed
    assert witness.asked[-1] >= asked_at + FENCE_AFTER and len(witness.asked) == 2


def test_a_primary_that_keeps_asking_the_witness_is_never_doubled(monkeypatch, clock):
    """Its site's port is blocked for the witness, yet it reaches the witness: it is alive."""
    peer_seen(clock.now - 60)
    witness = Witness(clock, "dead", primary_asked_at=lambda now: now - 0.5)
    monkeypatch.setattr(otap_pair, "witness_says", witness)
    allowed, said = otap_pair.witness_allows_promotion(CONFIG, "10.0.0.21")
    assert not allowed and "kept asking the witness" in said
    assert clock.slept <= 3 * FENCE_AFTER + FENCE_AFTER


def test_a_primary_this_node_reaches_again_while_it_waits_is_never_doubled(monkeypatch, clock):
    """The standby's own checks go on knocking while it waits: a primary that answers again keeps
    putting the promotion off, until the standby gives up and refuses."""
    peer_seen(clock.now - 60)

    class Knocking(Witness):
        def __call__(self, config, address, timeout=4.0):
            peer_seen(self.clock.now)
            return super().__call__(config, address, timeout)

    monkeypatch.setattr(otap_pair, "witness_says", Knocking(clock, "dead"))
    allowed, said = otap_pair.witness_allows_promotion(CONFIG, "10.0.0.21")
    assert not allowed and "may still take writes" in said


@pytest.mark.parametrize(("error", "answers"), [(2003, False), (2013, False), (1045, True), (1040, True),
                                                (1129, True)])
def test_a_primary_whose_server_answers_with_an_error_is_not_gone(monkeypatch, error, answers):
    def refused(*_a, **_k):
        raise RuntimeError(error, "an error")

    monkeypatch.setattr(otap_pair, "connect", refused)
    local = {"replica_of": "10.0.0.21"}
    if answers:
        with pytest.raises(RuntimeError, match="answers, with an error"):
            otap_pair.peer_state(local, CONFIG | {"user": "replicator", "password": ""}, 0)
    else:
        assert otap_pair.peer_state(local, CONFIG | {"user": "replicator", "password": ""}, 0) is None


def test_never_having_reached_the_primary_the_standby_waits_the_whole_time(monkeypatch, clock):
    start = clock.now
    witness = Witness(clock, "dead")
    monkeypatch.setattr(otap_pair, "witness_says", witness)
    assert otap_pair.witness_allows_promotion(CONFIG, "10.0.0.21")[0]
    assert witness.asked == [start + FENCE_AFTER]


@pytest.mark.parametrize(("word", "said"), [("alive", "link between the nodes is cut"),
                                            (None, "cannot be asked")])
def test_a_primary_the_witness_reaches_or_a_witness_that_cannot_be_asked_means_no_promotion(
        monkeypatch, clock, word, said):
    peer_seen(clock.now - 60)
    monkeypatch.setattr(otap_pair, "witness_says", Witness(clock, word))
    allowed, reason = otap_pair.witness_allows_promotion(CONFIG, "10.0.0.21")
    assert not allowed and said in reason


def test_without_a_witness_nothing_is_waited_for(monkeypatch, clock):
    monkeypatch.setattr(otap_pair, "witness_says", lambda *_a, **_k: pytest.fail("asked a witness"))
    assert otap_pair.witness_allows_promotion(CONFIG | {"witness": ""}, "10.0.0.21") == (True, "")
    assert clock.slept == 0


# --- the primary's side: its check fences it ---

class Server(FakeConnection):
    """The node's own MariaDB as check() reads it; what it was told is in `executed`."""

    def __init__(self, read_only: bool, replica_of: str | None = None, clients=(), held: int = 0):
        self.read_only, self.replica_of, self.executed = read_only, replica_of, []
        self.clients, self.held, self.rows = list(clients), held, []

    def execute(self, sql, args=None):
        self.executed.append(sql if args is None else (sql, args))
        if sql == otap_pair.READ_ONLY:
            if self.held:  # a long write holds the read lock until lock_wait_timeout
                self.held -= 1
                raise RuntimeError(1205, "Lock wait timeout exceeded")
            self.read_only = True
        if sql.startswith("KILL CONNECTION"):
            self.clients.remove(args[0])
        self.rows = [{"id": client} for client in self.clients] if "CONNECTION_ID()" in sql else []
        self.row = ({"read_only": int(self.read_only), "binlog_pos": "0-1-9"} if "@@global.read_only" in sql
                    else {"Master_Host": self.replica_of, "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes",
                          "Seconds_Behind_Master": 0, "Gtid_IO_Pos": "0-1-9"} if sql == "SHOW SLAVE STATUS"
                          and self.replica_of else {})


class Answer:
    status = 200

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Unanswered:
    """A question the check puts to the witness early (ask_early), never answered: the tests that
    fake the witness's word (network()) fake witness_says and witness_hears instead."""

    def __init__(self, node, request: str):
        self.node, self.request, self.since, self.dropped = node, request, otap_pair.time.monotonic(), False
        node.questions.append(self)

    def answer(self, timeout: float):
        pytest.fail(f"the early question {self.request!r} was read past network()'s fake witness")

    def waited(self) -> float:
        return otap_pair.time.monotonic() - self.since

    @staticmethod
    def failed_early() -> bool:
        return False

    def drop(self) -> None:
        self.dropped = True


@pytest.fixture(name="node")
def fixture_node(monkeypatch, tmp_path):
    """check() on a node whose own web tier answers; what it mails and runs is kept. Its process
    started PYTHON_START before the check reads its clock (made-up or not)."""
    monkeypatch.setattr(otap_pair, "STATE_DIR", str(tmp_path))
    monkeypatch.setattr(otap_pair, "process_started", lambda: otap_pair.time.monotonic() - otap_pair.PYTHON_START)
    monkeypatch.setattr(otap_pair, "DATABASE_PID", str(tmp_path / "mysqld.pid"))  # none: systemctl, recorded
    monkeypatch.setattr(otap_pair, "settings", lambda: CONFIG)
    monkeypatch.setattr(otap_pair.urllib.request, "urlopen", lambda *_a, **_k: Answer())
    monkeypatch.setattr(otap_pair, "inactive_services", lambda _services: [])
    node = type("Node", (), {"mails": [], "systemctl": [], "witness_timeouts": [], "questions": []})()
    monkeypatch.setattr(otap_pair, "Question", lambda config, request: Unanswered(node, request))
    monkeypatch.setattr(otap_pair, "send_later", lambda subject, body, condition="": node.mails.append(subject))
    monkeypatch.setattr(otap_pair.subprocess, "run",
                        lambda argv, **_: node.systemctl.append(argv) or type("Done", (), {"returncode": 0})())
    return node


def network(monkeypatch, node, peer: str, word: str | None) -> None:
    """Every knock answers `peer`; the witness says `word` about the peer (None: it cannot be
    asked), and hears a hello unless it cannot be asked."""
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: peer)

    def witness(_config, _address, timeout=4.0):
        node.witness_timeouts.append(timeout)
        return word, None

    def hears(_config, timeout):
        node.witness_timeouts.append(timeout)
        return word is not None

    monkeypatch.setattr(otap_pair, "witness_says", witness)
    monkeypatch.setattr(otap_pair, "witness_hears", hears)


@pytest.mark.parametrize("web", ["answers", "fails"])
def test_a_primary_cut_off_fences_itself_whatever_its_web_tier_does(monkeypatch, node, web):
    """Cut off, its PHP workers may hang on what they cannot reach: the fence comes first."""
    if web == "fails":
        def hangs(*_a, **_k):
            raise TimeoutError("timed out")

        monkeypatch.setattr(otap_pair.urllib.request, "urlopen", hangs)
    server = Server(read_only=False)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: server)
    network(monkeypatch, node, "silent", None)
    assert otap_pair.check() == 1
    assert server.read_only and otap_pair.READ_ONLY in server.executed


def test_the_fence_closes_the_site_s_connections_so_no_commit_is_acknowledged_after_it(monkeypatch, node):
    server = Server(read_only=False, clients=[11, 12])
    otap_pair.fence(server, CONFIG)
    assert server.read_only and server.clients == []
    assert server.executed.index("SET SESSION lock_wait_timeout = 1") < server.executed.index(otap_pair.READ_ONLY)
    # Closed before the first try: no write of theirs holds the read lock up.
    assert server.executed.index(("KILL CONNECTION %s", (11,))) < server.executed.index(otap_pair.READ_ONLY)


def test_a_write_that_holds_the_read_lock_past_the_fence_s_one_try_has_its_database_killed(monkeypatch, node):
    """A killed client's long rollback, or a client back at once, keeps read_only from being set:
    the database is killed then (systemd starts it again, read-only), within the check's life."""
    server = Server(read_only=False, clients=[11], held=1)
    outcome = otap_pair.fence(server, CONFIG)
    assert server.executed.count(otap_pair.READ_ONLY) == 1
    assert ["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl
    assert outcome.startswith("fenced:") and "mariadb.service was killed" in outcome
    assert any("takes no more writes" in subject for subject in node.mails)
    assert (Path(otap_pair.STATE_DIR) / otap_pair.FENCED).exists()


def test_a_fence_that_can_neither_turn_the_database_read_only_nor_kill_it_says_so(monkeypatch, node):
    server = Server(read_only=False, held=1)
    monkeypatch.setattr(otap_pair.subprocess, "run", lambda argv, **_: node.systemctl.append(argv) or type(
        "Done", (), {"returncode": 1, "stderr": "Failed to kill unit mariadb.service: Access denied"})())
    outcome = otap_pair.fence(server, CONFIG)
    assert outcome.startswith("failed:") and "may still take writes" in outcome and "Access denied" in outcome
    assert any("the failover hook failed" in subject for subject in node.mails)


def test_a_fence_whose_clients_cannot_be_closed_still_turns_the_database_read_only_or_kills_it(monkeypatch, node):
    class Unkillable(Server):
        def execute(self, sql, args=None):
            if sql.startswith("KILL CONNECTION"):
                raise RuntimeError(1095, "You are not owner of thread 11")
            super().execute(sql, args)

    server = Unkillable(read_only=False, clients=[11])
    otap_pair.fence(server, CONFIG)
    assert ["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl


def test_a_fence_that_cannot_note_itself_still_stops_the_writes(monkeypatch, node):
    """A full disk (or inodes used up) keeps the marker from being written: the writes stop all the same."""
    def full(_name):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(otap_pair, "touch", full)
    server = Server(read_only=False, clients=[11])
    outcome = otap_pair.fence(server, CONFIG)
    assert server.read_only and "cannot note the fence" in outcome


class Refuses:
    """connect() to a server that answers with `code`, or whose socket is not there (2002)."""

    def __init__(self, code: int):
        self.code = code

    def __call__(self, *_a, **_k):
        raise RuntimeError(self.code, "Too many connections" if self.code == 1040 else "cannot connect")


@pytest.mark.parametrize(("code", "peer", "word", "killed"), [
    (1040, "silent", None, True),   # answers, cannot be read, cut off: it may take writes on what it has
    (2013, "silent", None, True),   # hangs past the read timeout, cut off
    (2002, "silent", None, False),  # does not listen: takes no writes
    (1040, "open", None, False),    # the peer answers: not cut off
    (1040, "silent", "alive", False)])  # the witness hears it
def test_a_cut_off_node_whose_database_cannot_be_read_is_stopped_unless_it_does_not_listen(
        monkeypatch, node, code, peer, word, killed):
    monkeypatch.setattr(otap_pair, "connect", Refuses(code))
    network(monkeypatch, node, peer, word)
    assert otap_pair.check() == 1
    assert (["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl) == killed
    assert any("takes no more writes" in subject for subject in node.mails) == killed


@pytest.mark.parametrize(("takes", "code", "word", "asked", "killed"), [
    (3.1, 2013, None, False, False),     # hung till no time is left for a kill: left to keepalived
    (2.6, 2013, "alive", True, False),   # hung long, but the early question was answered: heard
    (2.6, 2013, None, True, True),       # hung long, and the early question went unanswered: cut off
    (2.0, 2013, "alive", True, False),   # the witness hears it: a healthy node, its standby rebooting
    (1.1, 1040, None, True, True),       # refused late, under load, and cut off: it may take writes
    (1.5, 2013, None, True, True),       # hung (the knock, then the connection's own second), and cut off
    (2.0, 2013, None, True, True)])      # hung, and cut off
def test_a_node_whose_database_cannot_be_read_is_killed_only_on_the_witness_s_word(
        monkeypatch, node, clock, takes, code, word, asked, killed):
    """The witness is asked while its answer and a kill still fit in the check's life (keepalived's
    timeout), whatever the budget: never killed for a stall alone, never left writable when cut off."""
    def fails(*_a, **_k):
        clock.now += takes
        raise RuntimeError(code, "cannot read it")

    monkeypatch.setattr(otap_pair, "connect", fails)
    network(monkeypatch, node, "silent", word)
    assert otap_pair.check() == 1
    assert bool(node.witness_timeouts) == asked
    # The witness has had its time when it is taken not to answer: since the early question, asked
    # at the check's start (the knock is instant here).
    assert all(takes + timeout >= otap_pair.WITNESS_MIN for timeout in node.witness_timeouts)
    assert [q.request for q in node.questions] == ["hello", "peer 10.0.0.22"] and all(q.dropped for q in node.questions)
    assert (["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl) == killed


def silent_after(clock, seconds: float):
    """knock() at a peer that does not answer, on the made-up clock: its timeout passes."""
    def knock(*_a, **_k):
        clock.now += seconds
        return "silent"

    return knock


def hangs_for(clock, seconds: float):
    """connect() to a server that hangs on new connections until the read's timeout."""
    def connect(*_a, **_k):
        clock.now += seconds
        raise RuntimeError(2013, "Lost connection to server during query (timed out)")

    return connect


class Asked:
    """The questions to the witness on the made-up clock: each answered `after` seconds from when it
    was put, with `words` (after None: never, as to a node cut off)."""

    def __init__(self, clock, after: float | None, words: list[str], cannot_start: bool = False):
        self.clock, self.after, self.words, self.put, self.dropped = clock, after, words, [], []
        self.cannot_start = cannot_start

    def __call__(self, _config, request):
        asked, clock = self, self.clock
        if self.cannot_start:
            raise OSError(24, "Too many open files")

        class Put:
            since = clock.now

            def answer(self, timeout):
                timeout = max(timeout, 0.0)
                if asked.after is not None and self.since + asked.after <= clock.now + timeout:
                    clock.now = max(clock.now, self.since + asked.after)
                    return asked.words
                clock.now += timeout
                return None

            def waited(self):
                if asked.after is not None and self.since + asked.after <= clock.now:
                    return asked.after
                return clock.now - self.since

            @staticmethod
            def failed_early():
                return False

            def drop(self):
                asked.dropped.append(request)

        self.put.append((request, clock.now))
        return Put()


@pytest.mark.parametrize(("hangs", "after", "words", "killed"), [
    (2.0, None, [], True),           # cut off, its server hangs on new connections: killed
    (2.0, 0.3, ["heard"], False),    # the witness hears it: a stall, not a cut
    (2.0, 2.4, ["heard"], False),    # the witness answers late, with time left for a kill: heard
    (2.0, 2.4, ["alive"], True),     # ... with a word that is not 'heard': not heard
    (2.0, 2.8, ["heard"], True),     # past what the check can wait for and still kill: not heard
    (2.6, None, [], False)])         # hung till no time is left for a kill: left to keepalived
def test_a_cut_off_node_whose_server_hangs_on_new_connections_is_killed_on_the_witness_s_silence(
        monkeypatch, node, clock, hangs, after, words, killed):
    """The double fault: cut off, and its server hangs on new connections for the whole connect wait
    while the site's old ones still commit. The witness, asked when the knocks went unanswered,
    before the database was, has had its time by then."""
    asked = Asked(clock, after, words)
    monkeypatch.setattr(otap_pair, "knock", silent_after(clock, 0.5))
    monkeypatch.setattr(otap_pair, "Question", asked)
    monkeypatch.setattr(otap_pair, "connect", hangs_for(clock, hangs))
    started = clock.now
    assert otap_pair.check() == 1
    assert (["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl) == killed
    assert asked.put == [("hello", started + 0.5), ("peer 10.0.0.22", started + 0.5)]
    assert clock.now - started <= CONFIG["check_budget"] + otap_pair.CHECK_GRACE - otap_pair.PYTHON_START
    assert not otap_pair.EARLY


class Hangs(FakeConnection):
    """A connection whose server greeted (late) and then hangs every statement."""

    def __init__(self, clock):
        self.clock = clock

    def execute(self, sql, args=None):
        self.clock.now += 2.0  # the read's own timeout
        raise RuntimeError(2013, "Lost connection to server during query (timed out)")

    def close(self):
        pass


class Alarm:
    """within() on the made-up clock: what reads past its time gets Overdue, as SIGALRM does."""

    def __init__(self, clock):
        self.clock, self.given, self.deadline = clock, [], None

    @contextlib.contextmanager
    def __call__(self, seconds):
        self.given.append(seconds)
        self.deadline = self.clock.now + seconds
        try:
            yield
        except RuntimeError:
            if self.clock.now >= self.deadline:
                self.clock.now = self.deadline
                raise otap_pair.Overdue("no answer") from None
            raise
        finally:
            self.deadline = None


@pytest.mark.parametrize("greeting", [0.1, 0.6, 1.9])
def test_a_cut_off_node_whose_server_greets_then_hangs_is_read_within_the_check_s_life_and_killed(
        monkeypatch, node, clock, greeting):
    """Each read of a connection waits its own timeout: greeting, login, each statement. The whole
    read is bounded so that a kill, on the witness's silence, still fits in keepalived's timeout."""
    alarm = Alarm(clock)
    monkeypatch.setattr(otap_pair, "within", alarm)
    monkeypatch.setattr(otap_pair, "knock", silent_after(clock, 0.5))
    monkeypatch.setattr(otap_pair, "Question", Asked(clock, None, []))
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: clock.__setattr__("now", clock.now + greeting)
                        or Hangs(clock))
    started = clock.now
    assert otap_pair.check() == 1
    assert ["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl
    life = CONFIG["check_budget"] + otap_pair.CHECK_GRACE - otap_pair.PYTHON_START
    assert alarm.given == [pytest.approx(life - 0.5 - otap_pair.KILL_TIME - otap_pair.READ_MARGIN)]  # after the knock
    assert clock.now - started <= life


@pytest.mark.parametrize(("hangs", "killed"), [(1.9, True), (2.5, False)])
def test_a_witness_not_asked_early_is_given_its_whole_second_or_nothing_is_killed(
        monkeypatch, node, clock, hangs, killed):
    """The early questions could not start (no process to spare): the kill waits on a question of
    its own, which needs WITNESS_MIN; with less left, a stall is never taken for a cut."""
    asked = Asked(clock, None, [], cannot_start=True)
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "silent")
    monkeypatch.setattr(otap_pair, "Question", asked)
    monkeypatch.setattr(otap_pair, "connect", hangs_for(clock, hangs))
    assert otap_pair.check() == 1
    assert (["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl) == killed


def test_a_check_whose_peer_answers_asks_the_witness_nothing(monkeypatch, node, clock):
    asked = Asked(clock, 0.1, ["heard"])
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "open")
    monkeypatch.setattr(otap_pair, "Question", asked)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=False))
    assert otap_pair.check() == 0
    assert asked.put == []


@pytest.mark.parametrize(("after", "words", "fenced"), [(0.3, ["heard"], False), (None, [], True)])
def test_a_primary_whose_standby_is_silent_judges_by_the_early_hello(monkeypatch, node, clock, after, words, fenced):
    """Its own database reads at once: the early 'hello' is the one answer it waits for, never asked twice."""
    server = Server(read_only=False)
    asked = Asked(clock, after, words)
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "silent")
    monkeypatch.setattr(otap_pair, "Question", asked)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: server)
    assert otap_pair.check() == (1 if fenced else 0)
    assert server.read_only == fenced
    assert [request for request, _at in asked.put] == ["hello", "peer 10.0.0.22"]
    assert asked.dropped == ["peer 10.0.0.22"]


@pytest.mark.parametrize(("reads", "asked_early", "hurried"), [(0.5, True, False), (2.3, True, True),
                                                                (2.3, False, False)])
def test_a_fence_with_no_time_left_to_wait_for_the_read_lock_stops_the_database_at_once(
        monkeypatch, node, clock, reads, asked_early, hurried):
    """Its own database read slowly, the witness silent: too late in the check for the read lock's
    second and a kill after it, within keepalived's timeout, so it is killed at once; but only on
    the silence of a witness that had its second (asked early), never for a stall alone."""
    server = Server(read_only=False)
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "silent")
    monkeypatch.setattr(otap_pair, "Question", Asked(clock, None, [], cannot_start=not asked_early))
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: clock.__setattr__("now", clock.now + reads) or server)
    started = clock.now
    assert otap_pair.check() == 1
    assert (otap_pair.READ_ONLY in server.executed) != hurried and server.read_only != hurried
    assert (["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl) == hurried
    if asked_early:
        assert clock.now - started <= CONFIG["check_budget"] + otap_pair.CHECK_GRACE - otap_pair.PYTHON_START


def test_a_pair_without_a_witness_asks_nothing(monkeypatch, node, clock):
    asked = Asked(clock, 0.1, ["heard"])
    monkeypatch.setattr(otap_pair, "settings", lambda: CONFIG | {"witness": ""})
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "silent")
    monkeypatch.setattr(otap_pair, "Question", asked)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=False))
    assert otap_pair.check() == 0
    assert asked.put == []


def test_a_bound_of_nothing_still_goes_off_and_a_bound_that_is_met_leaves_nothing_behind():
    handler = signal.getsignal(signal.SIGALRM)
    with pytest.raises(otap_pair.Overdue):
        with otap_pair.within(0):  # a timer of 0 would never go off: at least 10 ms
            time.sleep(2)
    with otap_pair.within(5):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) == handler


def test_a_blocking_read_is_interrupted_when_its_time_is_up():
    """within() for real: a server that takes the connection and never greets."""
    import pymysql

    with socket.socket(socket.AF_UNIX) as listening, tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mysqld.sock")
        listening.bind(path)
        listening.listen(1)
        started = time.monotonic()
        with pytest.raises(otap_pair.Overdue):
            with otap_pair.within(0.3):
                pymysql.connect(unix_socket=path, user="root", connect_timeout=5, read_timeout=5)
        assert time.monotonic() - started < 2
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize(("errno_", "killed"), [(errno.EAGAIN, True), (errno.ENOENT, False),
                                                (errno.ECONNREFUSED, False)])
def test_a_socket_that_refuses_for_a_full_queue_is_a_server_that_listens(monkeypatch, node, errno_, killed):
    """pymysql says 2003 for every failure of the socket: the system's own error tells a server
    that does not listen (no socket, no one behind it) from one whose accept queue is full."""
    def fails(*_a, **_k):
        error = RuntimeError(2003, "Can't connect to MySQL server")
        error.original_exception = OSError(errno_, os.strerror(errno_))
        raise error

    monkeypatch.setattr(otap_pair, "connect", fails)
    network(monkeypatch, node, "silent", None)
    assert otap_pair.check() == 1
    assert (["systemctl", "kill", "--signal=KILL", "mariadb.service"] in node.systemctl) == killed


def test_a_silent_standby_s_connection_that_cannot_be_closed_does_not_hold_the_fence_up(monkeypatch, node):
    class DumpsStuck(Server):
        def execute(self, sql, args=None):
            if "Binlog Dump" in sql:
                raise RuntimeError(2013, "Lost connection to server during query (timed out)")
            super().execute(sql, args)

    server = DumpsStuck(read_only=False)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: server)
    network(monkeypatch, node, "silent", None)
    assert otap_pair.check() == 1
    assert server.read_only


def test_a_primary_that_reaches_neither_peer_nor_witness_turns_read_only_in_that_very_check(monkeypatch, node):
    server = Server(read_only=False)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: server)
    network(monkeypatch, node, "silent", None)
    assert otap_pair.check() == 1
    assert otap_pair.READ_ONLY in server.executed
    assert 0 < node.witness_timeouts[0] <= CONFIG["check_budget"]
    assert node.systemctl == [["systemctl", "stop", "--no-block", "otap-uploads.service"]]
    assert any("neither its peer nor the witness" in subject for subject in node.mails)
    decided = json.loads((Path(otap_pair.STATE_DIR) / "promotion").read_text())
    assert decided["state"] == "FENCED" and decided["outcome"].startswith("fenced:")
    assert (Path(otap_pair.STATE_DIR) / otap_pair.FENCED).exists()


@pytest.mark.parametrize(("peer", "word"), [("open", None), ("silent", "alive"), ("silent", "dead"),
                                            ("refused", "alive")])
def test_a_primary_that_reaches_its_peer_or_the_witness_keeps_its_writes(monkeypatch, node, peer, word):
    server = Server(read_only=False)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: server)
    network(monkeypatch, node, peer, word)
    assert otap_pair.check() == 0
    assert otap_pair.READ_ONLY not in server.executed and not node.mails


def test_a_standby_cut_off_from_both_changes_nothing_of_its_database(monkeypatch, node):
    server = Server(read_only=True, replica_of="10.0.0.21")
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: server)
    network(monkeypatch, node, "silent", None)
    assert otap_pair.check() == 1
    assert not [sql for sql in server.executed if sql.startswith("SET")]


def test_a_fenced_node_hands_the_vip_to_a_peer_that_answers_until_it_is_rebuilt(monkeypatch, node):
    (Path(otap_pair.STATE_DIR) / otap_pair.FENCED).touch()
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=True))
    network(monkeypatch, node, "open", None)
    assert otap_pair.check() == 1
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=True, replica_of="10.0.0.22"))
    assert otap_pair.check() == 0, "a reseeded node is a standby like any other"
    assert not (Path(otap_pair.STATE_DIR) / otap_pair.FENCED).exists()


def test_an_operator_s_switchover_to_a_fenced_node_ends_its_fence(monkeypatch, node):
    (Path(otap_pair.STATE_DIR) / otap_pair.FENCED).touch()
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=False))
    network(monkeypatch, node, "open", None)
    assert otap_pair.check() == 0
    assert not (Path(otap_pair.STATE_DIR) / otap_pair.FENCED).exists()


def test_a_standby_whose_knock_was_lost_hears_of_its_primary_through_the_witness(monkeypatch, node):
    """One lost SYN must not start the standby's wait a period early: the witness reached the
    primary, so it was alive then, and a cut comes later."""
    import time

    peer_seen(time.time() - 4)
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=True, replica_of="10.0.0.21"))
    network(monkeypatch, node, "silent", "alive")
    assert otap_pair.check() == 1
    assert otap_pair.modified(otap_pair.PEER_SEEN) > time.time() - 1
    peer_seen(time.time() - 4)
    network(monkeypatch, node, "silent", "dead")
    otap_pair.check()
    assert otap_pair.modified(otap_pair.PEER_SEEN) < time.time() - 3, "a dead word hears of no one"


def test_a_check_that_reached_its_peer_says_when(monkeypatch, node):
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=True, replica_of="10.0.0.21"))
    network(monkeypatch, node, "open", None)
    otap_pair.check()
    assert otap_pair.modified(otap_pair.PEER_SEEN) is not None


@pytest.mark.parametrize(("state", "decided_ago", "started"), [
    ("MASTER", None, 1), ("MASTER", 10.0, 1), ("MASTER", 1.0, 0), ("BACKUP", None, 0)])
def test_a_vip_holder_whose_database_stayed_read_only_decides_again_from_its_check(
        monkeypatch, node, clock, state, decided_ago, started):
    otap_pair.record("state", state)
    if decided_ago is not None:
        decided = Path(otap_pair.STATE_DIR) / otap_pair.DECIDED
        decided.touch()
        os.utime(decided, (clock.now - decided_ago, clock.now - decided_ago))
    starts = []
    monkeypatch.setattr(otap_pair, "start_deciding_again", lambda: starts.append(clock.now))
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=True, replica_of="10.0.0.21"))
    network(monkeypatch, node, "open", None)
    assert otap_pair.check() == 0
    assert len(starts) == started


def keepalived_settings(interval: int) -> tuple[float, float, float]:
    """(timeout of the check, budget of its network answer, fence_after) as the role's templates
    render them for `interval` (each line's expression, rendered alone)."""
    import re

    import jinja2

    templates = PATH.parents[1] / "templates"

    def rendered(name: str, key: str) -> float:
        text = (templates / name).read_text(encoding="utf-8")
        expression = re.search(rf"^\s*{key}\s*=?\s*(\{{\{{.*?\}}\}})\s*$", text, re.M).group(1)
        return float(jinja2.Template(expression).render(keepalived_check_interval=interval))

    return rendered("keepalived.conf.j2", "timeout"), rendered("otap-pair.cnf.j2", "budget"), \
        rendered("otap-pair.cnf.j2", "fence_after")


@pytest.mark.parametrize("interval", [1, 2, 3, 5])
def test_the_standby_waits_out_the_whole_life_of_the_check_that_fences(interval):
    """The cut comes at most a period after the standby's last answered knock; the primary's next
    check starts within a period of the cut and keepalived lets it run `timeout` seconds: the
    standby must wait at least that long. And the check must have room, after its budget for the
    network's answer, for Python's start and a fence that waits a second for the read lock, or
    keepalived kills it midway, before the database is read-only."""
    timeout, budget, fence_after = keepalived_settings(interval)
    assert fence_after >= interval + interval + timeout
    assert timeout - budget >= 2
    # What the check counts on when it shares its life out (time_left): keepalived's timeout, and
    # room in it for the witness's answer and a whole fence after it (intervals under 2 are refused).
    assert timeout - budget == otap_pair.CHECK_GRACE
    if interval >= 2:
        assert otap_pair.PYTHON_START + otap_pair.WITNESS_MIN + otap_pair.FENCE_TIME <= timeout


@pytest.mark.parametrize(("program", "killed"), [("mariadbd", True), ("sleep", False)])
def test_the_database_is_killed_by_its_pid_at_once_and_nothing_a_stale_pid_file_names(
        monkeypatch, node, tmp_path, program, killed):
    """systemd may be busy (a daemon-reload during an upgrade): the server's own pid, read from its
    pid file, is killed directly; a pid the file names that is no longer the server is left alone."""
    binary = tmp_path / program
    shutil.copy("/bin/sleep", binary)
    process = subprocess.Popen([str(binary), "30"])
    try:
        while Path(f"/proc/{process.pid}/comm").read_text().strip() != program:  # until it has started
            time.sleep(0.01)
        Path(otap_pair.DATABASE_PID).write_text(f"{process.pid}\n")
        said = otap_pair.stop_database()
        assert (process.wait(5 if killed else 0.5) == -signal.SIGKILL) if killed else process.poll() is None
        assert "mariadb.service was killed" in said
        assert (node.systemctl == []) == killed  # else systemd is asked to kill its main process
    finally:
        process.kill()
        process.wait()


def hangs_web(clock):
    """urlopen() of a web tier whose workers hang: the request's own timeout passes."""
    def urlopen(*_a, timeout, **_k):
        clock.now += timeout
        raise TimeoutError("timed out")

    return urlopen


@pytest.mark.parametrize("stall", ["web", "database", "both"])
def test_a_check_whose_peer_answers_ends_within_its_interval_whatever_stalls(monkeypatch, node, clock, stall):
    """keepalived 2.3.3 and later skip a start while the last check runs. A passing check that ran
    into the next interval would put the next off by a whole one, and a primary cut off just after
    its knock would fence itself a period later than the standby's `fence_after` allows for. So a
    check in which a peer answered ends before the next start, unfit if it could not finish."""
    alarm = Alarm(clock)
    monkeypatch.setattr(otap_pair, "within", alarm)
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "open")
    if stall in ("web", "both"):
        monkeypatch.setattr(otap_pair.urllib.request, "urlopen", hangs_web(clock))
    server = Server(read_only=False)
    monkeypatch.setattr(otap_pair, "connect", (lambda *_a, **_k: Hangs(clock)) if stall in ("database", "both")
                        else (lambda *_a, **_k: server))
    started = clock.now
    assert otap_pair.check() == 1
    assert clock.now - started <= CONFIG["check_budget"] - otap_pair.PYTHON_START - otap_pair.TICK_MARGIN
    assert not node.systemctl and not server.read_only  # a stall is never taken for a cut


def test_a_check_whose_peer_answers_keeps_its_web_tier_the_time_left_in_its_interval(monkeypatch, node, clock):
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "open")
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: clock.__setattr__("now", clock.now + 0.5)
                        or Server(read_only=False))
    timeouts = []
    monkeypatch.setattr(otap_pair.urllib.request, "urlopen", lambda *_a, timeout, **_k: timeouts.append(timeout)
                        or Answer())
    assert otap_pair.check() == 0
    assert timeouts == [pytest.approx(CONFIG["check_budget"] - otap_pair.PYTHON_START - otap_pair.TICK_MARGIN - 0.5)]


def trickling_web_tier() -> str:
    """A web tier on loopback that answers one byte of its status line every 0.4 s: each read is
    within urlopen's timeout, the request as a whole is not."""
    listening = socket.create_server(("127.0.0.1", 0))

    def serve():
        with listening, listening.accept()[0] as conn, contextlib.suppress(OSError):  # the check hangs up
            conn.recv(4096)
            for byte in b"HTTP/1.0 200 OK\r\n\r\n":
                time.sleep(0.4)
                conn.sendall(bytes([byte]))

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listening.getsockname()[1]}/otap-fpm-ping"


def test_a_passing_check_bounds_its_web_request_as_a_whole(monkeypatch, node):
    """urlopen's timeout bounds each step (the connect, each read), not the request: a web tier that
    trickles its answer would hold the check past its interval. Real time, a real socket."""
    for proxy in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(otap_pair, "settings", lambda: CONFIG | {"check_url": trickling_web_tier()})
    monkeypatch.setattr(otap_pair.urllib.request, "urlopen", URLOPEN)
    monkeypatch.setattr(otap_pair, "knock", lambda *_a, **_k: "open")
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=False))
    started = time.monotonic()
    assert otap_pair.check() == 1
    assert time.monotonic() - started <= CONFIG["check_budget"] - otap_pair.PYTHON_START - otap_pair.TICK_MARGIN + 0.05


@pytest.mark.parametrize("slow", ["web", "knocks"])
def test_a_passing_check_that_took_its_time_still_reports_what_has_lasted(monkeypatch, node, clock, slow):
    """What is left of its interval, not a whole second, is what a report needs: a primary whose web
    tier takes 0.6 s, or whose peer's first two addresses are silent, still mails services stopped an hour ago."""
    config = CONFIG | {"peers": ["10.0.0.20", "10.0.0.21", "10.0.0.22"]} if slow == "knocks" else CONFIG
    monkeypatch.setattr(otap_pair, "settings", lambda: config)

    def knock(address, *_a, **_k):
        if slow == "knocks" and address != "10.0.0.22":
            clock.now += 0.5
            return "silent"
        return "open"

    monkeypatch.setattr(otap_pair, "knock", knock)
    if slow == "web":
        monkeypatch.setattr(otap_pair.urllib.request, "urlopen",
                            lambda *_a, **_k: clock.__setattr__("now", clock.now + 0.6) or Answer())
    monkeypatch.setattr(otap_pair, "within", Alarm(clock))
    monkeypatch.setattr(otap_pair, "connect", lambda *_a, **_k: Server(read_only=False))
    monkeypatch.setattr(otap_pair, "inactive_services", lambda _services: ["otap-uploads.service"])
    otap_pair.record("since-services", str(int(clock.now - 3600)))
    assert otap_pair.check() == 0
    assert any("not running" in subject for subject in node.mails), node.mails


def test_the_check_s_life_counts_from_when_its_process_started(tmp_path):
    """keepalived's timeout runs from the fork, Python's start included (slow on a loaded host): the
    check's clock starts no later than its process did, and counts what a fixed guess would not."""
    probe = tmp_path / "probe.py"
    probe.write_text(f"import time\nbegan = time.monotonic()\nimport importlib.util\n"
                     f"spec = importlib.util.spec_from_file_location('p', {str(PATH)!r})\n"
                     "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n"
                     "time.sleep(0.5)\nprint(module.process_started(), began, time.monotonic())\n")
    forked = time.monotonic()
    started, began, now = map(float, subprocess.run(["python3", str(probe)], capture_output=True, text=True,
                                                    check=True).stdout.split())
    assert forked - 0.5 <= started <= began  # from /proc, before its first line ran
    assert now - started >= 0.5  # a guess of Python's start, taken after the sleep, would say 0.3


def test_where_proc_cannot_say_the_check_assumes_python_s_usual_start(monkeypatch):
    def unreadable(*_a, **_k):
        raise PermissionError(errno.EACCES, "no /proc here")

    monkeypatch.setattr(otap_pair, "open", unreadable, raising=False)
    assert otap_pair.process_started() == pytest.approx(time.monotonic() - otap_pair.PYTHON_START, abs=0.05)
