#!/usr/bin/python3
"""keepalived's hooks on a node of the production pair (installed by otap.street.keepalived).

  otap-pair check                       vrrp_script: is this node fit to hold the VIP?
  otap-pair notify TYPE NAME STATE PRIO  notify: keep the database role in step with the VIP
  otap-pair mail SUBJECT [CONDITION] < BODY
                                        mail operations (the hooks start it, and do not wait)
  otap-pair decide-again                the VIP holder whose database stayed read-only decides
                                        again, by the same rules (the check starts it)
  otap-pair pause-decisions             an operator opens the other node: no promotion here (once
                                        any decision under way has ended) until resume-decisions
                                        or 10 minutes; prints this node's read_only (1: it did
                                        not promote)
  otap-pair resume-decisions            deciding again allowed again
  otap-pair take-over --wait SECONDS    a planned switchover, on the standby: promote once the
                                        primary has turned read-only, at its last position
  otap-pair hand-over --to ADDRESS --vip ADDRESS [--drain SECONDS] [--push COMMAND]
                                        a planned switchover, on the primary: hold the site's new
                                        connections, let those in flight end, bring the uploads
                                        level, turn read-only, and once the standby at ADDRESS is
                                        the writable primary, stop keepalived (the VIP moves)
  otap-pair release-hold                let new connections to the VIP in again

The VIP and the writable database stay on the same node. On MASTER a read-only standby is
promoted, but only when no acknowledged write can be lost: its old primary is reachable and
read-only (then the standby first applies everything up to the primary's position), or it is
unreachable, the standby's replication still runs (its receiver is reconnecting, not stopped)
and it was caught up moments before (then it applies all it received). Otherwise it stays
read-only and says why (syslog and STATE_DIR/promotion): the site then serves but refuses writes.
While it holds the VIP so, its check has it decide again every `retry_after` seconds, by the
same rules: a primary whose MariaDB crashed and came back read-only (systemd restarts it) is then
caught up to and replaced, and the witness is asked again when it could not be. A refusal that
lasts is the operator's to settle (failover.yml). One decision runs at a time. A node that loses the
VIP (FAULT, STOP, or MASTER -> BACKUP) makes its database read-only. MariaDB's configuration
starts every node read-only, so a failed primary that returns never becomes a second primary.

A third vote, the witness (`[witness]`, on the store host), tells a dead node from a cut link:
it answers whether it reaches a node. A node that cannot reach its peer's database asks it. A
standby never takes the VIP nor promotes itself while the witness reaches the primary (the link
between the nodes is cut, the primary lives) or cannot be asked (this node may be the one cut
off); a primary that reaches neither its peer nor the witness turns read-only at once, in the
check that finds it so (it fences itself; a database that cannot be turned read-only within a
second is killed, and systemd starts it again read-only), and gives up the VIP. A standby whose primary does not
answer promotes itself only once `fence_after` seconds have passed since it last reached that
primary: by then a primary that is cut off, not dead, has fenced itself. So at most one database
of the pair takes writes, whatever the network does.

The services that go with the primary role (`[primary] services`: the uploads' replication to the
standby) run exactly where the writable database is: started when this node is, or becomes, the
primary, stopped when it refuses to promote or gives up the VIP.

Every automatic decision reaches operations by mail (`[mail]`): a promotion, a refusal to
promote, a demotion, a failed hook; and, once they have lasted `report_after` seconds, a stray
node (read-only, replicating from nobody, with data of its own), a primary whose services
are not running (the uploads then reach only it), and a primary whose uploads do not reach the
standby by its own measure (`[primary] uploads_state`: a lag beyond `uploads_lag_max` seconds, a
standby it has not been able to compare with for as long, or no measure that still stands). A mail is sent by a process of its own:
keepalived's hooks never wait on a mail server.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import errno
import fcntl
import json
import os
import shlex
import signal
import smtplib
import socket
import subprocess
import sys
import syslog
import threading
import time
import urllib.request
from email.message import EmailMessage

STATE_DIR = "/var/lib/keepalived-otap"
SETTINGS = "/etc/keepalived/otap-pair.cnf"
SOCKET = "/run/mysqld/mysqld.sock"
DATABASE_SERVICE = "mariadb.service"
DATABASE_PID, DATABASE_PROGRAMS = "/run/mysqld/mysqld.pid", ("mariadbd", "mysqld")
# MariaDB's ER_NO_SUCH_THREAD: the connection to close had ended by itself.
UNKNOWN_THREAD = 1094
# The client's errors for a server that does not answer at all (CR_CONNECTION_ERROR,
# CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST); any other error is an answer.
NO_ANSWER = (2002, 2003, 2006, 2013)
# ... of which those that mean the server does not listen at all (it takes no writes then).
NOT_LISTENING = (2002, 2003)
# Turning a database read-only takes the read lock in two steps (running writes, then commits under
# way), each of which may wait lock_wait_timeout: the statement's own time bounds the whole.
READ_ONLY = "SET STATEMENT max_statement_time = 1 FOR SET GLOBAL read_only = 1"
# The least time worth asking the witness in (a primary's hello: an SSH login, under load), and how
# soon a question whose ssh failed (refused, no route) is put again.
WITNESS_MIN, ASK_AGAIN = 1.0, 0.2
# The check's life: keepalived ends it this many seconds past its budget (keepalived.conf.j2's
# timeout), counted from when it started the process (process_started(): Python's start, slow under
# load, counts; PYTHON_START where the system cannot say); the most a fence takes after the
# witness's answer (closing clients, a second for the read lock, half a second to kill, a margin),
# and a kill alone.
CHECK_GRACE, PYTHON_START, FENCE_TIME, KILL_TIME = 2, 0.3, 1.8, 0.7
# The fence's one wait for the read lock (READ_ONLY's max_statement_time).
LOCK_TRY = 1.0
# What is kept, after reading this node's own database, for the witness's last word before a kill.
READ_MARGIN = 0.2
# A check in which a peer's knock was answered (a passing check) ends this long before keepalived
# starts the next, leaving its web tier STEP_MIN at least. keepalived 2.3.3 and later skip a start
# while the last check still runs: a passing check that ran into the next interval would put the
# next one off by a whole interval, and with it the fence of a primary cut off just after its knock,
# past the `fence_after` the standby waits (Debian 12's keepalived 2.2.7 starts one each interval).
# The least time worth starting a step of the check in (its web tier, deciding again, a report).
TICK_MARGIN, STEP_MIN = 0.2, 0.1
# Markers in STATE_DIR: replication last seen healthy, the peer last reached, this node fenced,
# the last decision about the database's role ended; the lock that one decision holds at a time.
REPLICA_HEALTHY, PEER_SEEN, FENCED, DECIDED = "replica-healthy", "peer-seen", "fenced", "decided"
DECIDING = "deciding.lock"
# How long a measure of the uploads' replication stands when it does not say (older records).
UPLOADS_FRESH = 80
# Marker of an operator's pause of deciding again, and how long it lasts at most (a playbook cut
# off midway leaves it behind).
PAUSED, PAUSE_FOR = "decisions-paused", 600


def settings(path: str = SETTINGS) -> dict:
    parser = configparser.ConfigParser()
    parser.read(path)
    return {
        "user": parser.get("peer", "user", fallback=""),
        "password": parser.get("peer", "password", fallback=""),
        "check_url": parser.get("check", "url", fallback="http://127.0.0.1/otap-fpm-ping"),
        "check_budget": parser.getfloat("check", "budget", fallback=2.0),
        "max_lag": parser.getint("promotion", "max_lag", fallback=5),
        "healthy_within": parser.getint("promotion", "healthy_within", fallback=20),
        "catch_up_timeout": parser.getint("promotion", "catch_up_timeout", fallback=30),
        "peer_wait": parser.getint("promotion", "peer_wait", fallback=10),
        "retry_after": parser.getint("promotion", "retry_after", fallback=5),
        "fence_after": parser.getfloat("promotion", "fence_after", fallback=8.0),
        "services": parser.get("primary", "services", fallback="").split(),
        "uploads_state": parser.get("primary", "uploads_state", fallback=""),
        "uploads_lag_max": parser.getint("primary", "uploads_lag_max", fallback=60),
        "peers": parser.get("pair", "peers", fallback="").split(),
        "vip": parser.get("pair", "vip", fallback=""),
        "peer_port": parser.getint("pair", "port", fallback=80),
        "witness": parser.get("witness", "host", fallback=""),
        "witness_ssh": parser.get("witness", "ssh_config", fallback=""),
        "name": parser.get("mail", "name", fallback=socket.gethostname()),
        "mail_host": parser.get("mail", "host", fallback=""),
        "mail_port": parser.getint("mail", "port", fallback=25),
        "mail_from": parser.get("mail", "from", fallback=f"otap-pair@{socket.gethostname()}"),
        "mail_to": parser.get("mail", "to", fallback="").replace(",", " ").split(),
        "report_after": parser.getint("mail", "report_after", fallback=30),
    }


def connect(host: str | None = None, user: str = "root", password: str = "", timeout: float | None = None):
    """A connection to a peer's server (`host`), whose reads wait 5 s at most (one that hangs after
    the handshake must not hang the hook), or to this node's, whose reads wait `timeout` (None: as
    long as they take; a promotion waits for the relay log)."""
    import pymysql

    options = {"autocommit": True, "cursorclass": pymysql.cursors.DictCursor}
    if host:
        return pymysql.connect(host=host, user=user, password=password, connect_timeout=2, read_timeout=5,
                               write_timeout=5, **options)
    return pymysql.connect(unix_socket=SOCKET, user=user, connect_timeout=timeout or 2, read_timeout=timeout,
                           write_timeout=timeout, **options)


def query(connection, sql: str, *args) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(sql, args or None)
        return cursor.fetchone() or {}


def local_state(connection) -> dict:
    state = query(connection, "SELECT @@global.read_only AS read_only, @@global.gtid_binlog_pos AS binlog_pos")
    replica = query(connection, "SHOW SLAVE STATUS")
    return {
        "read_only": bool(int(state["read_only"])),
        "replica_of": replica.get("Master_Host") or None,
        "io_running": replica.get("Slave_IO_Running", ""),
        "sql_running": replica.get("Slave_SQL_Running", ""),
        "lag": replica.get("Seconds_Behind_Master"),
        "received": replica.get("Gtid_IO_Pos", ""),
        "binlog_pos": state.get("binlog_pos") or "",
    }


def replicating_healthily(local: dict, max_lag: int) -> bool:
    return (local["io_running"] == "Yes" and local["sql_running"] == "Yes"
            and local["lag"] is not None and int(local["lag"]) <= max_lag)


def decide(local: dict, peer: dict | None, healthy_age: float | None, healthy_within: int) -> tuple[str, str, str]:
    """What to do on becoming MASTER: (action, GTID position to reach first, reason).

    `peer` is the old primary's {read_only, binlog_pos}, or None when it does not answer.
    `healthy_age` is how many seconds ago replication was last seen healthy (None: never).
    """
    if not local["read_only"]:
        return "keep", "", "this node's database is already the writable primary"
    if not local["replica_of"]:
        return ("refuse", "", "this node's database is read-only and replicates from nobody (a failed or "
                "diverged node): it never promotes itself; rebuild it with failover.yml -e otap_action=reseed")
    if peer is not None:
        if not peer["read_only"]:
            return ("refuse", "", f"the primary {local['replica_of']} is alive and still writable: promoting "
                    "would make two primaries; run failover.yml -e otap_action=switchover")
        return "promote", peer["binlog_pos"], f"the primary {local['replica_of']} is read-only"
    if local["io_running"] not in ("Yes", "Connecting") or local["sql_running"] != "Yes":
        return ("refuse", "", f"the primary {local['replica_of']} is gone and this node's replication is stopped "
                f"(io={local['io_running'] or 'No'}, sql={local['sql_running'] or 'No'}): it may lack writes the "
                "primary acknowledged; decide with failover.yml -e otap_action=status")
    if healthy_age is None or healthy_age > healthy_within:
        seen = "never" if healthy_age is None else f"{healthy_age:.0f}s ago"
        return ("refuse", "", f"the primary {local['replica_of']} is gone and replication was last healthy "
                f"{seen} (lagging or stopped): promoting could lose writes it acknowledged; decide with "
                "failover.yml -e otap_action=status")
    return ("promote", local["received"],
            f"the primary {local['replica_of']} is gone; replication was healthy {healthy_age:.0f}s before")


def knock(address: str, port: int, timeout: float = 0.5) -> str:
    """'open' when `address` accepts a TCP connection on `port` within `timeout` seconds, 'refused'
    when its host says no (the host is up), 'silent' when nothing answers (dead, or cut off).
    Knock at the site's port, never MariaDB's: a connection closed before its handshake counts
    against the host's max_connect_errors there, and a blocked standby could not replicate any more."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "silent"


