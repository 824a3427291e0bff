import pytest

from ansible_collections.otap.street.plugins.module_utils.promotion import (
    accepted_tables,
    agreed_tables,
    approval_record,
    approval_refusals,
    approver_refusals,
    rollout_refusals,
    served_refusals,
)

REGISTER = [{"release": 1}, {"release": 2, "sha256": "a" * 64}, {"release": 3, "sha256": "b" * 64,
                                                                   "joomla_update": "core 5.2.2"},
            {"release": 4, "sha256": "c" * 64, "withdrawn": {"reason": "broken"}}]


def done(env, release, start, **extra):
    return {"env": env, "release": release, "from_release": start, "result": "done", **extra}


ON_ACCEPTANCE = [done("test", 3, 1), done("acceptance", 3, 1)]


@pytest.mark.parametrize(("env", "release", "deployments", "approval", "says"), [
    ("test", 9, [], None, "not in the register"),
    ("test", 4, [], None, "was withdrawn (broken)"),
    ("acceptance", 3, [done("test", 2, 1)], None, "is not on test yet"),
    ("production", 3, [done("test", 3, 1), done("acceptance", 2, 1)], None, "is not on acceptance yet"),
    ("production", 3, ON_ACCEPTANCE, None, "is not approved for production"),
    ("production", 3, ON_ACCEPTANCE, {"release": 3, "sha256": "a" * 64}, "not the one the webmaster approved"),
    ("production", 3, ON_ACCEPTANCE, {"release": 3}, "not the one the webmaster approved"),
])
def test_each_gate_refuses_with_what_to_run_next(env, release, deployments, approval, says):
    refusals = rollout_refusals(env, release, REGISTER, deployments, approval)
    assert refusals and says in refusals[0]


@pytest.mark.parametrize(("env", "deployments", "approval"), [
    ("test", [], None),
    ("development", [], None),
    ("acceptance", [done("test", 3, 2)], None),
    ("production", ON_ACCEPTANCE, {"release": 3, "sha256": "b" * 64}),
])
def test_open_gates(env, deployments, approval):
    assert rollout_refusals(env, 3, REGISTER, deployments, approval) == []


def test_a_release_carried_by_a_rollout_of_a_later_one_counts_as_on_acceptance():
    deployments = [done("acceptance", 3, 1)]
    assert approval_refusals(2, REGISTER, deployments, False) == []


def test_undeclared_content_changes_block_approval_until_accepted():
    change = {"table": "#__content", "rows_before": 12, "rows_after": 0, "rows_changed_or_removed": 12,
              "declared": False}
    deployments = [done("test", 3, 2), done("acceptance", 3, 2, content_changes=[change])]
    refusal = approval_refusals(3, REGISTER, deployments, False)
    assert refusal and "#__content (12 of 12 rows changed or removed, 0 rows after)" in refusal[0]
    assert "otap_accept_content_changes" in refusal[0]
    assert approval_refusals(3, REGISTER, deployments, True) == []
    # The release before it was not carried by that rollout: its approval is not blocked.
    assert approval_refusals(2, REGISTER, deployments + [done("acceptance", 2, 1)], False) == []


def test_rows_a_release_added_are_named_and_an_approval_says_which_tables_it_accepted():
    change = {"table": "#__users", "rows_before": 3, "rows_after": 4, "rows_changed_or_removed": 0, "rows_new": 1,
              "declared": False}
    deployments = [done("test", 3, 2), done("acceptance", 3, 2, content_changes=[change])]
    refusal = approval_refusals(3, REGISTER, deployments, False)
    assert refusal and "#__users (0 of 3 rows changed or removed, 1 new or rewritten, 4 rows after)" in refusal[0]
    approval = approval_record(3, REGISTER, deployments, "carla", "2026-12-07", "")
    assert accepted_tables(approval) == ["#__users"]
    assert accepted_tables(None) == [] and accepted_tables({"content_changes_accepted": None}) == []
    assert accepted_tables({"content_changes_accepted": ["#__users", {"rows_new": 1}]}) == []


def test_declared_content_changes_do_not_block():
    change = {"table": "#__menu", "rows_before": 12, "rows_after": 10, "declared": True}
    assert approval_refusals(3, REGISTER, [done("acceptance", 3, 2, content_changes=[change])], False) == []


def test_approval_needs_acceptance():
    assert "has not been on acceptance" in approval_refusals(3, REGISTER, [done("test", 3, 1)], False)[0]
    assert "nothing to approve" in approval_refusals(4, REGISTER, [], False)[0]


PACKAGE = "d" * 64


def serving(release, database=None, package=PACKAGE, sql=None):
    return {"release": release, "database": release if database is None else database, "package": package,
            "sql": release if sql is None else sql}


