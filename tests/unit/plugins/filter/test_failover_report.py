import base64
import json

from ansible_collections.otap.street.plugins.filter.failover_report import failover_report
from ansible_collections.otap.street.plugins.filter.failover_summary import failover_summary


def db(role, read_only, source="", lag=None, error=""):
    return {"role": role, "read_only": read_only, "gtid_binlog_pos": "0-1-42", "replicating_from": source,
            "io_running": "Yes" if source else "", "sql_running": "Yes" if source else "", "lag_seconds": lag,
            "last_error": error}


PAIR = {"primary": "prod1", "nodes": {"prod1": db("primary", False), "prod2": db("standby", True, "prod1", 0)}}
ADDRESSES = {"prod1": "10.0.0.21", "prod2": "10.0.0.22"}


def page(address, status=200, release=4):
    """An address's answer, as lookup otap.street.site_release gives it (status None: no answer)."""
    return {"address": address, "status": status, "release": release, "said": "..."}


def decision(node, data):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {"item": {"item": node}, "content": base64.b64encode(raw).decode()}


def report(**change):
    args = {"sites": [page("10.0.0.21"), page("10.0.0.22"), page("10.0.0.20")], "decisions": [],
            "vip_holders": ["prod1"], "pair": PAIR} | change
    return failover_report(args["pair"], ["prod1", "prod2"], ADDRESSES, "10.0.0.20", args["vip_holders"],
                           args["sites"], args["decisions"], {"differences": 0, "lag_seconds": None})


def test_a_healthy_pair_in_one_record():
    r = report()
    assert (r["vip_holder"], r["primary"], r["vip_on_primary"], r["vip_site_status"], r["vip_site_release"]) == \
        ("prod1", "prod1", True, 200, "4")
    first, second = r["nodes"]
    assert (first["node"], first["holds_vip"], first["database"], first["read_only"], first["site_release"]) == \
        ("prod1", True, "primary", False, "4")
    assert (second["replicating_from"], second["lag_seconds"], second["last_decision"]) == ("prod1", 0, None)
    assert r["uploads"] == {"differences": 0, "lag_seconds": None}


def test_a_vip_apart_from_the_primary_or_on_both_nodes_is_said():
    assert not report(vip_holders=["prod2"])["vip_on_primary"]
    both = report(vip_holders=["prod1", "prod2"])
    assert both["vip_holder"] == "prod1,prod2" and not both["vip_on_primary"]
    assert not report(vip_holders=[])["vip_on_primary"]


def test_a_site_that_did_not_answer_or_has_no_marker():
    r = report(sites=[page("10.0.0.21", None, None), page("10.0.0.22", 503, None)])
    assert [(n["site_status"], n["site_release"]) for n in r["nodes"]] == [(-1, ""), (503, "")]
    assert (r["vip_site_status"], r["vip_site_release"]) == (-1, "")


def test_each_node_s_last_decision_and_an_unreadable_one():
    told = {"time": 1764842400, "state": "MASTER", "outcome": "promoted: the witness saw prod1 gone"}
    r = report(decisions=[decision("prod2", told), decision("prod1", b"{not json")])
    assert r["nodes"][1]["last_decision"] == told
    assert r["nodes"][0]["last_decision"]["outcome"].startswith("unreadable")


def test_the_summary_says_the_pair_its_uploads_each_node_and_its_last_decision():
    lines = failover_summary(report(decisions=[decision("prod2", {"time": 1764900000, "state": "BACKUP",
                                                                  "outcome": "kept: read-only"})]))
    assert lines == [
        "Production pair: VIP 10.0.0.20 on prod1, database primary prod1; the VIP answers HTTP 200 with release 4",
        "Uploads: level on the standby",
        "prod1: holds the VIP, database primary (writable), site HTTP 200 release 4",
        "prod2: database standby (read_only), replicating from prod1 io=Yes sql=Yes lag=0s, site HTTP 200 release 4",
        "prod2: last failover decision (2025-12-05 02:00:00 UTC, on BACKUP): kept: read-only"]


def test_the_summary_says_what_to_run_when_the_vip_and_the_primary_are_apart_and_what_is_unknown():
    pair = {"primary": None, "nodes": {"prod1": db("stray", True, error="Error 1236"), "prod2": db("standby", True, "prod1")}}
    lines = failover_summary(report(pair=pair, vip_holders=[], sites=[page("10.0.0.21", None, None)]) | {"uploads": None})
    assert lines[0] == ("Production pair: VIP 10.0.0.20 on no node, database primary none (VIP and primary apart: run "
                        "failover.yml -e otap_action=switchover); the VIP answers HTTP -1 with release ?")
    assert lines[1:] == [
        "prod1: database stray (read_only), error: Error 1236, site HTTP -1 release ?",
        "prod2: database standby (read_only), replicating from prod1 io=Yes sql=Yes lag=?s, site HTTP -1 release ?"], \
        "no uploads line when they were not read"