class Question:
    """A question to the witness over SSH, in a process of its own; a thread of its own reads the
    answer, and puts the question again every ASK_AGAIN seconds while ssh itself fails (exit 255:
    refused for a moment, no route), until it is answered or dropped: a refusal for a moment is
    answered then, and the witness's time (`waited`) runs from the first ssh on. `ended` says when
    the witness answered (words, or a refusal of its own). Without a thread to spare, the answer is
    read when it is asked for, and the question is not put again."""

    def __init__(self, config: dict, request: str):
        self.argv = ["ssh", "-F", config["witness_ssh"], config["witness"], request]
        self.ended, self.words, self.dropped, self.lock = None, None, False, threading.Lock()
        self.process = self.start()
        self.since = time.monotonic()  # once ssh runs: what starting it took is not the witness's time
        self.reader = threading.Thread(target=self.ask, daemon=True)
        try:
            self.reader.start()
        except RuntimeError:  # no thread to spare: asked in answer()
            self.reader = None

    def start(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)

    def ask(self, deadline: float | None = None) -> None:
        """Read the answer, putting the question again every ASK_AGAIN seconds while ssh itself fails
        (exit 255), until the witness answers, the question is dropped, or `deadline` (None: the
        reader thread's, until then); `ended` then says when."""
        try:
            while True:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.01)
                try:
                    answer = self.process.communicate(timeout=left)[0]
                except subprocess.TimeoutExpired:
                    self.drop()
                    return
                if self.note(answer, self.process.returncode):
                    return
                if deadline is not None and time.monotonic() + ASK_AGAIN >= deadline:
                    return
                time.sleep(ASK_AGAIN)
                with self.lock:
                    if self.dropped:
                        return
                    self.process = self.start()
        except Exception:  # noqa: BLE001 - ssh could not be started again: not asked (failed_early)
            return
        finally:
            if self.ended is None:
                self.ended = time.monotonic()

    def note(self, answer: bytes, returncode: int) -> bool:
        """Keep the answer; whether the witness gave one (ssh's own failure, 255, is none)."""
        if returncode == 255:
            return False
        if returncode == 0:
            self.words = answer.decode("utf-8", "replace").split()
        self.ended = time.monotonic()
        return True

    def answer(self, timeout: float) -> list[str] | None:
        """The words of the answer, waited for `timeout` seconds more at most; None without one."""
        if self.reader is None:
            self.ask(time.monotonic() + max(timeout, 0.01))
            return self.words
        self.reader.join(max(timeout, 0.01))
        if self.ended is None:
            self.drop()
            self.reader.join(0.05)  # an answer complete as ssh was ended still counts
        return self.words

    def waited(self) -> float:
        """Seconds the witness has had to answer: until it did (or the question failed), or now."""
        return (self.ended if self.ended is not None else time.monotonic()) - self.since

    def failed_early(self) -> bool:
        """Ended without an answer before the witness had WITNESS_MIN (it could not be put again);
        without a thread, ssh has failed and nobody has put it again yet: none of its time counts."""
        if self.reader is None and self.ended is None:
            return self.process.poll() == 255
        return self.ended is not None and self.words is None and self.waited() < WITNESS_MIN

    def drop(self) -> None:
        with self.lock:
            self.dropped = True
            process = self.process
        if process.poll() is None:
            process.kill()
            process.wait()


