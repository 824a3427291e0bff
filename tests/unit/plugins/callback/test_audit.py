import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.callback.audit import (
    LineRefused,
    Spool,
    StoreUnreachable,
    record,
    unsafe_vars,
)

START = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
OK = {"ok": 12, "changed": 3, "failures": 0, "unreachable": 0, "skipped": 1, "rescued": 0, "ignored": 0}


def test_a_run_says_who_when_which_playbook_environment_release_and_result():
    line = record("release.yml", {"otap_env": "production", "otap_release": "4", "otap_break_lock": "false"},
                  START, START + timedelta(seconds=19.04), {"prod1": OK, "prod2": OK}, False, "ops", "laptop")
    assert line == {
        "started": "2026-11-24T09:00:00+00:00", "ended": "2026-11-24T09:00:19+00:00", "seconds": 19.0,
        "by": "ops", "controller": "laptop", "awx_job_id": None, "playbook": "release.yml", "env": "production",
        "release": "4", "vars": {"otap_break_lock": "false"}, "check_mode": False,
        "hosts": {"prod1": OK, "prod2": OK}, "failed_hosts": [], "result": "ok"}


def test_a_failed_or_unreachable_host_makes_the_run_failed():
    line = record("sync.yml", {"otap_env": "test"}, START, START, {"test": OK | {"failures": 1}, "store": OK,
                                                                   "acc": OK | {"unreachable": 1}},
                  False, "ops", "laptop")
    assert line["result"] == "failed" and line["failed_hosts"] == ["acc", "test"]


def test_awx_names_the_user_who_launched_the_job():
    line = record("status.yml", {"awx_user_name": "webmaster", "awx_job_id": 31}, START, START, {}, True, "runner", "ee")
    assert (line["by"], line["awx_job_id"], line["check_mode"], line["env"]) == ("webmaster", 31, True, None)


@pytest.mark.parametrize("name", ["otap_vault_password", "otap_secret", "otap_api_token", "otap_ssh_key",
                                  "otap_password_hash", "joomla_site_db_password", "mariadb_replication_password"])
def test_no_secret_is_ever_recorded(name):
    line = record("site.yml", {name: "s3cr3t"}, START, START, {}, False, "ops", "laptop")
    assert "s3cr3t" not in str(line)


def test_lines_wait_in_the_spool_until_the_store_takes_them(tmp_path: Path):
    spool, taken = Spool(tmp_path / "spool" / "pending.jsonl"), []
    spool.add('{"n": 1}')
    spool.add('{"n": 2}')

    def unreachable(line):
        raise StoreUnreachable("store unreachable")

    assert spool.flush(unreachable) == (['{"n": 1}', '{"n": 2}'], [])
    spool.add('{"n": 3}')
    assert spool.flush(taken.append) == ([], []) and taken == ['{"n": 1}', '{"n": 2}', '{"n": 3}']
    assert not spool.path.exists()


def test_a_store_that_fails_half_way_keeps_the_rest_in_order(tmp_path: Path):
    spool, taken = Spool(tmp_path / "pending.jsonl"), []
    for n in range(3):
        spool.add(f'{{"n": {n}}}')

    def once(line):
        if taken:
            raise OSError("connection lost")
        taken.append(line)

    assert spool.flush(once) == (['{"n": 1}', '{"n": 2}'], [])
    assert spool.path.read_text() == '{"n": 1}\n{"n": 2}\n'


def test_a_line_the_store_refuses_is_set_aside_and_blocks_nothing(tmp_path: Path):
    spool, taken = Spool(tmp_path / "pending.jsonl"), []
    for line in ('{"n": 1}', '{"note": "{{ unbalanced"}', '{"n": 3}'):
        spool.add(line)

    def picky(line):
        if "unbalanced" in line:
            raise LineRefused("template error")
        taken.append(line)

    assert spool.flush(picky) == ([], ['{"note": "{{ unbalanced"}'])
    assert taken == ['{"n": 1}', '{"n": 3}'] and not spool.path.exists()
    assert (tmp_path / "pending.jsonl.rejected").read_text() == '{"note": "{{ unbalanced"}\n'


@pytest.mark.parametrize("text", ["{{ lookup('pipe', 'touch /tmp/otap-audit-pwned') }}", "{{ unbalanced",
                                  "{% raw %}x", '"quoted" \\ \u00e9 line\nnext'])
def test_the_line_goes_as_data_ansible_never_templates(tmp_path: Path, text):
    """What the second run does with the line: the ansible CLI reads the vars file and renders the argument."""
    line = json.dumps(record("approve.yml", {"otap_release": "4", "otap_approval_note": text}, START, START, {},
                             False, "carla", "laptop"), sort_keys=True)
    (tmp_path / "line.yml").write_text(unsafe_vars("otap_audit_line", line))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    done = subprocess.run([str(Path(sys.executable).with_name("ansible")), "localhost", "-c", "local", "-m",
                           "ansible.builtin.debug", "-a", '{"msg": "{{ otap_audit_line }}"}',
                           "-e", f"@{tmp_path / 'line.yml'}"],
                          capture_output=True, text=True, check=False, cwd=tmp_path,
                          env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                               "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                               "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")})
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout[done.stdout.index("{"):])["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["msg"] == line and json.loads(result["msg"])["vars"]["otap_approval_note"] == text
    assert not Path("/tmp/otap-audit-pwned").exists()