@pytest.mark.parametrize(("served", "says"), [
    ({"acc": serving(2)}, "acc serves release 2"),                      # rolled back, or synced from Production
    ({"acc": serving(4)}, "acc serves release 4"),                      # a later release that carries it
    ({"acc": serving(0)}, "acc serves release none"),                   # nothing live
    ({"acc1": serving(3), "acc2": serving(2)}, "acc2 serves release 2"),  # one host of two behind
    ({}, "no acceptance host answered"),
])
def test_approval_needs_acceptance_to_serve_the_very_release_now(served, says):
    refusal = served_refusals(3, served, PACKAGE)
    assert refusal and says in refusal[0] and "acc1" not in refusal[0]
    assert "Acceptance does not serve release 3 now" in refusal[0]


@pytest.mark.parametrize(("served", "says"), [
    ({"acc": serving(3, database=2)}, "acc's database records release 2, not 3"),   # database restored or synced
    ({"acc": serving(3, database=0)}, "acc's database records release none, not 3"),
    ({"acc": serving(3, package="e" * 64)}, "acc serves release 3 staged from another package than the registered one (staged eeeeeeeeeeee"),
    ({"acc": serving(3, package="")}, "staged unknown, registered dddddddddddd"),     # not staged by a rollout
    ({"acc1": serving(3), "acc2": serving(3, database=4)}, "acc2's database records release 4"),
    ({"acc": serving(3, sql=4)}, "acc's database ran the SQL of release 4 (a rollback returns the code, not the schema)"),
])
def test_approval_needs_the_release_s_database_and_package_served(served, says):
    refusal = served_refusals(3, served, PACKAGE)
    assert len(refusal) == 1 and says in refusal[0], refusal


def test_approval_when_acceptance_serves_the_release_now():
    assert served_refusals(3, {"acc1": serving(3), "acc2": serving(3)}, PACKAGE) == []
    assert served_refusals(3, {"acc": serving(3, sql=2)}, PACKAGE) == []  # release 3 carries no SQL
    assert approval_refusals(3, REGISTER, ON_ACCEPTANCE, False) == []


@pytest.mark.parametrize(("approver", "webmasters", "says"), [
    ("bram", ["carla"], "bram may not approve for production: only the webmaster's party does (carla"),
    ("", ["carla"], "Say who approves (-e otap_approver=NAME; in AWX, the job's user): only the webmaster's party"),
    ("Carla", ["carla"], "Carla may not approve"),
    ("carla ", ["carla"], "may not approve"),
    ("carla", [], "No webmaster is named in otap_people"),
])
def test_only_a_named_webmaster_approves(approver, webmasters, says):
    refusal = approver_refusals(approver, webmasters)
    assert len(refusal) == 1 and says in refusal[0]


def test_a_named_webmaster_approves():
    assert approver_refusals("carla", ["dirk", "carla"]) == []


def test_the_approval_names_the_package_the_approver_and_what_was_accepted():
    change = {"table": "#__content", "rows_before": 12, "rows_after": 0, "declared": False}
    record = approval_record(3, REGISTER, [done("acceptance", 3, 2, content_changes=[change])], "carla",
                             "2026-12-03T10:00:00Z", "{{ lookup('pipe', 'id') }}")
    assert record == {"release": 3, "sha256": "b" * 64, "approved_by": "carla", "approved_at": "2026-12-03T10:00:00Z",
                      "note": "{{ lookup('pipe', 'id') }}", "joomla_update": "core 5.2.2",
                      "content_changes_accepted": [change], "content_declared": []}
    assert approval_record(3, REGISTER, [], "carla", "", "", recorded_by="root")["recorded_by"] == "root"
    assert approval_record(3, REGISTER, [], "carla", "", "", recorded_by="carla")["recorded_by"] == "carla"


def test_an_approval_shows_what_every_release_it_carries_declares_and_agrees_to_that_alone():
    register = [{"release": 2, "sha256": "a" * 64, "content_changes": ["#__menu"]},
                {"release": 3, "sha256": "b" * 64, "content_changes": ["#__users", "#__user_usergroup_map"]},
                {"release": 4, "sha256": "c" * 64, "content_changes": ["#__tags"], "withdrawn": {"reason": "x"}},
                {"release": 5, "sha256": "d" * 64},
                {"release": 6, "sha256": "e" * 64, "content_changes": ["#__contact_details"]}]
    deployments = [done("production", 2, 1), done("acceptance", 5, 2)]
    approval = approval_record(5, register, deployments, "carla", "2026-12-07", "")
    # Production is at 2: the rollout of 5 carries 3 (and 5); 4 is withdrawn, 6 comes later.
    assert approval["content_declared"] == [{"release": 3, "tables": ["#__user_usergroup_map", "#__users"]}]
    assert agreed_tables(approval) == ["#__user_usergroup_map", "#__users"]
    approval["content_changes_accepted"] = [{"table": "#__menu", "declared": False}]
    assert agreed_tables(approval) == ["#__menu", "#__user_usergroup_map", "#__users"]
    # An approval from before approvals showed declarations: the releases' own declarations count.
    assert agreed_tables({"release": 5}) is None and agreed_tables(None) is None
    assert agreed_tables({"content_declared": []}) == []