# The questions a check put to the witness early (ask_early), by request, until they are answered.
EARLY: dict[str, Question] = {}


def ask_early(config: dict) -> None:
    """No peer answers its knock, so this node may be the one cut off: ask the witness at once, as
    a primary ('hello') and as a standby ('peer'), before reading this node's own database, whose
    role decides which answer counts. The answers come while that is read, however long it takes
    (a server that hangs on new connections), and leave the check its time for a fence."""
    for request in ("hello", f"peer {config['peers'][0]}"):
        try:
            EARLY[request] = Question(config, request)
        except Exception:  # noqa: BLE001 - not asked early: asked when its answer is needed
            continue


def early(request: str) -> Question | None:
    """The early question `request`, if one is under way or answered (one that failed before the
    witness had its time does not count: it is asked again)."""
    question = EARLY.get(request)
    return None if question is None or question.failed_early() else question


def witness_time(request: str, timeout: float) -> float:
    """Seconds the witness will have had to answer `request` when asked with `timeout` more."""
    question = early(request)
    return timeout + (question.waited() if question else 0.0)


def drop_early() -> None:
    for question in EARLY.values():
        question.drop()
    EARLY.clear()


def ask_witness(config: dict, request: str, timeout: float) -> list[str] | None:
    """The words of the witness's answer to `request` over SSH (an early question's, if one counts),
    or None when it cannot be asked within `timeout` seconds more (no witness, no time left, no
    connection, a refusal)."""
    if not config["witness"]:
        return None
    question = early(request)
    EARLY.pop(request, None)
    if question is None:
        if timeout <= 0:
            return None
        try:
            question = Question(config, request)
        except Exception:  # noqa: BLE001 - not asked
            return None
    return question.answer(timeout)


def witness_says(config: dict, address: str, timeout: float = 4.0) -> tuple[str | None, float | None]:
    """The witness's word on `address`: 'alive', 'dead', or None when it cannot be asked within
    `timeout` seconds; and with 'dead', how many seconds ago that node last asked the witness
    itself (None: not since the witness started keeping count)."""
    words = ask_witness(config, f"peer {address}", timeout)
    if not words or words[0] not in ("alive", "dead"):
        return None, None
    try:
        asked_ago = float(words[1]) if words[0] == "dead" and len(words) == 2 else None
    except ValueError:
        return None, None
    return words[0], asked_ago


def witness_hears(config: dict, timeout: float) -> bool:
    """Whether the witness answers this node's 'hello' within `timeout` seconds, and so has noted
    that this node asked (a standby then waits for this node to fence itself). Unlike 'peer', the
    answer waits on no knock of the witness's own at a silent standby."""
    return ask_witness(config, "hello", timeout) == ["heard"]


def witness_allows_promotion(config: dict, primary: str) -> tuple[bool, str]:
    """A standby whose primary does not answer promotes itself only on the witness's word that
    the primary is dead, and only once nobody has heard of the primary for `fence_after` seconds
    (this node's knocks, the primary's own questions to the witness): a primary that is merely
    cut off has fenced itself by then (check(): its budget, a fence, within keepalived's timeout)."""
    if not config["witness"]:
        return True, ""
    heard = modified(PEER_SEEN) or time.time()
    deadline = time.monotonic() + 3 * config["fence_after"]
    while True:
        time.sleep(fence_wait(heard, time.time(), config["fence_after"]))
        word, asked_ago = witness_says(config, primary)
        if word == "alive":
            return False, (f"the witness {config['witness']} still reaches {primary}: the link between the nodes "
                           "is cut, the primary lives; promoting would make two primaries")
        if word is None:
            return False, (f"the witness {config['witness']} cannot be asked: this node may be the one cut off; "
                           "promoting could make two primaries")
        heard = max(heard, modified(PEER_SEEN) or heard)  # this node's own checks go on knocking
        if asked_ago is not None:
            heard = max(heard, time.time() - asked_ago)
        if fence_wait(heard, time.time(), config["fence_after"]) == 0:
            return True, (f"the witness {config['witness']} cannot reach {primary} either, and nobody has heard "
                          f"of it for {config['fence_after']:g}s (had it been cut off, it has fenced itself)")
        if time.monotonic() >= deadline:
            return False, (f"{primary} kept asking the witness {config['witness']} while it could not reach it: "
                           "it may still take writes; promoting could make two primaries")


def fit_by_the_network(config: dict, read_only: bool, knocks: dict[str, str], fenced: bool = False,
                       ask_within: float = 4.0) -> bool:
    """Whether the network lets this node hold the VIP (see the module's text): it reaches a peer
    (`knocks`: each peer's answer, see knock()), or, as the primary, the witness; or, as a standby,
    the witness says the primary is dead. A node that fenced itself hands the VIP to a peer that
    answers: that peer can then read its position and catch up before it promotes (rule 2).
    The witness gets `ask_within` seconds to answer."""
    if fenced and "open" in knocks.values():
        return False
    if not config["witness"] or not config["peers"] or "open" in knocks.values():
        return True
    if not read_only:  # the primary needs only to reach the witness, which notes that it asked
        return witness_hears(config, ask_within)
    word = witness_says(config, config["peers"][0], ask_within)[0]
    if word == "alive":  # heard of, through the witness: a lost knock does not start the wait early
        touch(PEER_SEEN)
    return word == "dead"


def fence_wait(heard: float, now: float, fence_after: float) -> float:
    """Seconds still to wait until `fence_after` seconds after the primary was last heard of."""
    return max(0.0, min(fence_after, heard + fence_after - now))


def release_silent_standbys(connection, knocks: dict[str, str]) -> list[str]:
    """On the primary, when every peer is silent (dead, or cut off): close the replication
    connections (the pair's only standby is the silent peer). Such a connection stays open,
    unanswered, for as long as TCP retries: a quarter of an hour when the standby's firewall drops
    what arrives for a connection it has closed. When the standby comes back and connects again,
    MariaDB 10.11 replaces the old connection while holding its list of threads, waiting for the
    semi-sync acknowledgement reader, which waits on that silent connection: every new client,
    the site included, hangs until TCP gives up. Closed here, the standby's return is a plain new
    connection. A peer that answers, or refuses (up, its site down), keeps its connection.
    MariaDB shows a replica by its resolved name, so the connections are not matched by address."""
    if not knocks or any(answer != "silent" for answer in knocks.values()):
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT ID AS id, HOST AS host FROM information_schema.PROCESSLIST "
                       "WHERE COMMAND = 'Binlog Dump'")
        dumps = cursor.fetchall()
        closed = []
        for dump in dumps:
            try:
                cursor.execute("KILL CONNECTION %s", (dump["id"],))
            except Exception as error:  # noqa: BLE001 - only "it ended meanwhile" (1094) is let pass
                if not error.args or error.args[0] != UNKNOWN_THREAD:
                    raise
                continue
            closed.append(dump["host"])
    return closed


