"""Operations' view of the street: the audit trail of every run.

Runs last, on the street the earlier tests left.
"""

from __future__ import annotations

import json

from tests.integration import street

AUDIT = "/srv/otap-store/audit/runs.jsonl"


def audit(last: int) -> list[dict]:
    return [json.loads(line) for line in street.host("store").check_output(f"tail -n {last} {AUDIT}").splitlines()]


def test_every_run_of_a_playbook_is_in_the_audit_trail_with_who_what_where_and_the_result():
    refused = street.playbook("sync", otap_env="production")
    status = street.playbook("failover", otap_action="status")
    assert refused.rc != 0 and status.rc == 0, status.output[-2000:]
    first, second = audit(2)
    assert (first["playbook"], first["env"], first["result"]) == ("sync.yml", "production", "failed")
    assert first["failed_hosts"] == ["localhost"]
    assert (second["playbook"], second["env"], second["result"]) == ("failover.yml", "production", "ok")
    assert second["vars"] == {"otap_action": "status"} and second["by"] and second["started"] <= second["ended"]
    assert set(second["hosts"]) == {"localhost", street.group("production")[0]}
