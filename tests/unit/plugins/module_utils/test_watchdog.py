"""The watchdog that ends a release statement running too long (module_utils/watchdog.py), with a
fake connection: a KILL QUERY it sends releases the statement that waits for it."""

import threading

import pytest

from ansible_collections.otap.street.plugins.module_utils import watchdog
from ansible_collections.otap.street.plugins.module_utils.watchdog import StatementTimeout, Watchdog


class Server:
    """Root's watching connection; the watched statement waits on `killed`."""

    def __init__(self, unknown: bool = False, lost: int = 0):
        self.killed, self.sent, self.unknown, self.lost = threading.Event(), [], unknown, lost
        self.settings, self.pings = [], 0

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args):
        if not sql.startswith("KILL"):
            self.settings.append((sql, args))
            return
        self.sent.append((sql, args))
        if self.lost:
            self.lost -= 1
            raise RuntimeError(2013, "Lost connection to server during query")
        if self.unknown:
            raise RuntimeError(1094, "Unknown thread id: 7")
        self.killed.set()

    def ping(self, reconnect):
        assert reconnect
        self.pings += 1


def test_a_statement_that_ends_in_time_is_left_alone():
    server = Server()
    with Watchdog(server, 7, 60).watching():
        pass
    assert server.sent == []


def test_a_statement_past_its_time_is_ended_by_its_connection_id_and_says_why():
    server = Server()
    with pytest.raises(StatementTimeout, match="stopped after 0.01 s"):
        with Watchdog(server, 7, 0.01).watching():
            assert server.killed.wait(30)
            raise RuntimeError(1317, "Query execution was interrupted")
    assert server.sent == [("KILL QUERY %s", (7,))]


def test_a_statement_ended_just_as_it_finished_still_counts_as_too_long():
    server = Server()
    with pytest.raises(StatementTimeout):
        with Watchdog(server, 7, 0.01).watching():
            assert server.killed.wait(30)


def test_a_session_that_ended_itself_leaves_nothing_to_end():
    server = Server(unknown=True)
    done = threading.Event()
    with Watchdog(server, 7, 0.01).watching():
        while not server.sent:
            done.wait(0.01)
    assert server.sent == [("KILL QUERY %s", (7,))]


def test_the_watching_connection_outlasts_the_server_s_idle_timeout():
    server = Server()
    Watchdog(server, 7, 60)
    assert server.settings == [("SET SESSION wait_timeout = %s", (31536000,))]


def test_a_watching_connection_that_was_lost_anyway_is_opened_again_to_end_the_statement():
    server = Server(lost=1)
    with pytest.raises(StatementTimeout, match="stopped after"):
        with Watchdog(server, 7, 0.01).watching():
            assert server.killed.wait(30)
    assert server.pings == 1 and server.sent == [("KILL QUERY %s", (7,))] * 2


def test_a_statement_whose_kill_keeps_failing_is_tried_again_until_it_ends(monkeypatch):
    monkeypatch.setattr(watchdog, "RETRY_EVERY", 0.01)
    server = Server(lost=5)  # the server refuses root for a while (max_connections reached, say)
    with pytest.raises(StatementTimeout, match="stopped after"):
        with Watchdog(server, 7, 0.01).watching():
            assert server.killed.wait(30)
    assert len(server.sent) == 6


def test_a_statement_that_ended_before_any_kill_got_through_fails_the_rollout_and_says_why():
    server = Server(lost=1000)
    with pytest.raises(StatementTimeout, match="could not be ended .*Lost connection"):
        with Watchdog(server, 7, 0.01).watching():
            while len(server.sent) < 2:
                server.killed.wait(0.01)


def test_a_statement_ended_at_another_bound_says_that_bound():
    server = Server()
    with pytest.raises(StatementTimeout, match=r"^stopped after 2 s of the whole SQL$"):
        with Watchdog(server, 7, 60).watching(0.01, "2 s of the whole SQL"):
            assert server.killed.wait(30)
            raise RuntimeError(1317, "Query execution was interrupted")


def test_a_kill_that_reached_the_session_before_its_statement_is_sent_again(monkeypatch):
    """MariaDB drops a KILL QUERY that finds the session idle: the statement that then arrives runs
    on unbounded, unless the kill is sent again while it runs."""
    monkeypatch.setattr(watchdog, "RETRY_EVERY", 0.01)
    server = Server()
    with pytest.raises(StatementTimeout, match="stopped after"):
        with Watchdog(server, 7, 0.01).watching():
            assert server.killed.wait(30)
            server.killed.clear()  # the first kill found no statement yet: dropped
            assert server.killed.wait(30)
    assert len(server.sent) >= 2