def peer_state(local: dict, config: dict, wait: float, every: float = 0.5) -> dict | None:
    """The old primary's state, waiting up to `wait` seconds for it to turn read-only (asked
    again every `every` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            peer = connect(local["replica_of"], config["user"], config["password"])
        except Exception as error:  # noqa: BLE001 - told apart below
            if error.args and error.args[0] in NO_ANSWER:
                return None
            raise RuntimeError(f"the primary {local['replica_of']} answers, with an error ({error}): "
                               "it may still take writes, not promoted") from error
        with peer:
            state = query(peer, "SELECT @@global.read_only AS read_only, @@global.gtid_binlog_pos AS binlog_pos")
        state = {"read_only": bool(int(state["read_only"])), "binlog_pos": state["binlog_pos"]}
        if state["read_only"] or time.monotonic() >= deadline:
            return state
        time.sleep(every)


def promote(connection, position: str, timeout: int, holding=None) -> tuple[bool, str]:
    """Apply the primary's writes up to `position`, then open writes; not if `holding()` (still
    the VIP holder?) says no once caught up."""
    if position:
        waited = query(connection, "SELECT MASTER_GTID_WAIT(%s, %s) AS result", position, timeout)
        if int(waited["result"]) != 0:
            return False, f"did not apply the primary's writes up to {position} within {timeout}s: not promoted"
    if holding is not None and not holding():
        return False, "this node gave up the VIP while it decided: not promoted"
    with connection.cursor() as cursor:
        cursor.execute("STOP SLAVE SQL_THREAD")
        cursor.execute("SET GLOBAL read_only = 0")
    promoted = f"promoted to primary at {position or 'its own position'}"
    # Writes are open; the rest tidies up. Stopping the receiver first tries to reach the old
    # primary to end its connection there: two seconds when that primary is gone. Until then the
    # receiver can at most fetch into the relay log, which nothing applies and the reset drops.
    try:
        tidy(connection)
    except Exception as error:  # noqa: BLE001 - promoted all the same; deciding again finishes it
        return True, f"{promoted}, but its replication settings remain ({error}): run RESET SLAVE ALL on it"
    return True, promoted


def modified(name: str) -> float | None:
    """When marker `name` in STATE_DIR was last touched; None when it does not exist."""
    try:
        return os.stat(os.path.join(STATE_DIR, name)).st_mtime
    except OSError:
        return None


def touch(name: str) -> None:
    path = os.path.join(STATE_DIR, name)
    with open(path, "a", encoding="utf-8"):
        os.utime(path)


def record(name: str, text: str) -> None:
    path = os.path.join(STATE_DIR, name)
    with open(path + ".new", "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.replace(path + ".new", path)


def previous_state() -> str:
    try:
        with open(os.path.join(STATE_DIR, "state"), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def on_master(config: dict) -> str:
    with connect() as connection:
        local = local_state(connection)
        peer = None if not local["read_only"] or not local["replica_of"] else peer_state(local, config, config["peer_wait"])
        healthy = modified(REPLICA_HEALTHY)
        healthy_age = None if healthy is None else time.time() - healthy
        action, position, reason = decide(local, peer, healthy_age, config["healthy_within"])
        if action == "promote" and paused(time.time()):
            action, reason = "refuse", ("an operator is opening the other node (otap-pair pause-decisions): "
                                        "this node does not promote itself until that is done")
        if action == "promote" and peer is None:
            if knock(local["replica_of"], config["peer_port"]) == "open":
                # Not dead, not cut off: its host answers, its database does not (or not this node).
                allowed, word = False, (
                    f"the primary {local['replica_of']} answers at its site's port but its database does not: "
                    "its MariaDB is down or starting (it starts read-only), or shuts this node out; promoting "
                    f"could make two primaries. Asked again every {config['retry_after']}s while this node "
                    "holds the VIP: once that database answers read-only, this node catches up to it and promotes")
            else:
                allowed, word = witness_allows_promotion(config, local["replica_of"])
            if allowed:
                reason = f"{reason}; {word}" if word else reason
            else:
                action, reason = "refuse", word
        if action == "promote":
            promoted, outcome = promote(connection, position, config["catch_up_timeout"],
                                        holding=lambda: holds_vip(config))
            action, reason = ("promoted" if promoted else "refused"), f"{reason}; {outcome}"
    return f"{action}: {reason}"


@contextlib.contextmanager
def deciding(wait: bool = True):
    """Hold the one decision about the database's role (a notify's, or deciding again): yields
    whether this process holds it; without `wait`, False at once when another process does. A
    node that gives up the VIP so waits for a promotion under way, then turns read-only. A lock
    that cannot be taken at all (no STATE_DIR) holds up nobody who waits (turning read-only
    never waits on it), and deciding again does not run then."""
    try:
        lock = open(os.path.join(STATE_DIR, DECIDING), "a", encoding="utf-8")  # noqa: SIM115 - held below
    except OSError:
        yield wait
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                touch(DECIDED)


def should_decide_again(local: dict, holding: bool, decided: float | None, now: float, retry_after: int) -> bool:
    """Whether this node should decide again: it holds the VIP (`holding`: MASTER, and the VIP on
    its interface) but its database stayed a read-only standby, or was opened by a promotion that
    could not clear its replication settings; and the last decision ended `retry_after` seconds
    ago or more."""
    return (holding and bool(local["replica_of"])
            and (decided is None or now - decided >= retry_after))


def holds_vip(config: dict, timeout: float = 2.0) -> bool:
    """Whether this node holds the VIP: keepalived's state is MASTER (its notify wrote it) and the
    address is on an interface here (a state file left by a crash says MASTER too). A system too
    slow to say within `timeout` counts as not holding it (nothing is decided on it)."""
    if previous_state() != "MASTER":
        return False
    if not config.get("vip"):
        return True
    try:
        shown = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=timeout,
                               check=False)
    except subprocess.TimeoutExpired:
        return False
    return f" inet {config['vip']}/" in shown.stdout


def tidy(connection) -> str:
    """Clear what a promotion could not: the replication settings of a writable node."""
    with connection.cursor() as cursor:
        cursor.execute("STOP SLAVE")
        cursor.execute("RESET SLAVE ALL")
    return "cleared the replication settings a promotion had left behind"


def worth_saying(outcome: str) -> bool:
    """Whether a refusal on deciding again differs from the last one said (numbers aside)."""
    kind = "".join(c for c in outcome if not c.isdigit())
    path = os.path.join(STATE_DIR, "refusal")
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read().strip() == kind:
                return False
    except OSError:
        pass
    record("refusal", kind)
    return True


def decide_again() -> int:
    """The VIP holder whose database stayed read-only decides again (on_master's rules); one that
    a promotion opened but could not clear of its replication settings has them cleared. A
    promotion is told (record, mail, syslog); a refusal goes to syslog when it differs from the
    last one (the first was told when it was made)."""
    config = settings()
    syslog.openlog("otap-pair")
    with deciding(wait=False) as mine:
        if not mine or not holds_vip(config) or paused(time.time()):
            return 0
        try:
            with connect() as connection:
                if not local_state(connection)["read_only"]:
                    syslog.syslog(syslog.LOG_INFO | syslog.LOG_DAEMON, tidy(connection))
                    return 0
            outcome = on_master(config)
        except Exception as error:  # noqa: BLE001 - it stays as it is; asked again later
            outcome = f"refused: {error}"
        if not outcome.startswith("promoted"):
            if worth_saying(outcome):
                syslog.syslog(syslog.LOG_INFO | syslog.LOG_DAEMON, f"decided again: {outcome}")
            return 0
        outcome = f"{outcome} (decided again while holding the VIP)" + follow_role(config["services"], True)
        record("promotion", json.dumps({"time": int(time.time()), "state": "MASTER", "outcome": outcome}))
    tell(config, outcome)
    return 0


def paused(now: float) -> bool:
    """Whether an operator paused deciding again, less than PAUSE_FOR seconds ago."""
    since = modified(PAUSED)
    return since is not None and now - since < PAUSE_FOR


def pause_decisions() -> int:
    """An operator is about to open the other node's database (a primary that came back after
    a crash, which this node still follows): wait for a decision under way, pause deciding again,
    and print this node's read_only. Printed 1, this node did not promote itself, and will not
    until resumed (nor when keepalived hands it the VIP meanwhile): opening the other node then
    makes one writer. A pause left behind by a run cut off midway ends after PAUSE_FOR seconds."""
    with deciding():
        touch(PAUSED)
        with connect() as connection:
            print(int(local_state(connection)["read_only"]))
    return 0


def resume_decisions() -> int:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(STATE_DIR, PAUSED))
    return 0


def start_deciding_again() -> None:
    """decide-again in a process of its own: the check that starts it does not wait for it."""
    subprocess.Popen([sys.executable, os.path.abspath(__file__), "decide-again"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def on_leaving() -> str:
    try:
        connection = connect(timeout=5)
    except Exception as error:  # noqa: BLE001 - judged below
        if error_code(error) is None or not_listening(error):  # not the server's doing; or it takes no writes
            return f"kept: the database cannot be reached ({error}); it starts read-only"
        # It answers (too many connections) or hangs: it may take writes on the connections it has.
        return f"demoted: this node gave up the VIP; its database could not be read ({error}), " + stop_database()
    with connection:
        try:
            if int(query(connection, "SELECT @@global.read_only AS read_only")["read_only"]):
                return "kept: the database was already read-only"
        except Exception:  # noqa: BLE001 - unread, it may be writable: turned read-only below, or stopped
            pass
        if turn_read_only(connection, tries=2):
            return "demoted: this node gave up the VIP, its database is now read-only"
    return "demoted: this node gave up the VIP; its database did not turn read-only, " + stop_database()


def turn_read_only(connection, tries: int, close_first: bool = False) -> bool:
    """SET GLOBAL read_only, waiting a second at most per try for the read lock (a write under way
    holds it), the clients closed before every try but the first (and the first too with
    `close_first`); whether it is set."""
    for attempt in range(tries):
        try:
            query(connection, "SET SESSION lock_wait_timeout = 1")
            if attempt or close_first:
                close_clients(connection)
            query(connection, READ_ONLY)
            return True
        except Exception:  # noqa: BLE001 - whatever keeps it writable, the caller stops it instead
            continue
    return False


def stop_database() -> str:
    """A database that must take no more writes and could not be turned read-only (a rollback
    or a client that keeps the read lock from it) is killed: it takes nothing from that moment,
    and systemd starts it again (Restart=on-abnormal), read-only as every node starts
    (60-otap.cnf). Committed transactions survive, as in any crash. What was done."""
    try:
        with open(DATABASE_PID, encoding="ascii") as pid_file:
            pid = int(pid_file.read().strip())
        with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
            if comm.read().strip() in DATABASE_PROGRAMS:  # not a pid a stale file names, reused since
                os.kill(pid, signal.SIGKILL)  # at once, whatever systemd is busy with
                return f"so {DATABASE_SERVICE} was killed (it starts again read-only)"
    except (OSError, ValueError):
        pass  # no such file or process: systemd knows its main process
    try:
        done = subprocess.run(["systemctl", "kill", "--signal=KILL", DATABASE_SERVICE],
                              capture_output=True, text=True, check=False, timeout=0.5)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"cannot stop {DATABASE_SERVICE}, which may still take writes: {error}") from error
    if done.returncode != 0:
        raise RuntimeError(f"cannot stop {DATABASE_SERVICE}, which may still take writes: {done.stderr.strip()}")
    return f"so {DATABASE_SERVICE} was killed (it starts again read-only)"


def holds_primary(outcome: str) -> bool:
    """Whether this node's database is the writable primary after a notify's `outcome`."""
    return outcome.startswith(("promoted:", "keep:"))


def follow_role(services: list[str], primary: bool) -> str:
    """Start the primary's services on the primary, stop them elsewhere; what was done, or ''."""
    if not services:
        return ""
    verb = "start" if primary else "stop"
    try:
        done = subprocess.run(["systemctl", verb, "--no-block", *services], capture_output=True, text=True,
                              check=False, timeout=0.5)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"; failed to {verb} {' '.join(services)}: {error}"
    if done.returncode != 0:
        return f"; failed to {verb} {' '.join(services)}: {done.stderr.strip()}"
    return f"; {verb} {' '.join(services)}"


