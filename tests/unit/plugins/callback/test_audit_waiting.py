"""The `ansible` started with the run's first play, which waits for the run's audit line on a pipe:
tried for real (the ansible CLI, lineinfile on a local host), as the callback starts it."""

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.callback import audit
from ansible_collections.otap.street.plugins.callback.audit import CallbackModule, LineRefused, record

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
    with pytest.raises(LineRefused, match="the run ended before handing over its audit line"):
        callback._outcome(process)
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
