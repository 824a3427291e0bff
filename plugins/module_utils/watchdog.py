# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bound on how long one statement of a release's SQL may run.

The site is in maintenance, its writes held, while a release's SQL runs: a statement that never
ends (a runaway join, a SLEEP, a lock it waits for all day) would keep it so. MariaDB's own
`max_statement_time` does not bound it: the script's session may set it back (SET, SET STATEMENT
... FOR), whatever the filter before it misses. So the statement is ended from outside: a
connection of root's own, used by nothing else, sends KILL QUERY for the scripts' connection once
the time is up. What the script's session says changes nothing of that.

Two bounds: each statement's, and the whole SQL's of a rollout (many statements that each end in
time must not add up to a day); a statement is ended at whichever comes first. One that is ended
first undoes what it did (InnoDB rolls its rows back before it returns): the site's window is the
bound plus that rollback.
"""

from __future__ import annotations

import contextlib
import threading

# KILL of a connection that has ended meanwhile (the script ended its own session): nothing to end.
UNKNOWN_THREAD = 1094
# The longest wait_timeout MariaDB takes (seconds).
IDLE_FOR_A_YEAR = 31536000
# Seconds between tries to end a statement once a try has failed.
RETRY_EVERY = 1.0
# The statement timeout, as the messages name it.
PER_STATEMENT = "the longest one statement of a release's SQL may run (joomla_release_statement_timeout)"


class StatementTimeout(Exception):
    """A script's statement ran longer than it may; it was ended, and the rollout is undone."""


class Watchdog:
    """Ends the statement of connection `target` (its CONNECTION_ID) that runs past `seconds`,
    through `connection`, which nothing else uses while it watches."""

    def __init__(self, connection, target: int, seconds: float):
        self.connection, self.target, self.seconds = connection, target, seconds
        # Idle until a statement overruns: the server must not close it meanwhile (its wait_timeout).
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION wait_timeout = %s", (IDLE_FOR_A_YEAR,))

    @contextlib.contextmanager
    def watching(self, seconds: float | None = None, bound: str = ""):
        """Watch the statement run inside for `seconds` (the statement timeout when None; else `bound`
        says which limit that is, for the message: 'N s, the longest ...'); raises StatementTimeout
        when it was ended for its time (whatever error the statement itself then raised, or none, if
        it ended just as it was killed)."""
        lock, state = threading.Lock(), {"armed": True, "killed": False, "failure": "", "timer": None}
        if seconds is None:
            seconds, bound = self.seconds, f"{self.seconds:g} s, {PER_STATEMENT}"

        def end_it() -> None:
            with lock:  # the statement that is watched, not the next one: disarmed before that starts
                if state["armed"]:
                    killed, state["failure"] = self.kill()
                    state["killed"] = state["killed"] or killed
                    # Sent again every second for as long as the statement runs: a kill that failed,
                    # or one that reached the session before its statement did (MariaDB drops that).
                    start(RETRY_EVERY)

        def start(seconds: float) -> None:
            state["timer"] = threading.Timer(seconds, end_it)
            state["timer"].daemon = True
            state["timer"].start()

        start(seconds)
        try:
            yield
        except Exception as error:
            if self.ended(lock, state):
                raise self.timeout(bound, state["failure"]) from error
            raise
        if self.ended(lock, state):
            raise self.timeout(bound, state["failure"])

    def kill(self) -> tuple[bool, str]:
        """KILL QUERY, once more on a new connection should this one have been lost; (whether the
        statement was ended, why it could not be)."""
        failure = ""
        for attempt in range(2):
            try:
                if attempt:
                    self.connection.ping(reconnect=True)
                with self.connection.cursor() as cursor:
                    cursor.execute("KILL QUERY %s", (self.target,))
                return True, ""
            except Exception as error:  # pylint: disable=broad-exception-caught  # said when the statement returns
                if error.args and error.args[0] == UNKNOWN_THREAD:
                    return False, ""  # the script's session ended itself: nothing runs to end
                failure = f"{error}"
        return False, failure

    @staticmethod
    def ended(lock, state: dict) -> bool:
        with lock:
            state["armed"] = False
            state["timer"].cancel()
        return state["killed"] or bool(state["failure"])

    @staticmethod
    def timeout(bound: str, failure: str = "") -> StatementTimeout:
        if failure:
            return StatementTimeout(f"ran past {bound}, and could not be ended ({failure})")
        return StatementTimeout(f"stopped after {bound}")
