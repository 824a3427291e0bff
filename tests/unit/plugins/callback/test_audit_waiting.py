"""The `ansible` started with the run's first play, which waits for the run's audit line on a pipe:
tried for real (the ansible CLI, lineinfile on a local host), as the callback starts it."""

import json
import multiprocessing
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.callback import audit
from ansible_collections.otap.street.plugins.callback.audit import (
    CallbackModule,
    LineRefused,
    Spool,
    StoreUnreachable,
    record,
)

START = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

HOSTILE = ["{{ lookup('pipe', 'touch /tmp/otap-audit-pwned') }}", "{{ unbalanced", "{% raw %}x",
           '"quoted" \\ \u00e9 line\nnext', "{{ undef('x') }}", "$(touch /tmp/otap-audit-pwned) `id`"]


@pytest.fixture(name="callback")
def fixture_callback(tmp_path: Path, monkeypatch) -> CallbackModule:
    """The callback as a run of approve.yml leaves it, with the store on this machine (tmp_path)."""
    inventory = tmp_path / "hosts"
    inventory.write_text(f"store ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "ansible.cfg"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(audit.context, "CLIARGS", {"inventory": [str(inventory)]})
    callback = CallbackModule()
    callback.store = ("store", str(tmp_path / "store"))
    return callback


def trail(tmp_path: Path) -> Path:
    return tmp_path / "store" / "audit" / "runs.jsonl"


def line_with(note: str) -> str:
    return json.dumps(record("approve.yml", {"otap_release": "4", "otap_approval_note": note}, START, START, {},
                             False, "carla", "laptop"), sort_keys=True)


@pytest.mark.parametrize("note", HOSTILE)
def test_the_started_ansible_writes_the_line_it_is_handed_verbatim(callback, tmp_path: Path, note):
    callback._start_waiting()
    assert callback.waiting is not None, "on Linux the line's ansible starts with the first play"
    line = line_with(note)
    callback.deliver(line)
    assert trail(tmp_path).read_text() == line + "\n"
    assert json.loads(trail(tmp_path).read_text())["vars"]["otap_approval_note"] == note
    assert not Path("/tmp/otap-audit-pwned").exists()
    assert callback.waiting is None


def test_a_run_that_ends_without_handing_over_its_line_writes_nothing(callback, tmp_path: Path):
    callback._start_waiting()
    process, write = callback.waiting
    os.close(write)  # as when the run is killed before its end
    with pytest.raises(LineRefused):
        callback._outcome(process, time.monotonic() + 120)
    assert not trail(tmp_path).exists()


def test_when_the_started_ansible_fails_the_line_goes_the_other_way(callback, tmp_path: Path):
    callback._start_waiting()
    process, _ = callback.waiting
    process.kill()
    process.wait()
    line = line_with("after a failure")
    callback.deliver(line)
    assert trail(tmp_path).read_text() == line + "\n"


def test_lines_after_the_first_go_the_other_way_in_order(callback, tmp_path: Path):
    """The spool's older lines go first: the started ansible takes the first, the others follow."""
    callback._start_waiting()
    lines = [line_with(f"note {n}") for n in range(3)]
    for line in lines:
        callback.deliver(line)
    assert trail(tmp_path).read_text().splitlines() == lines


def test_a_long_line_cut_off_half_way_writes_nothing(callback, tmp_path: Path):
    """The run dies after part of a line longer than the pipe holds went in (the kernel closes the
    pipe): the line is framed, so a part of it is no line, and nothing is written."""
    callback._start_waiting()
    process, write = callback.waiting
    line = line_with("n" * 200_000)
    os.write(write, line[:65536].encode())
    os.close(write)
    with pytest.raises(LineRefused):
        callback._outcome(process, time.monotonic() + 120)
    assert not trail(tmp_path).exists()


def test_a_long_line_goes_whole(callback, tmp_path: Path):
    callback._start_waiting()
    line = line_with("{{ lookup('pipe', 'id') }}" * 6000)
    callback.deliver(line)
    assert trail(tmp_path).read_text() == line + "\n"


def test_a_started_ansible_that_never_reads_holds_the_run_no_longer_than_the_delivery_may_take(
        callback, tmp_path: Path, monkeypatch):
    """Alive but not reading (an inventory source that hangs): the hand-over gives up at the deadline,
    the process is stopped, and the line waits in the spool (the store counts as unreachable)."""
    hanging = tmp_path / "slow-inventory.sh"
    hanging.write_text("#!/bin/sh\nsleep 60\necho '{}'\n")
    hanging.chmod(0o755)
    monkeypatch.setattr(audit.context, "CLIARGS", {"inventory": [str(tmp_path / "hosts"), str(hanging)]})
    monkeypatch.setattr(audit, "DELIVERY_TIMEOUT", 3)
    callback._start_waiting()
    process, _ = callback.waiting
    began = time.monotonic()
    with pytest.raises(StoreUnreachable):
        callback.deliver(line_with("n" * 200_000))
    assert process.poll() is not None and time.monotonic() - began < 30
    assert not trail(tmp_path).exists()


def add_from_another_run(spool_path: str, line: str) -> None:
    Spool(Path(spool_path)).add(line)


def test_a_line_another_run_spools_while_this_one_delivers_is_kept(tmp_path: Path):
    """Two runs on one controller: the second ends while the first hands the spool's lines over."""
    spool, delivered, other = Spool(tmp_path / "pending.jsonl"), [], []
    spool.add('{"run": "A"}')
    context = multiprocessing.get_context("spawn")

    def deliver(line):
        delivered.append(line)
        if not other:
            other.append(context.Process(target=add_from_another_run, args=(str(spool.path), '{"run": "B"}')))
            other[0].start()
            time.sleep(1)  # B waits for the spool meanwhile

    spool.flush(deliver)
    other[0].join(30)
    assert delivered == ['{"run": "A"}'] and spool.path.read_text() == '{"run": "B"}\n'
