"""Operations' view of the street: the audit trail of every run, the status report.

Runs last, on the street the earlier tests left.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import yaml

from tests.integration import street

AUDIT = "/srv/otap-store/audit/runs.jsonl"
ENVS = ["development", "test", "acceptance", "production"]


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


def test_text_a_person_typed_is_recorded_verbatim_and_never_evaluated():
    """An approval note and a package author, typed in AWX's survey: data, whatever they look like."""
    trap = "{{ lookup('pipe', 'touch /tmp/otap-audit-pwned') }}"
    release = street.get(f"http://{street.vip()}/").meta("otap-release")
    note = f"Tested on acceptance {trap} and left an unbalanced {{{{ here"
    run = street.playbook("approve", typed={"otap_release": release, "otap_approval_note": note}, awx_user_name="carla",
                         awx_job_id="7")
    assert run.rc == 0, run.output[-2000:]
    recorded = audit(1)[0]
    assert (recorded["playbook"], recorded["vars"]["otap_approval_note"]) == ("approve.yml", note)
    author = "Agency {{ unbalanced"
    run = street.playbook("package", typed={"otap_package_src": str(street.ROOT / "examples/releases/02-footer"),
                                             "otap_package_author": author + " " + trap})
    assert run.rc == 0 and "was already packaged" in run.output, run.output[-2000:]
    assert audit(1)[0]["vars"]["otap_package_author"] == author + " " + trap
    assert not Path("/tmp/otap-audit-pwned").exists(), "a typed text ran a command on the controller"
    later = street.playbook("failover", otap_action="status")
    assert later.rc == 0 and audit(1)[0]["playbook"] == "failover.yml", "a later run was not recorded"


def rendered(page: str) -> str:
    """The page as headless Chromium renders it (its DOM after parsing), no server involved."""
    done = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", f"file://{page}"],
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout


def releases_shown(dom: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-env="([a-z]+)">.*?<td class="release">\s*(\d+)', dom, re.S)
    return dict(rows)


def test_the_status_report_renders_and_shows_each_environment_s_release(tmp_path):
    if street.host("store").run("grep -q '\"env\": \"test\"' /srv/otap-store/audit/syncs.jsonl").rc:
        assert street.playbook("sync", otap_env="test").rc == 0  # scenario sync syncs Test; alone, this test does
    served = {env: street.get(f"http://{street.hostvar(street.group(env)[0], 'ansible_host')}/").meta("otap-release")
              for env in ENVS}
    tmp_path.chmod(0o755)  # as the playbook makes the report's folder, so that it has nothing to change
    run = street.playbook("status", status_output_dir=tmp_path)
    assert run.rc == 0 and run.changed == 0, run.output[-3000:]
    report = json.loads((tmp_path / "status.json").read_text())
    assert {e["env"]: str(e["release"]) for e in report["environments"]} == served
    assert releases_shown(rendered(tmp_path / "status.html")) == served
    assert report["production"]["vip_holder"] == street.vip_holder()
    sync = next(e for e in report["environments"] if e["env"] == "test")["last_sync"]
    assert sync is not None and sync["release"] == int(served["production"])
    # Every incident and request not closed is listed, as the store keeps them (scenario sync's request, resolved).
    store = street.host("store")
    paths = store.run("ls /srv/otap-store/requests/*.yml /srv/otap-store/incidents/*.yml 2>/dev/null").stdout.split()
    records = [yaml.safe_load(store.check_output(f"cat {path}")) for path in paths]
    assert sorted((r["kind"], r["number"]) for r in records if r["state"] != "closed") == \
        sorted((r["kind"], r["number"]) for r in report["open_requests"])
    dom = rendered(tmp_path / "status.html")
    assert '<table id="requests">' in dom
    # The agency's laptop snapshot (scenario sync makes one; alone, this test sees none), with its age.
    laptop = store.run("grep '\"env\": \"laptop\"' /srv/otap-store/audit/syncs.jsonl | tail -1").stdout
    shown = re.search(r'<p id="laptop-snapshot">(.*?)</p>', dom, re.S)[1]
    if laptop:
        assert report["laptop_snapshot"]["file"] == json.loads(laptop)["file"]
        assert f"release <b>{json.loads(laptop)['release']}</b>" in shown and " h ago" in shown
    else:
        assert report["laptop_snapshot"] is None and "none" in shown


def test_the_report_names_a_code_tree_edited_by_hand(tmp_path):
    test = street.host(street.group("test")[0])
    index = "/var/www/portal/current/index.php"
    if street.get(f"http://{street.hostvar('test', 'ansible_host')}/").meta("otap-release") != \
            street.get(f"http://{street.vip()}/").meta("otap-release"):
        assert street.playbook("sync", otap_env="test").rc == 0
    test.check_output(f"cp -a {index} /root/index.php.kept && echo '<!-- hotfix -->' >> {index}")
    try:
        with street.MailSink() as mail:  # as the scheduled run (AWX's Status watch, or cron) runs it
            run = street.playbook("status", status_output_dir=tmp_path, otap_notify_drift="true")
    finally:
        test.check_output(f"mv /root/index.php.kept {index}")
    assert run.rc == 0, run.output[-3000:]
    report = json.loads((tmp_path / "status.json").read_text())
    assert "test: code tree differs from Production's release" in " ".join(report["drift"])
    assert [(m["to"], m["subject"]) for m in mail.messages] == [
        (["anna@hosting.example.net"], f"The street has drifted: {len(report['drift'])} finding(s)")]
    assert "- test: code tree differs from Production's release" in mail.messages[0]["body"]
    assert "code tree differs from Production" in rendered(tmp_path / "status.html")


def test_the_system_documentation_is_generated_from_the_servers_and_renders(tmp_path):
    tmp_path.chmod(0o755)
    run = street.playbook("system_docs", system_docs_output_dir=tmp_path)
    assert run.rc == 0 and run.changed == 0, run.output[-3000:]
    docs = json.loads((tmp_path / "system.json").read_text())
    dom = rendered(tmp_path / "system.html")
    servers = {h["name"]: h for e in docs["environments"] for h in e["hosts"]} | {h["name"]: h for h in docs["store"]}
    assert sorted(servers) == sorted([h for env in ENVS for h in street.group(env)] + street.group("release_store"))
    for name, seen in servers.items():
        node = street.host(name)
        # What the page says each server runs is what the server says.
        assert seen["address"] == street.hostvar(name, "ansible_host") and f'data-host="{name}"' in dom
        assert seen["os"].startswith("Debian " + node.check_output("cat /etc/debian_version"))
        if name != "store":
            assert seen["versions"]["MariaDB"] == node.check_output("dpkg-query -W -f '${Version}' mariadb-server")
            assert seen["versions"]["PHP"] == node.check_output("dpkg-query -W -f '${Version}' php8.2-fpm")
            assert seen["versions"]["Apache"] == node.check_output("dpkg-query -W -f '${Version}' apache2")
            assert seen["versions"]["Joomla"]
        ssh = next(r for r in seen["firewall"] if r["what"].startswith("SSH"))
        assert ssh["ports"] == ["22"] and "everyone" not in ssh["sources"]
    pair = street.group("production")
    mariadb = next(r for r in servers[pair[0]]["firewall"] if r["what"] == "MariaDB within the pair")
    assert mariadb["ports"] == ["3306"]
    access = {a["party"]: a for a in docs["access"]}
    assert (access["webmaster"]["login"], access["developer"]["where"]) == ("no SSH login", ["development", "test"])
    assert [(c["party"], c["name"], c["phone"]) for c in docs["contacts"]][:1] == [("operations", "anna", "+31 20 555 0201")]
    assert ("Nightly backup", "every day at 02:00 UTC") in [(s["name"], s["when"]) for s in docs["schedules"]]
    for shown in ("+31 20 555 0201", "no SSH login", "MariaDB within the pair", "every day at 02:00 UTC"):
        assert shown in dom, shown


def backups(env: str) -> list[dict]:
    text = street.host("store").check_output("cat /srv/otap-store/backups/index.jsonl")
    return [entry for entry in map(json.loads, text.splitlines()) if entry["env"] == env]


def test_restore_drill_back_up_damage_restore_compare():
    nodes = street.group("production")
    index = "cat /srv/otap-store/backups/index.jsonl 2>/dev/null; ls /srv/otap-store/backups"
    listed = street.host("store").check_output(index)
    dry = street.playbook("backup", "--check", otap_env="production")
    assert dry.rc == 0 and dry.changed == 0, dry.output[-3000:]
    assert "Check mode: a real run would back production up as production-" in " ".join(dry.output.split())
    assert street.host("store").check_output(index) == listed, "a dry run of the backup stored something"
    run = street.playbook("backup")
    assert run.rc == 0, run.output[-3000:]
    assert {entry["env"] for entry in map(json.loads, street.host("store").check_output(
        "cat /srv/otap-store/backups/index.jsonl").splitlines())} == set(ENVS)
    backup = backups("production")[-1]["id"]
    before = street.state_of(nodes)
    holder_name = street.vip_holder()
    primary, holder = street.host(street.primary()), street.host(holder_name)
    primary.check_output("mysql portal -e 'DELETE FROM jos_content WHERE id = 1; UPDATE jos_users SET name = 0'")
    holder.check_output("rm -rf /var/www/portal/shared/images/portal && touch /var/www/portal/shared/images/intruder.php")
    street.wait_for(street.uploads_level, 15, "the damage replicated to the standby")
    damaged = street.state_of(nodes)
    assert damaged != before

    refused = street.playbook("restore", otap_env="production", otap_backup=backup)
    assert refused.rc != 0 and f"confirm with -e otap_confirm={backup}" in " ".join(refused.output.split())
    store = street.host("store")
    stored = f"/srv/otap-store/backups/{backup}/database.sql.gz"
    store.check_output(f"cp -a {stored} /root/kept.gz && printf x >> {stored}")
    try:
        tampered = street.playbook("restore", otap_env="production", otap_backup=backup, otap_confirm=backup)
    finally:
        store.check_output(f"mv /root/kept.gz {stored}")
    assert tampered.rc != 0 and "does not match its checksum" in " ".join(tampered.output.split())
    assert street.state_of(nodes) == damaged, "a refused restore changed Production"
    dry = street.playbook("restore", "--check", otap_env="production", otap_backup=backup, otap_confirm=backup)
    assert dry.rc == 0 and dry.changed == 0, dry.output[-3000:]
    assert f"a real run would put production back at backup {backup}" in " ".join(dry.output.split())
    assert street.state_of(nodes) == damaged, "a dry run of the restore changed Production"

    run = street.playbook("restore", otap_env="production", otap_backup=backup, otap_confirm=backup)
    assert run.rc == 0, run.output[-3000:]
    street.wait_for(street.uploads_level, 15, "the restored uploads on both nodes")
    after = street.state_of(nodes)
    # The VIP holder comes back exactly, and the other node has the same database and uploads.
    assert after[holder_name] == before[holder_name]
    assert {n: after[n].splitlines()[1] for n in nodes} == {n: before[n].splitlines()[1] for n in nodes}
    uploads = "cd /var/www/portal/shared/images && find . -printf '%p %s %m %u\\n' | sort | sha256sum"
    assert len({street.host(n).check_output(uploads) for n in nodes}) == 1
    assert street.get(f"http://{street.vip()}/").status == 200


STORE = "/srv/otap-store"
# What the store holds, file by file (its locks, the copy's own record and the audit trail aside:
# the trail grows with every run, and is compared on its own).
_FILES = ("find . \\( -path ./locks -o -path ./hospital-copy -o -path './.before-recover-*' \\) -prune -o -type f "
          "! -path ./audit/runs.jsonl")
STORE_FILES = f"cd {STORE} && {{ {_FILES} -printf '%p %m %u\\n'; {_FILES} -exec sha256sum {{}} +; }} | sort"


def as_the_store(command: str):
    """A command on the store host, with the key the hospital authorised for the store's copy."""
    key = ("-i /etc/otap-hospital-copy/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes "
           "-o UserKnownHostsFile=/etc/otap-hospital-copy/known_hosts")
    address = street.hostvar("hospital", "ansible_host")
    return street.host("store").run(command.replace("SSH", f"ssh {key} otapcopy@{address}")
                                    .replace("SFTP", f"sftp {key} -b - otapcopy@{address}"))


def test_production_is_restored_from_the_hospital_s_copy_alone_which_the_store_cannot_destroy():
    nodes, store = street.group("production"), street.host("store")
    backup = backups("production")[-1]["id"]
    before = street.state_of(nodes)
    held, trail = store.check_output(STORE_FILES), store.check_output(f"cat {STORE}/audit/runs.jsonl")
    copied = street.playbook("hospital_copy")
    assert copied.rc == 0 and "Copied the store to sftp:otapcopy@" in " ".join(copied.output.split()), copied.output[-3000:]
    # The hospital's minute timer seals what the store wrote; run now rather than waited for.
    hospital = street.host("hospital")
    hospital.check_output("systemctl start hospital-seal.service")
    assert hospital.run("systemctl is-failed hospital-seal.service").stdout.strip() == "inactive"
    empty = hospital.check_output("cd /srv/hospital/repository && find data -mindepth 1 -type d -empty | head -1")

    # The store's key opens the copy for adding, nothing else: no shell, no removal, no replacement.
    snapshot = as_the_store("echo 'ls snapshots' | SFTP").stdout.split()[-1]
    assert snapshot.startswith("snapshots/") and len(snapshot) == len("snapshots/") + 64
    shell = as_the_store("SSH cat /etc/shadow")
    assert shell.rc != 0 and "allows sftp connections only" in shell.stdout + shell.stderr
    for attack in (f"rm {snapshot}", "rm config", f"rename {snapshot} kept", f"rmdir {empty}", f"put /etc/hostname {snapshot}",
                   f"chmod 666 {snapshot}", "rename keys gone", "rm /repository/index/*", "rm ../repository/config",
                   f"symlink /usr/local/sbin/hospital-seal {empty}/x", f"ln {snapshot} {empty}/x", f"ln -s ../config {empty}/y"):
        tried = as_the_store(f"echo {shlex.quote(attack)} | SFTP")
        # A request the account may not make is refused, or (links) not even offered.
        assert tried.rc != 0 and re.search("Permission denied|does not support hardlink", tried.stderr), (attack, tried.stderr)
    assert snapshot in as_the_store("echo 'ls snapshots' | SFTP").stdout
    assert hospital.run(f"ls /srv/hospital/repository/{empty}").stdout == "", "a link was made in the repository"

    # A copy with the wrong key fails loudly, mailed to every party; the copy stays as it was.
    with street.MailSink() as mail:
        wrong = street.playbook("hospital_copy", otap_hospital_password="not-the-hospital-s-key")
    assert wrong.rc != 0 and "wrong password" in wrong.output, wrong.output[-3000:]
    assert [(m["subject"], sorted(m["to"])) for m in mail.messages] == [
        ("The copy of the store to the hospital failed",
         ["anna@hosting.example.net", "bram@agency.example.com", "carla@portal.example.org"])]

    # Lose the store, damage Production, and bring both back from the hospital's copy alone.
    store.check_output(f"rm -rf {STORE}/* {STORE}/.[!.]* && echo 'the rebuilt host' > {STORE}/rebuilt.txt")
    street.host(street.primary()).check_output("mysql portal -e 'DELETE FROM jos_content WHERE id = 1'")
    street.host(street.vip_holder()).check_output("touch /var/www/portal/shared/images/intruder.php")
    unconfirmed = street.playbook("hospital_copy", otap_action="recover")
    assert unconfirmed.rc != 0 and "confirm with -e otap_confirm=store" in " ".join(unconfirmed.output.split())
    recovered = street.playbook("hospital_copy", otap_action="recover", otap_confirm="store")
    assert recovered.rc == 0, recovered.output[-3000:]
    aside = re.search(r"What the store held before is in (\S+):", " ".join(recovered.output.split()))[1]
    assert store.check_output(f"cat {aside}/rebuilt.txt") == "the rebuilt host", "what the store held was not kept"
    assert store.check_output(STORE_FILES) == held, "the store came back different from what was copied"
    assert store.check_output(f"cat {STORE}/audit/runs.jsonl").startswith(trail), "the audit trail came back different"
    again = street.playbook("hospital_copy", otap_action="recover", otap_backup=backup)
    assert again.rc != 0 and "never overwrites the agreed place" in again.output

    run = street.playbook("restore", otap_env="production", otap_backup=backup, otap_confirm=backup)
    assert run.rc == 0, run.output[-3000:]
    street.wait_for(street.uploads_level, 15, "the restored uploads on both nodes")
    assert street.state_of(nodes) == before
    # The recovered store is copied again (the report reads that copy's age).
    assert street.playbook("hospital_copy").rc == 0


def test_an_incident_is_reported_taken_solved_and_closed_only_by_the_parties_the_procedure_names(tmp_path):
    def step(person: str, action: str, **more) -> street.Run:
        """One step as AWX runs it: the job's user, the survey's answers typed."""
        typed = {k: v for k, v in more.items() if k in ("otap_request_title", "otap_request_text")}
        rest = {k: v for k, v in more.items() if k not in typed}
        return street.playbook("request", typed=typed, awx_user_name=person, awx_job_id="8", otap_request_action=action,
                               **rest)

    trap = "{{ lookup('pipe', 'touch /tmp/otap-request-pwned') }}"
    with street.MailSink() as mail:
        opened = step("carla", "open", otap_request_kind="incident", otap_env="production",
                      otap_request_title="The appointments page shows an error", otap_request_text=f"Since 09:40. {trap}")
        assert opened.rc == 0, opened.output[-2000:]
        number = re.search(r"Incident (\d+) \"The appointments page", " ".join(opened.output.split()))[1]
        record = {"otap_incident": number}
        for person, action, says in (("bram", "assign", "The developer may not assign an incident (only the operations)"),
                                     ("carla", "assign", "The webmaster may not assign an incident"),
                                     ("carla", "close", "an incident that is open cannot be closed"),
                                     ("mallory", "comment", "mallory is not a person of otap_people")):
            refused = step(person, action, **record, otap_request_text="trying")
            assert refused.rc != 0 and says in " ".join(refused.output.split()), refused.output[-2000:]
        # A name typed beside AWX's user does not replace it.
        spoofed = step("bram", "assign", **record, otap_person="anna")
        assert spoofed.rc != 0 and "The developer may not assign" in " ".join(spoofed.output.split())
        taken = step("anna", "assign", **record)
        assert taken.rc == 0, taken.output[-2000:]
        # The agency's fix names the incident in its RELEASE.md, urgent (the expedited path: the same
        # street, the webmaster asked at once); going live on Production resolves it.
        fix = release_answering(tmp_path, f"incident {number}", urgent="patients cannot book appointments")
        for env in ("test", "acceptance"):
            run = street.playbook("release", otap_env=env, otap_release=fix)
            assert run.rc == 0, run.output[-3000:]
            assert f"answers incident {number}" not in run.output, "only Production's rollout answers it"
        assert street.playbook("approve", otap_release=fix, otap_approver="carla").rc == 0
        live = street.playbook("release", otap_env="production", otap_release=fix)
        assert live.rc == 0 and f"Release {fix} answers incident {number}." in " ".join(live.output.split()), \
            live.output[-3000:]
        closed = step("carla", "close", **record, otap_request_text="Works again.")
        assert closed.rc == 0, closed.output[-2000:]
        again = step("carla", "close", **record, otap_request_text="Works again.")
        assert again.rc == 0 and again.changed == 0, again.output[-2000:]
    kept = yaml.safe_load(street.host("store").check_output(f"cat /srv/otap-store/incidents/incident-{number}.yml"))
    assert (kept["state"], kept["owner"], kept["releases"]) == ("closed", "anna", [fix])
    assert [(h["by"].split(" run ")[0], h["party"], h["action"]) for h in kept["history"]] == [
        ("carla", "webmaster", "open"), ("anna", "operations", "assign"), ("release.yml", "developer", "resolve"),
        ("carla", "webmaster", "close")]
    assert kept["history"][0]["text"] == f"Since 09:40. {trap}"
    # The expedited path: the package and Acceptance's rollout ask the webmaster at once, and the
    # rollouts are recorded urgent, with the reason.
    urgent = [(m["subject"], sorted(m["to"])) for m in mail.messages if m["subject"].startswith("URGENT")]
    assert urgent[:2] == [
        (f"URGENT: Release {fix} is ready: Clearer errors on the appointments page",
         ["anna@hosting.example.net", "carla@portal.example.org"]),
        (f"URGENT: Release {fix} is live on test", ["anna@hosting.example.net", "bram@agency.example.com",
                                                    "carla@portal.example.org"])]
    assert urgent[2][0] == f"URGENT: Release {fix} is live on acceptance: please test it and approve it now"
    deployments = yaml.safe_load(street.host("store").check_output("cat /srv/otap-store/register/deployments.yml"))
    assert {(d["env"], d.get("urgent")) for d in deployments["deployments"] if d["release"] == fix and d["result"] == "done"} \
        == {(env, "patients cannot book appointments") for env in ("test", "acceptance", "production")}
    assert not Path("/tmp/otap-request-pwned").exists(), "a typed text ran a command on the controller"
    # Operations and the webmaster hear of every step taken on the incident (the developer is not in
    # the incident's mailing); the one who opened it hears that the release answered it.
    heard = [(m["subject"].split(":")[0], sorted(m["to"])) for m in mail.messages
             if m["subject"].startswith(("Incident", f"Release {fix} is live on production and"))]
    assert heard == [(f"Incident {number} opened by carla", ["anna@hosting.example.net", "carla@portal.example.org"]),
                     (f"Incident {number} taken by anna", ["anna@hosting.example.net", "carla@portal.example.org"]),
                     (f"Release {fix} is live on production and answers incident {number}",
                      ["anna@hosting.example.net", "carla@portal.example.org"]),
                     (f"Incident {number} closed by carla", ["anna@hosting.example.net", "carla@portal.example.org"])]


def release_answering(tmp_path: Path, answers: str, urgent: str = "") -> int:
    """The agency packages a small fix whose RELEASE.md names what it answers (and why it is urgent); its number."""
    source = tmp_path / "fix"
    (source / "files" / "media" / "portal" / "css").mkdir(parents=True)
    (source / "files" / "media" / "portal" / "css" / "appointments.css").write_text(
        f".appointments-error {{ color: #b3261e; }} /* {answers} */\n")
    (source / "RELEASE.md").write_text("# Clearer errors on the appointments page\n\nThe page explains what went "
                                       f"wrong.\n\nAnswers: {answers}\n" + (f"Urgent: {urgent}\n" if urgent else ""))
    run = street.playbook("package", otap_package_src=source)
    assert run.rc == 0, run.output[-2000:]
    register = yaml.safe_load(street.host("store").check_output("cat /srv/otap-store/register/releases.yml"))
    assert register["releases"][-1]["answers"] == [answers]
    assert register["releases"][-1].get("urgent", "") == urgent
    return int(register["releases"][-1]["release"])


def test_an_environment_another_run_holds_is_not_backed_up_and_the_others_are():
    store = street.host("store")
    store.check_output("printf 'run_id: other-run\\nholder: ops@elsewhere\\npurpose: release 9 to test\\n' "
                       "> /srv/otap-store/locks/test.lock")
    before = {env: [b["id"] for b in backups(env)] for env in ("development", "test")}
    try:
        with street.MailSink() as mail:
            run = street.playbook("backup", otap_env="test")
        refused = run.rc != 0 and "locked by ops@elsewhere" in " ".join(run.output.split())
        both = street.playbook("backup")
    finally:
        store.check_output("rm -f /srv/otap-store/locks/test.lock")
    assert refused, run.output[-2000:]
    # The failure reaches every party (the street's inventory names one person of each).
    assert [(m["subject"], sorted(m["to"])) for m in mail.messages] == [
        ("The backup failed for test", ["anna@hosting.example.net", "bram@agency.example.com", "carla@portal.example.org"])]
    assert "locked by ops@elsewhere" in " ".join(mail.messages[0]["body"].split())
    assert both.rc != 0 and "locked by ops@elsewhere" in " ".join(both.output.split())
    assert [b["id"] for b in backups("test")] == before["test"], "a locked environment was backed up"
    assert backups("development")[-1]["id"] not in before["development"], "a lock elsewhere stopped this backup"
    assert store.run("ls /srv/otap-store/locks/development.lock").rc != 0, "the backup left its lock behind"


def test_a_backup_is_restored_only_onto_its_own_environment():
    backup = backups("production")[-1]["id"]
    run = street.playbook("restore", otap_env="test", otap_backup=backup)
    assert run.rc != 0 and "a backup is restored onto its own environment" in " ".join(run.output.split())


def test_status_and_release_run_through_ansible_runner_as_awx_runs_them(tmp_path, monkeypatch):
    """AWX runs a job with ansible-runner in a private data dir: the project checked out in
    project/, the inventory, the survey's answers as extra variables, the job's user in them, and
    the vault credential's password answered at ansible-playbook's prompt (no password file)."""
    import ansible_runner

    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    (tmp_path / "project").symlink_to(street.ROOT)
    (tmp_path / "report").mkdir(mode=0o755)
    served = street.get(f"http://{street.hostvar('test', 'ansible_host')}/").meta("otap-release")
    jobs = {"status": {"status_output_dir": str(tmp_path / "report")},
            "release": {"otap_env": "test", "otap_release": int(served)}}
    for number, (name, answers) in enumerate(jobs.items(), start=41):
        run = ansible_runner.run(private_data_dir=str(tmp_path), playbook=f"playbooks/{name}.yml",
                                 inventory=str(street.INVENTORY), quiet=True, cmdline="--ask-vault-pass",
                                 passwords={r"^Vault password:\s*?$": street.VAULT_PASSWORD.read_text().strip()},
                                 extravars=answers | {"awx_user_name": "webmaster-in-awx", "awx_job_id": number},
                                 # AWX finds the project's ansible.cfg from the project folder; the
                                 # environment the tests run in (Molecule's) may name another.
                                 envvars={"ANSIBLE_FORCE_COLOR": "0",
                                          "ANSIBLE_CONFIG": str(tmp_path / "project" / "ansible.cfg")})
        output = run.stdout.read()
        assert (run.status, run.rc) == ("successful", 0), output[-3000:]
        assert sum(run.stats["changed"].values()) == 0, output[-3000:]
        line = audit(1)[0]
        assert (line["playbook"], line["by"], line["awx_job_id"]) == (f"{name}.yml", "webmaster-in-awx", number)
    assert (tmp_path / "report" / "status.html").is_file()
    copy = json.loads(street.host("store").check_output(f"cat {STORE}/hospital-copy/last.json"))
    reported = json.loads((tmp_path / "report" / "status.json").read_text())["hospital_copy"]
    assert (reported["snapshot"], reported["checked"]) == (copy["snapshot"], copy["checked"]) and reported["age_hours"] < 1