def decision_mail(name: str, outcome: str) -> tuple[str, str] | None:
    """The mail about a notify's outcome, (subject, body); None when nothing was decided."""
    subjects = {
        "promoted": f"{name} promoted itself to primary of the production pair",
        "refused": f"{name} holds the VIP but refused to promote its database: the site takes no writes",
        "refuse": f"{name} holds the VIP but refused to promote its database: the site takes no writes",
        "demoted": f"{name} gave up the primary role of the production pair",
        "fenced": f"{name} reaches neither its peer nor the witness: its database takes no more writes",
        "failed": f"{name}: the failover hook failed",
    }
    subject = subjects.get(outcome.split(":", 1)[0])
    if subject is None:
        return None
    return subject, (f"{name}: {outcome}\n\nThe pair as it is now: "
                     "ansible-playbook playbooks/failover.yml -e otap_action=status\n")


def uploads_behind(config: dict, now: float) -> str | None:
    """What is wrong with the uploads' replication by the primary's own measure of it (role
    pair_uploads' timer writes `[primary] uploads_state`): a file waiting longer than
    `uploads_lag_max` seconds, a standby it has not been able to compare with for as long, or no
    measure that still stands (the timer runs with lsyncd, so it stopped or fails). None when all
    is well. Only asked on a primary whose services run (their stop is a condition of its own)."""
    if not config.get("uploads_state"):
        return None
    try:
        with open(config["uploads_state"], encoding="utf-8") as handle:
            measured = json.load(handle)
        age = now - float(measured["time"])
        stands = age <= float(measured.get("fresh_for", UPLOADS_FRESH))
        error, lag = measured.get("error"), measured.get("lag_seconds")
        failed = bool(error) or measured.get("differences") is None
        failing_for = now - float(measured.get("error_since", measured["time"])) if failed else 0.0
        lagging = lag is not None and float(lag) > config["uploads_lag_max"]
    except FileNotFoundError:
        return f"no measure of them is there ({config['uploads_state']}: is otap-uploads-lag.timer running?)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return f"its measure of them cannot be read ({config['uploads_state']}: {error})"
    if not stands:
        return f"its last measure of them is {age:.0f} s old (is otap-uploads-lag.timer running?)"
    if failed:
        if failing_for < config["uploads_lag_max"]:
            return None  # a standby rebooting in an OS update is back within this
        return (f"it has not been able to compare them with the standby's for {failing_for:.0f} s: "
                f"{error or 'the measure failed without a word'}")
    if lagging:
        return (f"{measured['differences']} differences are not on the standby, the oldest saved {lag} s ago "
                f"(more than {config['uploads_lag_max']} s)")
    return None


def condition_mails(config: dict, local: dict, inactive: list[str],
                    behind: str | None = None) -> dict[str, tuple[str, str] | None]:
    """The lasting conditions check() watches: name to its mail while it holds, else None.
    `behind`: what uploads_behind() found wrong with the uploads' replication."""
    name = config["name"]
    stray = local["read_only"] and not local["replica_of"] and bool(local.get("binlog_pos"))
    stopped = not local["read_only"] and bool(inactive)
    behind = behind if not local["read_only"] and not inactive else None
    return {
        "stray": (f"{name} is a stray node: read-only, replicating from nobody", (
            f"{name}'s database is read-only, replicates from nobody and has data of its own: a primary "
            "that failed and came back, or a node that was cut off. It takes no writes and holds no VIP "
            "while it is so. Rebuild it as the standby with failover.yml -e otap_action=reseed (what only "
            "it holds is kept on the store first, and the reseed asks for -e otap_confirm=NODE).\n"))
        if stray else None,
        "services": (f"{name} is the primary, but {' '.join(inactive)} is not running", (
            f"{name} holds the primary role, but {' '.join(inactive)} is not running: uploads saved now "
            f"reach only {name}. See journalctl -u {inactive[0] if inactive else ''}.\n"))
        if stopped else None,
        "uploads": (f"{name}'s uploads are not reaching the standby", (
            f"{name} holds the primary role and its uploads' replication runs, but {behind}. Uploads saved "
            f"now may reach only {name}: see failover.yml -e otap_action=status, and on {name} journalctl -u "
            "otap-uploads and /var/log/otap-uploads/lsyncd.log (a standby's folder the web user cannot write, a "
            "full disk, a standby that refuses or cannot be reached).\n"))
        if behind else None,
    }


def lasting(name: str, holds: bool, after: int, now: float) -> bool:
    """True once, when condition `name` has held for `after` seconds; forgotten when it ends."""
    since, told = (os.path.join(STATE_DIR, f"{word}-{name}") for word in ("since", "told"))
    if not holds:
        for path in (since, told):
            if os.path.exists(path):
                os.unlink(path)
        return False
    if not os.path.exists(since):
        record(f"since-{name}", str(int(now)))
    with open(since, encoding="utf-8") as handle:
        started = float(handle.read().strip() or now)
    if os.path.exists(told) or now - started < after:
        return False
    record(f"told-{name}", str(int(now)))
    return True


