"""The watchdog that ends a release statement running too long (module_utils/watchdog.py), with a
fake connection: a KILL QUERY it sends releases the statement that waits for it."""

import threading

import pytest

from ansible_collections.otap.street.plugins.module_utils.watchdog import StatementTimeout, Watchdog


class Server:
    """Root's watching connection; the watched statement waits on `killed`."""

    def __init__(self, unknown: bool = False):
        self.killed, self.sent, self.unknown = threading.Event(), [], unknown

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args):
        self.sent.append((sql, args))
        if self.unknown:
            raise RuntimeError(1094, "Unknown thread id: 7")
        self.killed.set()


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
