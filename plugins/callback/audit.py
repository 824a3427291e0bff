# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit trail: every run of the project's playbooks, as one JSON line in the store."""

from __future__ import annotations

DOCUMENTATION = r"""
name: audit
type: aggregate
author: otap.street maintainers (!UNKNOWN)
version_added: 0.3.0
short_description: Record every run of otap.street's playbooks in the store's audit trail
description:
  - At the end of every run of a playbook of this collection (C(playbooks/*.yml)), appends one
    JSON line to C(audit/runs.jsonl) at the agreed place (C(otap_store_dir) on the first host of
    group C(release_store)) - who ran it (AWX's C(awx_user_name), else the controller's user),
    when it started and ended, which playbook, the environment (C(otap_env)), the release
    (C(otap_release)), the other C(otap_*) variables given, check mode, per host its counts and
    the result (C(ok) or C(failed)).
  - Variables whose names say they hold a secret (password, secret, token, key, hash) are never
    recorded.
  - The line goes to the store through Ansible itself (C(ansible.builtin.lineinfile), the run's
    own inventory), so a store on any host works. The line is handed over as data (a vars file
    with C(!unsafe)), never as part of the arguments, so text a person typed (an approval note, a
    survey answer) is recorded verbatim and never evaluated as a template.
  - The C(ansible) that writes the line is started when the run's first play starts (on a Linux
    controller), and waits for the line on a pipe; its start (Python, the inventory) overlaps the
    run instead of following it. It reads the line through a lookup, whose result Ansible never
    templates; if the run ends without handing the line over, it writes nothing. Should it fail,
    the line goes the other way, by a C(ansible) started at the end with the line in a vars file.
  - When the store cannot be reached, the line waits in a spool file on the controller and goes
    with the next run's. A line the store refuses for any other reason is set aside in
    C(<spool>.rejected) with a warning, so it never blocks the lines after it.
  - Playbooks from elsewhere (Molecule's converge, the street's own up and down) are not recorded.
options:
  spool:
    description: Where records wait on the controller until the store takes them.
    type: path
    default: ~/.cache/otap-street/audit-pending.jsonl
    env:
      - name: OTAP_AUDIT_SPOOL
    ini:
      - section: otap_audit
        key: spool
requirements:
  - enabled in ansible.cfg (C(callbacks_enabled = otap.street.audit))
"""

import getpass
import fcntl
import json
import os
import re
import select
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.template import Templar

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
SECRET = re.compile(r"pass|secret|token|key|hash", re.I)
# The exit code of `ansible` when a host could not be reached.
UNREACHABLE = 3
# The line of the `ansible` started early: what its worker reads from the pipe it inherited (a
# lookup's result is never templated). The line comes framed, followed by a line holding a dot: a
# run that ends before its whole line is handed over makes the read, and so the task, fail.
WAIT_FOR_LINE = ("{{ lookup('ansible.builtin.pipe', '{ IFS= read -r line && IFS= read -r end && [ \"$end\" = . ] "
                 "&& printf %%s \"$line\"; } </proc/$PPID/fd/%d') }}")
END_OF_LINE = b"\n.\n"
# How long a delivery may take, the hand-over of the line included.
DELIVERY_TIMEOUT = 120


class StoreUnreachable(RuntimeError):
    """The store did not answer: the line waits for the next run."""


class LineRefused(RuntimeError):
    """The store answered and did not take the line: it is set aside, later lines go on."""


def unsafe_vars(name: str, value: str) -> str:
    """A YAML vars file that holds `value` as data Ansible never templates (a JSON string is YAML)."""
    return f"{name}: !unsafe {json.dumps(value)}\n"


