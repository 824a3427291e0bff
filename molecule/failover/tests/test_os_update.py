"""OS updates travel Test, Acceptance, approval, Production. Acceptance receives exactly the
versions Test ran, and Production exactly the approved ones, not the newer ones their
repositories offer by then; Production one node at a time, while the VIP keeps answering reads
and writes.

The updates come from a package repository of the test on the store host: Debian's `less` and
`mariadb-common` rebuilt with bumped versions (+otap1, then +otap2). The +otap1 `less` asks for a
reboot, as a kernel or libc update does; `mariadb-common` takes MariaDB's deliberate path.
Runs after test_failover.py on the same street, in file order, as one story.
"""

from __future__ import annotations

import re
import time

import pytest
import yaml

from tests.integration import street

PACKAGES = ["less", "mariadb-common"]
NODES = street.group("test") + street.group("acceptance") + street.group("production")
SNAPSHOT: dict[str, str] = {}
REPOSITORY = street.PackageRepository(NODES, PACKAGES)


def publish(*args: str) -> None:
    REPOSITORY.publish(*args)


def version(name: str, package: str) -> str:
    return street.host(name).check_output(f"dpkg-query -W -f '${{Version}}' {package}")


def booted(name: str) -> str:
    return street.host(name).check_output("ps -o lstart= -p 1")


@pytest.fixture(scope="module", autouse=True)
def repository():
    with REPOSITORY:
        publish("build", "otap1", "reboot")
        publish("build", "otap2")
        publish("index", "otap1")
        yield


def test_an_os_update_without_an_environment_is_refused():
    run = street.playbook("os_update")
    assert run.rc != 0 and "Say which environment" in run.output


def test_production_refuses_an_update_nobody_approved():
    run = street.playbook("os_update", otap_env="production")
    assert run.rc != 0 and "No OS update snapshot is approved" in run.output
    assert not any(version(n, "less").endswith("+otap1") for n in street.group("production"))


@pytest.mark.parametrize("named", [None, "../approvals/os-acceptance-20991231T235959Z"])
def test_acceptance_refuses_an_update_test_has_not_run(named):
    """Acceptance installs what Test ran: with no snapshot of Test (or one that is not Test's),
    nothing is installed, however new the repository's versions."""
    acceptance = street.group("acceptance")[0]
    run = street.playbook("os_update", otap_env="acceptance", **({"otap_snapshot": named} if named else {}))
    said = "Test has no OS update snapshot" if not named else f"Snapshot {named} is not an OS update snapshot of Test"
    assert run.rc != 0 and said in " ".join(run.output.split()), run.output[-3000:]
    assert not version(acceptance, "less").endswith("+otap1")


@pytest.mark.parametrize("env", ["test", "acceptance"])
def test_a_lower_environment_applies_the_pending_updates_and_records_them(env):
    name = street.group(env)[0]
    before = {p: version(name, p) for p in PACKAGES}
    boot = booted(name)
    if env == "acceptance":
        publish("index", "otap1", "otap2")  # newer than what Test ran: Acceptance must not take it
    run = street.playbook("os_update", otap_env=env)
    assert run.rc == 0, run.output[-3000:]
    match = re.search(rf"Snapshot ({env}-\d{{8}}T\d{{6}}Z) recorded", run.output)
    assert match, run.output[-2000:]
    SNAPSHOT[env] = match.group(1)
    snapshot = yaml.safe_load(street.host("store").check_output(f"cat /srv/otap-store/snapshots/{match.group(1)}.yml"))
    for package in PACKAGES:
        assert version(name, package) == before[package] + "+otap1"
        assert snapshot["packages"][package] == before[package] + "+otap1"
        assert snapshot["hosts"][name][package] == {"from": before[package], "to": before[package] + "+otap1"}
    assert snapshot["installed_from"] == (SNAPSHOT["test"] if env == "acceptance" else None)
    assert booted(name) != boot, "the update asked for a reboot and the host did not reboot"
    assert street.get(f"http://{street.hostvar(name, 'ansible_host')}/").status == 200
    again = street.playbook("os_update", otap_env=env)
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]
    assert "Nothing to update on " + env in again.output


def test_check_mode_shows_a_newer_version_and_installs_nothing():
    publish("index", "otap1", "otap2")
    name = street.group("test")[0]
    installed = version(name, "less")
    run = street.playbook("os_update", "--check", otap_env="test")
    assert run.rc == 0, run.output[-3000:]
    assert "+otap2" in run.output and version(name, "less") == installed


def test_production_gets_exactly_the_approved_versions_one_node_at_a_time_without_a_failed_request():
    refused = street.playbook("approve", otap_snapshot=SNAPSHOT["acceptance"], otap_approver="bram")
    assert refused.rc != 0 and "bram may not approve for production" in " ".join(refused.output.split())
    approved = street.playbook("approve", otap_snapshot=SNAPSHOT["acceptance"], otap_approver="carla")
    assert approved.rc == 0, approved.output[-2000:]
    people = {"webmaster": ["webmaster@portal.example.org"], "operations": ["operations@hosting.example.net"],
              "developer": ["developer@agency.example.com"]}
    with street.MailSink() as mail, street.Probe(street.vip()) as probe:
        run = street.playbook("os_update", otap_env="production", otap_people=people, otap_smtp_host="127.0.0.1",
                              otap_smtp_port=mail.port)
        time.sleep(2)
    assert run.rc == 0, run.output[-3000:]
    print(f"rolling OS update: {len(probe.results)} requests, longest wait {probe.longest_gap():.1f}s")
    assert probe.writes > 5 and not probe.failures, probe.failures[:5]
    acceptance = street.group("acceptance")[0]
    for name in street.group("production"):
        for package in PACKAGES:
            assert version(name, package) == version(acceptance, package), f"{package} on {name}"
            assert not version(name, package).endswith("+otap2")
        assert probe.votes_on(name) == probe.writes
        assert "mariadb-common" in street.host(name).check_output("apt-mark showhold").split()
    assert street.get(f"http://{street.vip()}/").status == 200
    assert [sorted(m["to"]) for m in mail.messages] == [["operations@hosting.example.net", "webmaster@portal.example.org"]]
    assert mail.messages[0]["subject"].startswith("OS update of production: ")
    assert "less " in mail.messages[0]["body"] and "+otap1" in mail.messages[0]["body"]
    again = street.playbook("os_update", otap_env="production")
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]


def test_an_approved_version_no_longer_offered_is_refused_and_nothing_changes():
    node = street.group("production")[-1]
    debian = version(node, "less").removesuffix("+otap1")
    street.host(node).check_output(f"apt-get install -y -q --allow-downgrades less={debian} >/dev/null")
    publish("index", "otap2")
    run = street.playbook("os_update", otap_env="production")
    assert run.rc != 0 and "no longer available" in run.output and "less" in run.output, run.output[-3000:]
    assert version(node, "less") == debian
    publish("index", "otap1", "otap2")
    mended = street.playbook("os_update", otap_env="production")
    assert mended.rc == 0, mended.output[-3000:]
    assert version(node, "less") == debian + "+otap1"
