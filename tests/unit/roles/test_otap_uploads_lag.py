"""The primary's measure of how far the standby's uploads are behind
(roles/pair_uploads/files/otap_uploads_lag.py): read from a dry run of the push."""

import importlib.util
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "roles" / "pair_uploads" / "files" / "otap_uploads_lag.py"
spec = importlib.util.spec_from_file_location("otap_uploads_lag", PATH)
lag = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lag)

NOW = datetime(2026, 12, 4, 1, 40, tzinfo=timezone.utc).timestamp()


def dry_run(stdout="", returncode=0, stderr=""):
    calls = []

    def run(argv, **kwargs):
        calls.append((argv, kwargs.get("timeout")))
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)

    return run, calls


def test_level_uploads_have_no_lag_and_the_push_only_says_what_it_would_do():
    run, calls = dry_run()
    assert lag.measure("/push", run, lambda: NOW) == {"time": NOW, "differences": 0, "lag_seconds": None,
                                                      "error": ""}
    assert calls == [(["/push", "--dry-run"], lag.TIMEOUT)]


def test_the_lag_is_the_age_of_the_oldest_file_not_yet_copied():
    lines = [
        "<f+++++++++ 2026/12/04-01:39:58 prod2:images/new.png",
        "<f.st...... 2026/12/04-01:38:20 prod2:images/dir with spaces/changed 2026/01/01-00:00:00.png",
        "cd+++++++++ 2026/12/04-01:00:00 prod2:images/new folder/",
        "*deleting   1970/01/01-00:00:00 prod2:images/gone.png",
    ]
    assert lag.pending(lines, NOW) == (4, 100)


def test_pending_deletions_and_folders_count_but_have_no_age():
    assert lag.pending(["*deleting   1970/01/01-00:00:00 prod2:images/gone.png",
                        "cd+++++++++ 2020/01/01-00:00:00 prod2:images/old folder/"], NOW) == (2, None)


def test_a_file_from_a_clock_ahead_is_not_a_negative_lag():
    assert lag.pending(["<f+++++++++ 2026/12/04-01:40:09 prod2:images/a"], NOW) == (1, 0)


@pytest.mark.parametrize("stdout", ["garbage", "<f+++++++++ yesterday prod2:images/a"])
def test_output_that_is_not_the_push_s_is_an_error_not_a_number(stdout):
    run, _ = dry_run(stdout)
    measured = lag.measure("/push", run, lambda: NOW)
    assert measured["differences"] is None and measured["lag_seconds"] is None and measured["error"]


@pytest.mark.parametrize(("failure", "said"), [
    (dict(returncode=12, stderr="otap-uploads-receive: refused: this node follows nobody\nrsync error: 12\n"),
     "rsync error: 12"),
    (dict(returncode=255, stderr=""), "the dry run ended with status 255"),
])
def test_a_standby_that_refuses_or_cannot_be_reached_is_the_answer_not_a_failure(failure, said):
    run, _ = dry_run(**failure)
    assert lag.measure("/push", run, lambda: NOW) == {"time": NOW, "differences": None, "lag_seconds": None,
                                                      "error": said}


@pytest.mark.parametrize("error", [subprocess.TimeoutExpired(["/push"], 60), FileNotFoundError("/push")])
def test_a_push_that_hangs_or_is_missing_is_the_answer_too(error):
    def run(argv, **kwargs):
        raise error

    measured = lag.measure("/push", run, lambda: NOW)
    assert measured["differences"] is None and measured["error"]


def test_the_timer_s_run_replaces_the_record_whole(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(lag, "measure", lambda: {"time": 1.0, "differences": 0, "lag_seconds": None, "error": ""})
    record = tmp_path / "lag.json"
    record.write_text("old")
    assert lag.main(["otap-uploads-lag", "--write", str(record), "--every", "10"]) == 0
    written = json.loads(record.read_text())
    assert written == {"time": 1.0, "differences": 0, "lag_seconds": None, "error": "", "fresh_for": 20 + lag.TIMEOUT}
    assert json.loads(capsys.readouterr().out) == written, "what it prints is what it wrote"
    assert not (tmp_path / "lag.json.new").exists()
    for wrong in (["--write", str(record)], ["--bogus"], ["--write", str(record), "--every", "often"]):
        assert lag.main(["otap-uploads-lag", *wrong]) == 2


def test_an_error_keeps_the_time_it_began_until_it_ends(monkeypatch, tmp_path, capsys):
    record = tmp_path / "lag.json"
    results = iter([{"time": t, "differences": None, "lag_seconds": None, "error": "refused"} for t in (100.0, 110.0)]
                   + [{"time": 120.0, "differences": 0, "lag_seconds": None, "error": ""},
                      {"time": 130.0, "differences": None, "lag_seconds": None, "error": "refused"}])
    monkeypatch.setattr(lag, "measure", lambda: next(results))
    since = []
    for _ in range(4):
        lag.main(["otap-uploads-lag", "--write", str(record), "--every", "10"])
        since.append(json.loads(record.read_text()).get("error_since"))
    assert since == [100.0, 100.0, None, 130.0]
