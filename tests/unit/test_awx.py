"""AWX as code (awx/street.yml) is consistent with the project: every job template's playbook
exists, every survey variable is one its playbook reads, every variable a playbook requires has
a required survey question (or a fixed value), and the workflow can only be approved by the
webmaster, with a finite timeout. No AWX server is needed."""

import re
from pathlib import Path

import pytest
import yaml
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.otap.street.plugins.filter.awx import awx_question, awx_workflow_node

ROOT = Path(__file__).resolve().parents[2]
# The surveys' choices are the inventory's environments, templated as configure.yml's play does.
ENVIRONMENTS = yaml.safe_load((ROOT / "inventories" / "example" / "group_vars" / "all" / "main.yml").read_text())[
    "otap_environments"]


def templated(value, names: dict):
    if isinstance(value, dict):
        return {key: templated(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [templated(item, names) for item in value]
    if isinstance(value, str) and "{{" in value:
        return NativeEnvironment().from_string(value).render(**names)
    return value


RAW = yaml.safe_load((ROOT / "awx" / "street.yml").read_text())
STREET = templated(RAW, {"otap_environments": ENVIRONMENTS,
                         "otap_lower_environments": templated(RAW["otap_lower_environments"],
                                                              {"otap_environments": ENVIRONMENTS})})
TEMPLATES = {t["name"]: t for t in STREET["awx_job_templates"]}


def usage(playbook: Path) -> list[str]:
    """The header's usage lines of this playbook: `ansible-playbook playbooks/X.yml -e ...`."""
    return [line for line in playbook.read_text().splitlines()
            if line.startswith("#") and f"ansible-playbook playbooks/{playbook.name}" in line]


def required(playbook: Path) -> set[str]:
    """Variables every usage line passes outside [brackets]."""
    per_line = [set(re.findall(r'-e "?(\w+)=', re.sub(r"\[[^]]*\]", "", line))) for line in usage(playbook)]
    return set.intersection(*per_line) if per_line else set()


@pytest.mark.parametrize("template", STREET["awx_job_templates"], ids=lambda t: t["name"])
def test_a_job_template_runs_an_existing_playbook_with_the_variables_it_reads(template):
    playbook = ROOT / template["playbook"]
    assert playbook.is_file()
    text = playbook.read_text()
    for question in template["survey"]:
        assert re.search(rf"\b{question['variable']}\b", text), f"{template['playbook']} never reads {question['variable']}"
    given = {q["variable"] for q in template["survey"] if q.get("required")} | set(template.get("extra_vars", {}))
    assert required(playbook) <= given, f"{template['name']} lacks a required question for {required(playbook) - given}"


# Run where AWX is not: on the agency's laptop, which nothing of the street reaches.
NOT_IN_AWX = {"playbooks/laptop.yml"}


def test_every_playbook_has_a_job_template():
    playbooks = {f"playbooks/{p.name}" for p in (ROOT / "playbooks").glob("*.yml")}
    assert {t["playbook"] for t in TEMPLATES.values()} == playbooks - NOT_IN_AWX


def test_the_usage_lines_say_what_is_required():
    assert required(ROOT / "playbooks" / "release.yml") == {"otap_env", "otap_release"}
    assert required(ROOT / "playbooks" / "failover.yml") == {"otap_action"}
    assert required(ROOT / "playbooks" / "approve.yml") == set()  # a release or a snapshot


def test_choices_are_environments_the_playbook_accepts():
    for template in TEMPLATES.values():
        for question in template["survey"]:
            if question["variable"] == "otap_env":
                # A sync request may name the agency's laptop too (playbooks/snapshot.yml answers it).
                laptop = ["laptop"] if template["playbook"] == "playbooks/request.yml" else []
                assert question["choices"] in (ENVIRONMENTS, [e for e in ENVIRONMENTS if e != "production"] + laptop)
    sync = TEMPLATES["Sync from Production"]["survey"][0]
    assert "production" not in sync["choices"] and sync["choices"] == ["development", "test", "acceptance"]
    assert TEMPLATES["Release"]["survey"][0]["choices"] == ["development", "test", "acceptance", "production"]


def test_the_surveys_offer_the_inventory_s_environments_not_a_list_of_their_own():
    """An inventory that names its environments otherwise gets them in every survey."""
    text = (ROOT / "awx" / "street.yml").read_text()
    assert not re.search(r"choices: \[[^]]*\b(test|acceptance)\b", text)
    other = templated(RAW, {"otap_environments": ["test", "production"],
                            "otap_lower_environments": ["test"]})
    releases = next(t for t in other["awx_job_templates"] if t["name"] == "Release")
    assert releases["survey"][0]["choices"] == ["test", "production"]


WORKFLOWS = {w["name"]: w for w in STREET["awx_workflows"]}


@pytest.mark.parametrize("workflow", WORKFLOWS.values(), ids=list(WORKFLOWS))
def test_only_the_webmaster_approves_production_and_the_approval_times_out(workflow):
    assert workflow["approve"] == ["Webmaster"] and 0 < workflow["approval_timeout"] <= 7 * 86400
    nodes = {n["identifier"]: n for n in workflow["nodes"]}
    production = [n for n in workflow["nodes"] if n.get("extra_vars", {}).get("otap_env") == "production"]
    assert len(production) == 1 and production[0]["job_template"] == "Release"
    # Production is reached only through the webmaster's approval node, and nothing after it.
    approval = next(n for n in workflow["nodes"] if n.get("success") == production[0]["identifier"])
    assert "approval" in approval and "success" not in production[0]
    assert [n for n in workflow["nodes"] if n.get("success") == approval["identifier"]] == [
        n for n in workflow["nodes"] if n is not approval and n is not production[0]]
    # A job a workflow spawns runs as the workflow's launcher (operations): the approval by name is
    # the Approve template the webmaster runs, never a node of a workflow.
    assert "Approve" not in {n.get("job_template") for n in workflow["nodes"]}
    assert all(n.get("job_template") in (None, *TEMPLATES) for n in workflow["nodes"])
    assert set(nodes) == {n["identifier"] for n in workflow["nodes"]}


def test_the_expedited_path_still_goes_through_acceptance_and_the_webmaster():
    urgent = WORKFLOWS["Urgent fix to Production"]
    steps, node = [], urgent["nodes"][0]
    while node:
        steps.append(node.get("extra_vars", {}).get("otap_env") or "approval")
        node = next((n for n in urgent["nodes"] if n["identifier"] == node.get("success")), None)
    assert steps == ["acceptance", "approval", "production"]
    assert urgent["approval_timeout"] < WORKFLOWS["Release to Production"]["approval_timeout"]


def test_the_teams_are_the_procedure_s_parties_and_grants_mirror_it():
    assert set(STREET["awx_teams"]) == {"Webmaster", "Operations", "Site developer"}
    assert TEMPLATES["Release to Test"]["execute"] == ["Site developer", "Operations"]
    assert TEMPLATES["Release"]["execute"] == ["Operations"]
    assert TEMPLATES["Approve"]["execute"] == ["Webmaster"]
    for template in TEMPLATES.values():
        assert set(template["execute"]) <= set(STREET["awx_teams"])


def test_schedules_run_existing_templates_on_test_and_acceptance():
    patched = {s["extra_vars"].get("otap_env") for s in STREET["awx_schedules"] if s["job_template"] == "OS update"}
    assert patched == {"test", "acceptance"}
    assert all(s["job_template"] in TEMPLATES and "RRULE:" in s["rrule"] for s in STREET["awx_schedules"])


def test_questions_and_nodes_take_awx_s_shape():
    item = awx_question({"variable": "otap_env", "question": "Environment", "type": "multiplechoice",
                         "required": True, "choices": ["test", "acceptance"]})
    assert item["question_name"] == "Environment" and item["choices"] == "test\nacceptance" and item["required"]
    node = awx_workflow_node(WORKFLOWS["Release to Production"]["nodes"][0], "Hospital portal", 3600)
    assert node["unified_job_template"] == {"name": "Webmaster says release may go to Production now",
                                            "type": "workflow_approval", "timeout": 3600,
                                            "description": "Webmaster says release may go to Production now"}
    assert node["related"]["success_nodes"] == [{"identifier": "release"}]


def test_no_team_may_change_the_automation_or_hold_the_agency_s_key():
    """Teams only launch job templates (and the webmaster approves): none may update the project the
    playbooks run from, and packaging takes its sources from the agency's repository and its key
    from a credential the agency attaches at launch."""
    tasks = yaml.load((ROOT / "awx" / "configure.yml").read_text(), Loader=yaml.BaseLoader)[0]["tasks"]
    roles = [t["awx.awx.role"] for t in tasks if "awx.awx.role" in t]
    assert roles and {r["role"] for r in roles} == {"execute", "approval"}
    assert all("projects" not in r and "project" not in r for r in roles)
    package = TEMPLATES["Package a release"]
    assert package["extra_vars"]["otap_package_repo"] != STREET["awx_project"]["scm_url"]
    assert package["ask_credential_on_launch"] is True


def test_survey_defaults_reach_awx():
    approve = next(q for q in TEMPLATES["Approve"]["survey"] if q["variable"] == "otap_accept_content_changes")
    assert awx_question(approve)["default"] == "false"
    assert awx_question({"variable": "otap_release", "question": "Release", "type": "integer"})["default"] == ""


def test_the_machine_credential_is_the_automation_account_not_root():
    """AWX logs in as the account the inventory it sources logs in with; role access closes root's login."""
    inventory = ROOT / Path(STREET["awx_inventory"]["source_path"]).parent
    automation = yaml.safe_load((inventory / "group_vars" / "all" / "main.yml").read_text())["ansible_user"]
    assert STREET["awx_machine_user"] == automation != "root"
    configure = (ROOT / "awx" / "configure.yml").read_text()
    assert "username: \"{{ awx_machine_user }}\"" in configure and "username: root" not in configure


def test_the_execution_environment_is_the_collection_s_version():
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert STREET["awx_execution_environment"]["image"].endswith(f":{version}")


def test_the_webmaster_alone_is_mailed_when_a_workflow_waits_for_an_approval():
    people = yaml.safe_load((ROOT / "inventories" / "docker" / "group_vars" / "all" / "people.yml").read_text())["otap_people"]
    webmaster = {p["email"] for p in people["webmaster"]}
    assert set(STREET["awx_approval_mail"]["recipients"]) == webmaster
    loader = type("Loader", (yaml.SafeLoader,), {})
    loader.add_constructor("!unsafe", lambda load, node: load.construct_scalar(node))
    configure = yaml.load((ROOT / "awx" / "configure.yml").read_text(), Loader=loader)[0]["tasks"]  # noqa: S506
    mail = next(t["awx.awx.notification_template"] for t in configure if "awx.awx.notification_template" in t)
    assert set(mail["messages"]["workflow_approval"]) == {"running", "timed_out"}
    workflows = next(t for t in configure if "awx.awx.workflow_job_template" in t)
    assert workflows["loop"] == "{{ awx_workflows }}"
    assert workflows["awx.awx.workflow_job_template"]["notification_templates_approvals"] == ["{{ awx_approval_mail.name }}"]