def untold(name: str, now: float) -> None:
    """A condition's mail did not go out: ask again once it has lasted another while."""
    told = os.path.join(STATE_DIR, f"told-{name}")
    if os.path.exists(told):
        os.unlink(told)
        record(f"since-{name}", str(int(now)))


def send(config: dict, subject: str, body: str) -> str:
    """Mail operations now; what became of it."""
    if not config["mail_host"] or not config["mail_to"]:
        return "no mail: no [mail] host or recipients"
    try:
        message = EmailMessage()
        message["From"], message["To"] = config["mail_from"], ", ".join(config["mail_to"])
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(config["mail_host"], config["mail_port"], timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, ValueError, smtplib.SMTPException) as error:
        return f"mail not sent: {error}"
    return f"mailed {', '.join(config['mail_to'])}"


def send_later(subject: str, body: str, condition: str = "") -> None:
    """Mail in a process of its own, so that no hook waits on the mail server. A lasting
    condition's mail that does not go out is tried again (untold)."""
    command = [sys.executable, os.path.abspath(__file__), "mail", subject] + ([condition] if condition else [])
    sender = subprocess.Popen(command, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True)
    sender.stdin.write(body)
    sender.stdin.close()


def mail(subject: str, condition: str = "") -> int:
    result = send(settings(), subject, sys.stdin.read())
    if condition and not result.startswith("mailed"):
        untold(condition, time.time())
        result += "; asked again when it has lasted another while"
    syslog.openlog("otap-pair")
    syslog.syslog((syslog.LOG_INFO if result.startswith("mailed") else syslog.LOG_WARNING) | syslog.LOG_DAEMON,
                  f"{subject}: {result}")
    return 0


def inactive_services(services: list[str]) -> list[str]:
    """The services that are not active; a systemd too slow to say counts as active (no alarm)."""
    inactive = []
    for service in services:
        try:
            if subprocess.run(["systemctl", "is-active", "--quiet", service], check=False,
                              timeout=1).returncode != 0:
                inactive.append(service)
        except subprocess.TimeoutExpired:
            continue
    return inactive


def notify(state: str) -> int:
    config = settings()
    before = previous_state()
    record("state", state)
    syslog.openlog("otap-pair")
    syslog.syslog(f"VRRP state {before or 'none'} -> {state}")
    if state != "MASTER" and state not in ("FAULT", "STOP") and not (state == "BACKUP" and before == "MASTER"):
        return 0
    try:
        with deciding():
            outcome = decide_on(config, state)
    except Exception as error:  # noqa: BLE001 - keepalived must hear of every failure, then carry on
        outcome = f"failed: {error}"
    tell(config, outcome)
    return 0


def tell(config: dict, outcome: str) -> None:
    """A decision's outcome to operations (a mail, when it decided something) and to syslog."""
    decided = decision_mail(config["name"], outcome)
    if decided:
        try:
            send_later(*decided)
        except OSError as error:
            outcome += f"; cannot mail operations: {error}"
    syslog.syslog((syslog.LOG_WARNING if outcome.startswith(("refused", "refuse", "failed")) else syslog.LOG_INFO)
                  | syslog.LOG_DAEMON, outcome)


def decide_on(config: dict, state: str) -> str:
    """The database's role for VRRP `state` (MASTER, or leaving it), the primary's services made
    to follow, and the outcome recorded. A notify that a later one overtook while it waited for
    the decision (MASTER then leaving, or leaving then MASTER) leaves the decision to that one."""
    if (state == "MASTER") != (previous_state() == "MASTER"):
        return f"skipped: keepalived went on to {previous_state()} meanwhile, whose notify decides"
    try:
        if state == "MASTER":
            # A switchover's hold that outlived its hand-over (a run cut off midway) would drop
            # every new connection to the VIP this node now holds.
            # Never in the way of the promotion below.
            try:
                if release_hold():
                    syslog.syslog(syslog.LOG_WARNING | syslog.LOG_DAEMON, "released a switchover's hold left behind")
            except (OSError, subprocess.CalledProcessError) as error:
                syslog.syslog(syslog.LOG_WARNING | syslog.LOG_DAEMON, f"cannot look for a switchover's hold: {error}")
            outcome = on_master(config)
        else:
            outcome = on_leaving()
    except Exception as error:  # noqa: BLE001 - keepalived must hear of every failure, then carry on
        outcome = f"failed: {error}"
    outcome += follow_role(config["services"], holds_primary(outcome))
    record("promotion", json.dumps({"time": int(time.time()), "state": state, "outcome": outcome}))
    return outcome


def check() -> int:
    """Fit to hold the VIP: own web tier and own database answer, and the network allows it
    (fit_by_the_network), found within the check's time budget. A primary the network finds unfit
    fences itself at once. Records healthy replication and the peer last reached; as the primary,
    closes the replication connections of silent standbys (release_silent_standbys)."""
    started = process_started()
    config = settings()
    knocks = {peer: knock(peer, config["peer_port"]) for peer in config["peers"]}
    try:
        if "open" in knocks.values():
            touch(PEER_SEEN)
        elif config["witness"] and config["peers"]:
            ask_early(config)
        return judge(config, knocks, started)
    finally:
        drop_early()


def judge(config: dict, knocks: dict[str, str], started: float) -> int:
    """check()'s verdict once the peers were knocked at (and the witness asked, if none answered)."""
    fenced = ""
    passing = "open" in knocks.values()  # then it ends within its interval (TICK_MARGIN)
    connection, local = read_local(config, knocks, started)
    if connection is None:
        return 1
    try:
        # The network first: a primary it finds unfit fences itself whatever its web tier does.
        with connection:
            left = time_left(config, started, FENCE_TIME)
            given = witness_time("hello", max(left, 0.0))  # before the answer is taken
            fit = fit_by_the_network(config, local["read_only"], knocks, still_fenced(local), left)
            if not fit and not local["read_only"]:
                # It closes every client, a silent standby's too. Too late in the check for a wait for
                # the read lock (a slow read), it stops the database at once, but only on the silence
                # of a witness that had its second: never for a stall alone.
                hurry = time_left(config, started, KILL_TIME + LOCK_TRY) < 0 and given >= WITNESS_MIN
                fenced = fence(connection, config, hurry=hurry)
            released = release_silent_standbys(connection, knocks) if fit and not local["read_only"] else []
        if fit:
            web = time_left(config, started, 0, passing=True) if passing else max(0.2, time_left(config, started, 0.3))
            if web < STEP_MIN:
                raise Overdue(f"no time left for the web tier ({web:.2f} s)")
            # urlopen's timeout is per step (connect, each read): the request as a whole is bounded here.
            with within(min(2.0, web)), urllib.request.urlopen(config["check_url"], timeout=min(2.0, web)) as response:
                fit = response.status == 200
    except Exception:  # noqa: BLE001 - any failure means unfit
        return 1
    syslog.openlog("otap-pair")
    if released:
        syslog.syslog(syslog.LOG_WARNING | syslog.LOG_DAEMON,
                      f"closed the replication connection of silent standby {', '.join(released)}")
    if fenced:
        syslog.syslog(syslog.LOG_WARNING | syslog.LOG_DAEMON, fenced)
    if fit and local["replica_of"] and replicating_healthily(local, config["max_lag"]):
        touch(REPLICA_HEALTHY)
    # What is left of the check's life bounds the rest; a decision or report skipped now is made later.
    left = time_left(config, started, 0, passing)
    if local["replica_of"] and left >= STEP_MIN and \
            should_decide_again(local, holds_vip(config, timeout=left), modified(DECIDED), time.time(),
                                config["retry_after"]):
        start_deciding_again()
    left = min(1.0, time_left(config, started, 0, passing))
    if left >= STEP_MIN:
        report_lasting_conditions(config, local, left)
    return 0 if fit else 1


