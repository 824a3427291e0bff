"""The provisioned street: every environment's site, the production pair and its VIP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration import street

LOWER = ["development", "test", "acceptance"]


def site_url(host: str) -> str:
    return f"http://{street.hostvar(host, 'ansible_host')}/"


@pytest.mark.parametrize("env", LOWER)
def test_lower_environment_answers_with_its_own_settings(env):
    (name,) = street.group(env)
    page = street.get(site_url(name))
    assert page.status == 200
    assert page.title == f"Hospital portal ({env.capitalize()})"
    assert page.meta("otap-release") == "1"
    assert f'<link rel="canonical" href="http://{street.hostvar(name, "ansible_host")}/">' in page.body
    assert "Visiting hours" in page.body
    assert "Draft: winter flu campaign" not in page.body, "an unpublished article is shown"


def test_production_answers_on_the_vip_and_on_each_node():
    urls = [f"http://{street.vip()}/"] + [site_url(n) for n in street.group("production")]
    for url in urls:
        page = street.get(url)
        assert page.status == 200, url
        assert page.title == "Hospital portal", url
        assert page.meta("otap-release") == "1", url
        assert f'<link rel="canonical" href="http://{street.vip()}/">' in page.body, url


@pytest.mark.parametrize("env", LOWER + ["production"])
def test_lower_environments_never_mail(env):
    for name in street.group(env):
        config = street.host(name).file("/var/www/portal/shared/configuration.php")
        assert config.user == "root" and config.group == "www-data" and config.mode == 0o640
        expected = "1" if env == "production" else "0"
        assert f"public $mailonline = {expected};" in config.content_string


def test_release_layout_links_content_into_the_release():
    site = street.host("prod1")
    assert site.file("/var/www/portal/current").linked_to == "/var/www/portal/releases/1"
    assert site.file("/var/www/portal/releases/1/images").linked_to == "/var/www/portal/shared/images"
    assert site.file("/var/www/portal/shared/images/portal/hospital.svg").is_file
    assert site.file("/var/www/portal/releases/1/index.php").user == "root"


def test_vip_sits_on_exactly_one_node():
    holders = [n for n in street.group("production")
               if f"inet {street.vip()}/" in street.host(n).check_output("ip -4 -o addr show")]
    assert len(holders) == 1, holders


def primary() -> str:
    return street.primary()


def standby() -> str:
    return next(n for n in street.group("production") if n != primary())


def replica_status(name: str) -> dict[str, str]:
    out = street.host(name).check_output("mysql -e 'SHOW SLAVE STATUS\\G'")
    fields = (line.partition(":") for line in out.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, _, value in fields}


def test_replication_runs_without_errors():
    status = replica_status(standby())
    assert status["Slave_IO_Running"] == "Yes"
    assert status["Slave_SQL_Running"] == "Yes"
    assert status["Using_Gtid"] == "Slave_Pos"
    assert status["Last_Errno"] == status["Last_IO_Errno"] == status["Last_SQL_Errno"] == "0"


def test_a_write_on_the_primary_reaches_the_standby():
    marker = uuid.uuid4().hex
    source, target = street.host(primary()), street.host(standby())
    source.check_output(
        "mysql -e \"CREATE DATABASE IF NOT EXISTS otap_verify; "
        "CREATE TABLE IF NOT EXISTS otap_verify.probe (marker CHAR(32)); "
        f"INSERT INTO otap_verify.probe VALUES ('{marker}')\"")
    try:
        street.wait_for(lambda: target.run(f"mysql -N -e \"SELECT COUNT(*) FROM otap_verify.probe "
                                           f"WHERE marker = '{marker}'\"").stdout.strip() == "1",
                        10, f"the write on {primary()} on {standby()}")
    finally:
        source.check_output("mysql -e 'DROP DATABASE otap_verify'")


def test_the_standby_refuses_writes_from_the_site():
    node = street.host(standby())
    read = "php -r 'require \"/var/www/portal/shared/configuration.php\"; $c = new JConfig; echo $c->{0};'"
    user, password, db = (node.check_output(read.format(key)) for key in ("user", "password", "db"))
    sql = ("INSERT INTO jos_content (title, introtext, `fulltext`, created, modified) "
           "VALUES ('must not land', '', '', NOW(), NOW())")
    insert = node.run("mysql -h localhost -u %s -p%s %s -e %s", user, password, db, sql)
    assert insert.rc != 0
    assert "--read-only" in insert.stderr


def test_failover_status_reports_the_pair(tmp_path):
    report = tmp_path / "pair.json"
    run = street.playbook("failover", otap_action="status", otap_status_json=report)
    assert run.rc == 0, run.output[-2000:]
    assert run.changed == 0, "status changed the pair"
    pair = json.loads(report.read_text())
    assert pair["primary"] == primary() and pair["vip_holder"] == primary() and pair["vip_on_primary"]
    nodes = {n["node"]: n for n in pair["nodes"]}
    assert [n for n in nodes.values() if n["holds_vip"]] == [nodes[primary()]]
    assert nodes[primary()]["database"] == "primary" and not nodes[primary()]["read_only"]
    standby_node = nodes[standby()]
    assert standby_node["read_only"] and standby_node["io_running"] == standby_node["sql_running"] == "Yes"
    assert standby_node["database"] == "standby" and standby_node["replicating_from"] == primary()
    assert all(n["site_status"] == 200 for n in nodes.values())
    refused = street.playbook("failover", otap_action="promote-everything")
    assert refused.rc != 0 and "Say what to do" in refused.output


def test_a_playbook_runs_from_the_installed_artifact_not_from_this_checkout(tmp_path):
    """What a user installs with `ansible-galaxy collection install` runs against hosts: the
    built artifact, installed into an empty collections path, with a configuration of its own (no
    roles path into this checkout) and the street's inventory."""
    bin_dir = Path(sys.executable).parent
    built = subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path),
                            str(street.ROOT)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    (artifact,) = tmp_path.glob("otap-street-*.tar.gz")
    installed = tmp_path / "collections"
    config = tmp_path / "ansible.cfg"
    config.write_text(f"[defaults]\ninventory = {street.INVENTORY}\ncollections_path = {installed}\n"
                      "callbacks_enabled = otap.street.audit\ninterpreter_python = auto_silent\n"
                      "[ssh_connection]\npipelining = true\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_CONFIG": str(config), "ANSIBLE_COLLECTIONS_PATH": str(installed), "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_VAULT_PASSWORD_FILE": str(street.VAULT_PASSWORD)}
    done = subprocess.run([str(bin_dir / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(installed),
                           str(artifact)], capture_output=True, text=True, check=False, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "pair.json"
    run = subprocess.run([str(bin_dir / "ansible-playbook"), "otap.street.failover", "-e", "otap_action=status",
                          "-e", f"otap_status_json={report}"], capture_output=True, text=True, check=False,
                         env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    included = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("included: /")]
    assert included and all(path.startswith(f"{installed}/ansible_collections/otap/street/") for path in included), \
        included
    assert json.loads(report.read_text())["primary"] == primary()


def test_a_dry_run_of_site_on_the_provisioned_street_reports_nothing_to_change():
    """`site.yml --check` is how an operator sees what a run would do: on the street as provisioned
    it must report nothing, or it cries wolf. Run on the store and a production node (every role
    of the street but the lower environments', which run the same roles with fewer of their parts)."""
    run = street.playbook("site", "--check", "--limit", f"store,{street.group('production')[0]}")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, f"a dry run of site.yml reports changes: {run.changed_tasks}"