def record(playbook: str, extra_vars: dict, started: datetime, ended: datetime, summary: dict[str, dict],
           check: bool, user: str, controller: str) -> dict:
    """One line of the audit trail (pure, so it can be tested alone)."""
    given = {k: v for k, v in sorted(extra_vars.items()) if k.startswith("otap_") and not SECRET.search(k)}
    failed = sorted(h for h, counts in summary.items() if counts.get("failures") or counts.get("unreachable"))
    return {
        "started": started.isoformat(timespec="seconds"),
        "ended": ended.isoformat(timespec="seconds"),
        "seconds": round((ended - started).total_seconds(), 1),
        "by": str(extra_vars.get("awx_user_name") or user),
        "controller": controller,
        "awx_job_id": extra_vars.get("awx_job_id"),
        "playbook": playbook,
        "env": given.pop("otap_env", None),
        "release": given.pop("otap_release", None),
        "vars": {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in given.items()},
        "check_mode": check,
        "hosts": summary,
        "failed_hosts": failed,
        "result": "failed" if failed else "ok",
    }


class Spool:
    """Records not yet in the store: kept in a file until `deliver` takes them."""

    def __init__(self, path: Path):
        self.path = path

    @contextmanager
    def locked(self):
        """Hold the spool alone (other runs on this controller wait): no line is lost between runs."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def add(self, line: str) -> None:
        with self.locked(), self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def flush(self, deliver) -> tuple[list[str], list[str]]:
        """Hand every waiting line to `deliver`; returns the lines still waiting and those set aside.

        `deliver` raises StoreUnreachable (the line and the rest wait) or LineRefused (the line is
        set aside in `<spool>.rejected`, the next one goes on).
        """
        with self.locked():
            return self._flush(deliver)

    def _flush(self, deliver) -> tuple[list[str], list[str]]:
        if not self.path.exists():
            return [], []
        lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rejected, rest = [], []
        for number, line in enumerate(lines):
            try:
                deliver(line)
            except LineRefused:
                rejected.append(line)
            except (OSError, StoreUnreachable):
                rest = lines[number:]
                break
        if rejected:
            with self.path.with_name(self.path.name + ".rejected").open("a", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in rejected)
        if rest:
            self.path.write_text("".join(line + "\n" for line in rest), encoding="utf-8")
        else:
            self.path.unlink()
        return rest, rejected


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "otap.street.audit"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.playbook: Path | None = None
        self.started = datetime.now(timezone.utc)
        self.extra_vars: dict = {}
        self.store: tuple[str, str] | None = None
        self.play_env: str | None = None
        self.vault_secrets: list = []
        self.waiting: tuple[subprocess.Popen, int] | None = None

    def v2_playbook_on_start(self, playbook):
        self.playbook = Path(playbook._file_name).resolve()
        self.started = datetime.now(timezone.utc)

    def v2_playbook_on_play_start(self, play):
        # A playbook for one environment may name it in its plays instead (failover.yml: production).
        env = play.vars.get("otap_env") if isinstance(play.vars, dict) else None
        if isinstance(env, str) and "{" not in env:
            self.play_env = self.play_env or env
        if self.store is not None:
            return
        manager = play.get_variable_manager()
        self.extra_vars = dict(manager.extra_vars)
        self.vault_secrets = list(play._loader._vault.secrets or [])
        group = manager._inventory.groups.get("release_store")
        stores = group.get_hosts() if group else []
        if stores:
            variables = manager.get_vars(play=play, host=stores[0])
            directory = Templar(loader=play._loader, variables=variables).template(variables.get("otap_store_dir"))
            if directory:
                self.store = (stores[0].name, str(directory))
                if self.recorded():
                    self._start_waiting()

    def recorded(self) -> bool:
        """Whether this run is one of the collection's playbooks (the others are not recorded)."""
        return self.playbook is not None and self.playbook.parent == PLAYBOOKS.resolve()

    def _start(self, line: str, extra: list[str], fds: list[int]) -> subprocess.Popen:
        """Start the `ansible` that appends `line` (a value or a template) to the trail in the store."""
        host, directory = self.store
        args = {"path": f"{directory}/audit/runs.jsonl", "line": line, "create": True, "mode": "0644"}
        command = ["ansible", host, "-m", "ansible.builtin.lineinfile", "-a", json.dumps(args), *extra]
        for source in context.CLIARGS.get("inventory") or ():
            command += ["-i", source]
        # The inventory may hold vaults: hand the run's vault secrets on through pipes, also those
        # asked at a prompt (AWX's vault credential), never through a file or the command line.
        pipes = []
        try:
            for vault_id, secret in self.vault_secrets:
                read, write = os.pipe()
                os.write(write, secret.bytes + b"\n")
                os.close(write)
                pipes.append(read)
                command += ["--vault-id", f"{vault_id}@/dev/fd/{read}"]
            return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    pass_fds=[*fds, *pipes])
        finally:
            for read in pipes:
                os.close(read)

    @staticmethod
    def _outcome(process: subprocess.Popen, deadline: float) -> None:
        try:
            output = process.communicate(timeout=max(deadline - time.monotonic(), 0))[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
            raise StoreUnreachable(output[-1000:]) from None
        if process.returncode == UNREACHABLE:
            raise StoreUnreachable(output[-1000:])
        if process.returncode:
            raise LineRefused(output[-1000:])

    @staticmethod
    def _hand_over(process: subprocess.Popen, write: int, data: bytes, deadline: float) -> bool:
        """Write `data` into the pipe of the `ansible` waiting for it, by `deadline`; whether all of it went."""
        os.set_blocking(write, False)
        rest = memoryview(data)
        try:
            while rest:
                if process.poll() is not None or time.monotonic() >= deadline:
                    return False
                select.select([], [write], [], min(max(deadline - time.monotonic(), 0), 1.0))
                try:
                    rest = rest[os.write(write, rest):]
                except BlockingIOError:
                    continue
            return True
        except BrokenPipeError:
            return False
        finally:
            os.close(write)

    def _start_waiting(self) -> None:
        """Start the `ansible` for this run's line now; it waits for the line on a pipe (Linux only:
        its worker reads the pipe it inherited through /proc)."""
        if not Path("/proc/self/fd").is_dir():
            return
        read, write = os.pipe()
        try:
            process = self._start(WAIT_FOR_LINE % read, [], [read])
        except OSError:
            os.close(write)
            return
        finally:
            os.close(read)
        self.waiting = (process, write)

    def deliver(self, line: str) -> None:
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        waiting, self.waiting = self.waiting, None
        if waiting:
            process, write = waiting
            handed = self._hand_over(process, write, line.encode() + END_OF_LINE, deadline)
            if not handed and process.poll() is None:
                process.kill()
                process.communicate()
                if time.monotonic() >= deadline:
                    raise StoreUnreachable("the ansible started for the audit line did not take it in time")
            else:
                try:
                    self._outcome(process, deadline)
                    return
                except LineRefused:
                    pass  # whether the store refuses the line is for the delivery below to say
        with tempfile.TemporaryDirectory(prefix="otap-audit.") as private:
            data = Path(private) / "line.yml"
            data.write_text(unsafe_vars("otap_audit_line", line), encoding="utf-8")
            data.chmod(0o600)
            self._outcome(self._start("{{ otap_audit_line }}", ["-e", f"@{data}"], []), deadline)

    def v2_playbook_on_stats(self, stats):
        if not self.recorded():
            return
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        given = {"otap_env": self.play_env} if self.play_env else {}
        line = json.dumps(record(self.playbook.name, given | self.extra_vars, self.started, datetime.now(timezone.utc),
                                 summary, bool(context.CLIARGS.get("check")), getpass.getuser(), socket.gethostname()),
                          sort_keys=True)
        spool = Spool(Path(os.path.expanduser(self.get_option("spool"))))
        spool.add(line)
        if self.store is None:
            self._display.warning("audit: no release_store host with otap_store_dir; the record waits in the spool")
            return
        waiting, rejected = spool.flush(self.deliver)
        if waiting:
            self._display.warning(f"audit: the store did not answer; {len(waiting)} record(s) wait in {spool.path}")
        if rejected:
            self._display.warning(f"audit: the store refused {len(rejected)} record(s); they are set aside in "
                                  f"{spool.path}.rejected")