def error_code(error: Exception) -> int | None:
    """The MariaDB error number of `error` (client errors are 2000 and up), if it has one."""
    return error.args[0] if error.args and isinstance(error.args[0], int) else None


def not_listening(error: Exception) -> bool:
    """Whether `error`, connecting to this node's server, means it does not listen (no socket, or
    no one behind it): then it takes no writes. pymysql says 2003 for any failure of the socket,
    a full accept queue too, so the system's own error decides where it is known."""
    cause = getattr(error, "original_exception", None)
    if isinstance(cause, OSError) and cause.errno is not None:
        return cause.errno in (errno.ENOENT, errno.ECONNREFUSED)
    return error_code(error) in NOT_LISTENING


def time_left(config: dict, started: float, after: float, passing: bool = False) -> float:
    """Seconds the witness may still take so that `after` seconds of work still end within the
    check's life, from `started` (process_started()): keepalived ends it `CHECK_GRACE` seconds past
    the budget (keepalived.conf.j2). A passing check's life ends TICK_MARGIN before the budget (one
    interval) is up."""
    grace = -TICK_MARGIN if passing else CHECK_GRACE
    return config["check_budget"] + grace - after - (time.monotonic() - started)


def process_started() -> float:
    """When keepalived started this process, on time.monotonic()'s clock: its timeout runs from then,
    Python's own start included (a third of a second, or seconds on a loaded host). The process's
    start is in /proc (hundredths since boot, rounded down: never later than it was), the time since
    boot is CLOCK_BOOTTIME; where the system cannot say, or says something implausible, PYTHON_START
    before now."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
        now, since_boot = time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME)
        age = since_boot - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - PYTHON_START
    return now - age if 0 <= age <= 60 else now - PYTHON_START


def read_local(config: dict, knocks: dict[str, str], started: float) -> tuple:
    """This node's database, connected, and its local_state(); (None, None) when it cannot be read
    by the time a kill must start (READ_MARGIN before time_left(KILL_TIME)). One that does not listen
    takes no writes. One that answers but cannot be read (too many connections, or hung on new
    connections) may still take the site's writes on the connections it has: if the witness, asked
    from the check's start when no peer answered (ask_early) and given WITNESS_MIN at least, finds
    this node cut off as it would a primary, it is stopped as a fence would. One whose witness had
    too little time (a check that started late) is left to keepalived (the check fails, the node
    gives up the VIP: on_leaving)."""
    connection = None
    try:
        # Each read of a connection waits its own timeout: the whole is bounded here, so that a
        # server that hangs holds the check up neither past keepalived's timeout nor past a kill.
        passing = "open" in knocks.values()
        with within(time_left(config, started, STEP_MIN, passing=True) if passing
                    else time_left(config, started, KILL_TIME) - READ_MARGIN):
            connection = connect(timeout=2)
            return connection, local_state(connection)
    except Exception as error:  # noqa: BLE001 - unfit whatever it was; what it means is judged below
        if connection is not None:
            connection.close()
        left = time_left(config, started, KILL_TIME)
        # Only on the network's own word, given WITNESS_MIN at least (an early question's time
        # counts): a healthy node whose database stalls is never killed.
        if not not_listening(error) and left > 0 and witness_time("hello", left) >= WITNESS_MIN and \
                not fit_by_the_network(config, False, knocks, ask_within=left):
            done = f"its database answers but cannot be read ({error}), " + stopped()
            syslog.openlog("otap-pair")
            syslog.syslog(syslog.LOG_WARNING | syslog.LOG_DAEMON, fenced_outcome(config, done))
        return None, None


class Overdue(Exception):
    """A step of the check ran past its time (within())."""


@contextlib.contextmanager
def within(seconds: float):
    """Raise Overdue inside once `seconds` have passed (SIGALRM: a blocking read is interrupted; at
    least 10 ms, since a timer of 0 would never go off). An alarm that comes as the body ends raises
    nothing. (One that lands in a finalizer is printed and lost: the reads' own timeouts remain.)"""
    armed = [True]

    def overdue(_signum, _frame):
        if armed[0]:
            raise Overdue(f"no answer within {seconds:.2f} s")

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def close_clients(connection) -> None:
    """Close every client connection but this one and the server's own threads."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                       "AND USER NOT IN ('system user', 'event_scheduler') AND COMMAND <> 'Daemon'")
        for client in cursor.fetchall():
            try:
                cursor.execute("KILL CONNECTION %s", (client["id"],))
            except Exception as error:  # noqa: BLE001 - only "it ended meanwhile" (1094) is let pass
                if not error.args or error.args[0] != UNKNOWN_THREAD:
                    raise


def still_fenced(local: dict) -> bool:
    """Whether this node fenced itself and nothing has settled it since: the marker goes once its
    database is writable again (an operator's switchover) or replicates (a reseed)."""
    if not local["read_only"] or local["replica_of"]:
        if modified(FENCED) is not None:
            os.unlink(os.path.join(STATE_DIR, FENCED))
        return False
    return modified(FENCED) is not None


def fence(connection, config: dict, hurry: bool = False) -> str:
    """This primary reaches neither its peer nor the witness: it may be the one cut off, and the
    standby may promote itself `fence_after` seconds after it last reached it. Turn read-only now,
    before that (`hurry`: no time is left in the check to wait for the read lock: stop the database
    instead), stop the primary's services, record and mail it; what was done."""
    # The clients first, so that no write of theirs holds read_only's lock up. One try: the
    # check's life has room for one wait for the lock (timeout - budget), not for two.
    if hurry:
        done = "no time was left in the check to turn its database read-only, " + stopped()
    elif turn_read_only(connection, tries=1, close_first=True):
        done = "its database is now read-only"
        try:  # a commit waiting for the standby's acknowledgement gets an error, not an OK it cannot keep
            close_clients(connection)
        except Exception as error:  # noqa: BLE001 - read-only already: said, and the fence goes on
            done += f" (its clients could not all be closed: {error})"
    else:
        done = "its database did not turn read-only, " + stopped()
    return fenced_outcome(config, done)


def stopped() -> str:
    """stop_database(): what it did, or why it could not (then the text begins FAILED)."""
    try:
        return stop_database()
    except RuntimeError as error:
        return f"FAILED: {error}"


def fenced_outcome(config: dict, done: str) -> str:
    """After a fence did `done`: note it (the marker, once the writes are stopped: a full disk never
    holds the fence up), stop the primary's services, record and mail it; what was done."""
    try:
        touch(FENCED)
    except OSError as error:
        done += f"; cannot note the fence ({error})"
    outcome = ("fenced: reaches neither its peer nor the witness, so it may be the node cut off; " + done +
               " (the standby may promote itself)" + follow_role(config["services"], False))
    if "FAILED" in done:
        outcome = "failed: " + outcome
    try:
        record("promotion", json.dumps({"time": int(time.time()), "state": "FENCED", "outcome": outcome}))
    except OSError as error:
        outcome += f"; cannot record it ({error})"
    try:
        send_later(*decision_mail(config["name"], outcome))
    except OSError as error:
        outcome += f"; cannot mail operations: {error}"
    return outcome


def report_lasting_conditions(config: dict, local: dict, seconds: float = 1.0) -> None:
    """Mail what has lasted (a stray node, a primary without its services or whose uploads do not
    reach the standby). What it reads is bounded to `seconds` (what is left of the check's life);
    noting a condition as told and mailing it are not cut off between them. Never raises: a report
    never makes a node unfit."""
    try:
        with within(seconds):
            inactive = inactive_services(config["services"]) if not local["read_only"] else []
            behind = uploads_behind(config, time.time()) if not local["read_only"] else None
        for condition, message in condition_mails(config, local, inactive, behind).items():
            if lasting(condition, message is not None, config["report_after"], time.time()):
                send_later(*message, condition=condition)
    except Exception as error:  # noqa: BLE001 - reported in syslog, the check's answer stands
        syslog.openlog("otap-pair")
        syslog.syslog(syslog.LOG_WARNING | syslog.LOG_DAEMON, f"cannot report lasting conditions: {error}")


# A planned switchover (role failover runs take-over on the standby, then hand-over on the
# primary). The VIP moves only once the standby is the writable primary; meanwhile new
# connections to the VIP are held on the old primary (dropped unanswered: the client sends its
# SYN again a second later and meets the new holder), so no request fails and none is answered
# by a read-only database. Everything between the hold and the VIP's move happens here, on the
# nodes, in well under that second.
HOLD_TABLE = "otap_failover_hold"
SITE_PORTS = (80, 443)


def hold_rules(vip: str) -> str:
    """nftables rules that leave new connections to the VIP unanswered (open ones run on)."""
    ports = ", ".join(str(port) for port in SITE_PORTS)
    return (f"table inet {HOLD_TABLE} {{\n  chain input {{\n"
            "    type filter hook input priority -10; policy accept;\n"
            f"    ip daddr {vip} tcp dport {{ {ports} }} tcp flags & (syn | ack) == syn drop\n  }}\n}}\n")


def hold(vip: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=hold_rules(vip), text=True, capture_output=True, check=True)


def release_hold() -> bool:
    """Let new connections in again; whether there was a hold."""
    if subprocess.run(["nft", "list", "table", "inet", HOLD_TABLE], capture_output=True, check=False).returncode:
        return False
    subprocess.run(["nft", "delete", "table", "inet", HOLD_TABLE], capture_output=True, check=True)
    return True


def kernel_hex(address: str) -> tuple[str, str]:
    """`address` as /proc/net/tcp and /proc/net/tcp6 write it: the hex of each four bytes read in
    this machine's byte order; in tcp6 an IPv4 address is IPv4-mapped (a dual-stack listener)."""
    def words(packed: bytes) -> str:
        return "".join(f"{int.from_bytes(packed[i:i + 4], sys.byteorder):08X}" for i in range(0, len(packed), 4))
    return (words(socket.inet_pton(socket.AF_INET, address)),
            words(socket.inet_pton(socket.AF_INET6, f"::ffff:{address}")))


def established(address: str, ports: tuple[int, ...] = SITE_PORTS,
                tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6")) -> int:
    """How many connections to IPv4 `address` on `ports` are established on this host."""
    wanted = {f"{hexed}:{port:04X}" for hexed in kernel_hex(address) for port in ports}
    count = 0
    for table in tables:
        try:
            with open(table, encoding="ascii") as handle:
                next(handle)
                count += sum(1 for line in handle if line.split()[1] in wanted and line.split()[3] == "01")
        except FileNotFoundError:  # a kernel without IPv6
            continue
    return count


def drain(address: str, timeout: float) -> None:
    """Wait until no request to `address` is in flight on this host."""
    deadline = time.monotonic() + timeout
    while (left := established(address)):
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{left} connection(s) to {address} still open after {timeout:g}s")
        time.sleep(0.02)


def writable(address: str, config: dict, timeout: float) -> bool:
    """Whether the database at `address` turns writable within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(address, config["user"], config["password"]) as peer:
                if not int(query(peer, "SELECT @@global.read_only AS read_only")["read_only"]):
                    return True
        except Exception as error:  # noqa: BLE001 - a restart may pass; any other error is an answer
            if not error.args or error.args[0] not in NO_ANSWER:
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def take_over(config: dict, wait: float) -> tuple[bool, str]:
    """On the standby: promote once its primary has turned read-only (within `wait` seconds),
    after applying everything up to the primary's last position (decide(), rule 2)."""
    with connect() as connection:
        local = local_state(connection)
        if not local["read_only"] or not local["replica_of"]:
            action, reason = decide(local, None, None, 0)[::2]
            return action == "keep", f"{action}: {reason}"
        deadline = time.monotonic() + wait
        # A primary that does not answer for a moment (a busy server) is asked again until then.
        while (peer := peer_state(local, config, max(0.0, deadline - time.monotonic()), every=0.02)) is None:
            if time.monotonic() >= deadline:
                return False, f"refused: the primary {local['replica_of']} does not answer; nothing was changed"
            time.sleep(0.1)
        action, position, reason = decide(local, peer, None, 0)
        if action != "promote":
            return False, f"{action}: {reason} (for {wait:g}s); nothing was changed"
        promoted, outcome = promote(connection, position, config["catch_up_timeout"])
    return promoted, f"{'promoted' if promoted else 'refused'}: {reason}; {outcome}"


def hand_over(config: dict, to: str, vip: str, drain_within: float, push: str) -> list[str]:
    """On the primary: what was done, step by step, with the seconds since the hold. Fails with
    nothing changed (the hold released, the database writable) up to the read-only step; after
    it, fails only if the standby does not become the primary (the caller decides then)."""
    started = time.monotonic()
    done = []

    def step(text: str) -> None:
        done.append(f"{time.monotonic() - started:6.2f}s  {text}")

    hold(vip)
    step(f"new connections to {vip} held")
    try:
        drain(vip, drain_within)
        step("no request in flight")
        if push:
            pushed = subprocess.run(shlex.split(push), capture_output=True, text=True, timeout=60, check=False)
            if pushed.returncode:
                raise RuntimeError(f"{push} failed: {pushed.stderr.strip() or pushed.returncode}")
            changed = pushed.stdout.strip().splitlines()
            step(f"uploads level on {to}" + (f" ({len(changed)} brought over)" if changed else ""))
            done.extend(f"          {line}" for line in changed)
        with connect() as connection:
            query(connection, "SET SESSION lock_wait_timeout = 5")
            query(connection, "SET GLOBAL read_only = 1")
    except Exception:
        release_hold()
        raise
    # From here on the standby may be promoting itself: the hold stays, whatever happens.
    step("read-only")
    if not writable(to, config, config["catch_up_timeout"] + 5):
        raise RuntimeError(f"{to} did not become the writable primary within {config['catch_up_timeout'] + 5}s; "
                           "this node is read-only and holds the VIP")
    step(f"{to} is the writable primary")
    subprocess.run(["systemctl", "stop", "keepalived"], capture_output=True, text=True, check=True)
    step("keepalived stopped: the VIP moves")
    # The VIP has left: the hold has nothing more to hold, even if the caller is gone now.
    release_hold()
    step("hold released")
    return done


def switchover(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"otap-pair {argv[0]}")
    if argv[0] == "take-over":
        parser.add_argument("--wait", type=float, required=True)
    elif argv[0] == "hand-over":
        parser.add_argument("--to", required=True)
        parser.add_argument("--vip", required=True)
        parser.add_argument("--drain", type=float, default=15.0)
        parser.add_argument("--push", default="")
    args = parser.parse_args(argv[1:])
    syslog.openlog("otap-pair")
    try:
        if argv[0] == "release-hold":
            print("released the hold" if release_hold() else "", end="")
            return 0
        if argv[0] == "take-over":
            ok, outcome = take_over(settings(), args.wait)
            lines = [outcome]
        else:
            ok, lines = True, hand_over(settings(), args.to, args.vip, args.drain, args.push)
    except Exception as error:  # noqa: BLE001 - said to the caller, who decides
        ok, lines = False, [f"failed: {error}"]
    for line in lines:
        syslog.syslog((syslog.LOG_INFO if ok else syslog.LOG_WARNING) | syslog.LOG_DAEMON, f"{argv[0]}: {line}")
    print("\n".join(lines), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    if argv[1:2] == ["check"]:
        return check()
    if argv[1:2] == ["notify"] and len(argv) >= 5:
        return notify(argv[4])
    if argv[1:2] == ["decide-again"]:
        return decide_again()
    if argv[1:2] == ["pause-decisions"]:
        return pause_decisions()
    if argv[1:2] == ["resume-decisions"]:
        return resume_decisions()
    if argv[1:2] == ["mail"] and len(argv) in (3, 4) and all(word.isalpha() for word in argv[3:]):
        return mail(*argv[2:4])
    if argv[1:2] in (["take-over"], ["hand-over"], ["release-hold"]):
        return switchover(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
