"""Releases travel Test, Acceptance, approval, Production; refusals change nothing; failures
return the site to its release; content written on Production meanwhile is never lost.

The tests run in file order as one story, from the release the street serves.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import io
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration import street

EXAMPLES = street.ROOT / "examples" / "releases"
BROKEN = street.ROOT / "tests" / "fixtures" / "releases" / "broken-sql"
ENVS = ["development", "test", "acceptance", "production"]
CONTENT: list[dict] = []


def nodes(env: str) -> list[str]:
    return street.group(env)


def primary() -> str:
    return street.primary()


def served(env: str) -> dict[str, str | None]:
    urls = {n: f"http://{street.hostvar(n, 'ansible_host')}/" for n in nodes(env)}
    if env == "production":
        urls["vip"] = f"http://{street.vip()}/"
    return {name: street.get(url).meta("otap-release") for name, url in urls.items()}


def write_content(step: str) -> None:
    """What the webmaster does on Production at any time: a new article, an edit, an upload."""
    tag = uuid.uuid4().hex[:8]
    title = f"Article written {step} {tag}"
    node = street.host(primary())
    node.check_output(
        "mysql portal -e %s",
        street.article_insert(title, f"a-{tag}", f"<p>{step}</p>") + "; "
        f"UPDATE jos_content SET introtext = CONCAT(introtext, '<p>edited {tag}</p>') WHERE id = 1")
    image = f"/var/www/portal/shared/images/uploads/{tag}.svg"
    node.check_output("install -d -o www-data -g www-data /var/www/portal/shared/images/uploads && "
                      "printf '<svg xmlns=\"http://www.w3.org/2000/svg\"/>' > %s && chown www-data: %s", image, image)
    CONTENT.append({"title": title, "edit": f"edited {tag}", "image": image})
    # The pair's uploads replication copies it to the standby within seconds; a test comparing
    # the nodes before and after a step waits for that, so the copy is not counted as the step's.
    street.wait_for(street.uploads_level, 15, f"{image} on every production node")


def assert_content_kept() -> None:
    page = street.get(f"http://{street.vip()}/").body
    for item in CONTENT:
        assert item["title"] in page, f"article lost: {item['title']}"
        assert item["edit"] in page, f"edit lost: {item['edit']}"
    for name in nodes("production"):
        titles = titles_on(name)
        for item in CONTENT:
            assert item["title"] in titles, f"{item['title']} missing in the database of {name}"
            assert street.host(name).file(item["image"]).is_file, f"upload {item['image']} lost on {name}"


def titles_on(name: str) -> set[str]:
    return set(street.host(name).check_output("mysql -N portal -e 'SELECT title FROM jos_content'").splitlines())


def register() -> list[dict]:
    text = street.host("store").check_output("cat /srv/otap-store/register/releases.yml")
    return yaml.safe_load(text)["releases"]


def everything() -> dict[str, str]:
    """State of every site node, to prove a refusal changed nothing anywhere."""
    return street.state_of([n for env in ENVS for n in nodes(env)])


def refused(run: street.Run, message: str) -> None:
    assert run.rc != 0, run.output[-2000:]
    assert message in " ".join(run.output.split()), run.output[-2000:]


def test_example_releases_are_packaged_in_sequence():
    write_content("before packaging")
    with street.MailSink() as mail:
        for number, source in enumerate(["02-footer", "03-news-badge", "04-drop-legacy-script"], start=2):
            run = street.playbook("package", otap_package_src=EXAMPLES / source)
            assert run.rc == 0, run.output[-3000:]
            assert f"Release {number} " in run.output and "is ready at store" in run.output
        street.playbook("package", otap_package_src=EXAMPLES / "04-drop-legacy-script")  # already packaged: no mail
    assert [(m["to"], m["subject"].split(":")[0]) for m in mail.messages] == [
        (["anna@hosting.example.net"], f"Release {number} is ready") for number in (2, 3, 4)]
    assert "Next: playbooks/release.yml -e otap_env=test -e otap_release=2" in mail.messages[0]["body"]
    entries = register()
    assert [e["release"] for e in entries] == [1, 2, 3, 4]
    assert entries[2]["title"] == "Badges on news articles"
    assert entries[2]["sql"] == ["001-add-badge-column.sql", "002-badge-new-clinic.sql"]


def test_packaging_the_same_source_again_changes_nothing():
    run = street.playbook("package", otap_package_src=EXAMPLES / "04-drop-legacy-script")
    assert run.rc == 0 and run.changed == 0, run.output[-2000:]
    assert "was already packaged" in run.output
    assert len(register()) == 4


def test_release_sources_come_from_the_agency_s_repository_not_from_the_automation(tmp_path):
    refused(street.playbook("package", otap_package_src=EXAMPLES / "02-footer",
                            otap_package_allow_project_sources="false"),
            "lies inside the automation's own checkout")
    repo = tmp_path / "portal-releases"
    shutil.copytree(EXAMPLES / "02-footer", repo / "releases" / "footer")
    for git in (["init", "-q"], ["add", "."], ["-c", "user.name=Agency", "-c", "user.email=dev@agency.example.com",
                                                "commit", "-qm", "Footer"], ["tag", "v2"]):
        subprocess.run(["git", "-C", str(repo), *git], check=True)
    for escape in ("../../etc", "/etc"):
        refused(street.playbook("package", otap_package_repo=f"file://{repo}", otap_package_ref="v2",
                                otap_package_src=escape), "Nothing was built")
    run = street.playbook("package", otap_package_repo=f"file://{repo}", otap_package_ref="v2",
                          otap_package_src="releases/footer")
    assert run.rc == 0 and "Release 2 " in run.output and "was already packaged" in run.output, run.output[-2000:]
    assert not list(Path("/tmp").glob("otap-release-source.*")), "the checkout was left behind"


def bad_source(tmp_path, kind: str):
    src = tmp_path / kind
    shutil.copytree(EXAMPLES / "02-footer", src)
    if kind == "content path":
        (src / "files" / "images").mkdir()
        (src / "files" / "images" / "banner.png").write_bytes(b"png")
    elif kind == "link":
        (src / "files" / "passwd").symlink_to("/etc/passwd")
    elif kind == "path escape":
        (src / "delete.txt").write_text("../../etc/passwd\n")
    elif kind == "destructive SQL":
        (src / "sql").mkdir()
        (src / "sql" / "001.sql").write_text("DELETE FROM #__content WHERE state = 0;\n")
    return src


@pytest.mark.parametrize(("kind", "message"), [
    ("content path", "files/images/banner.png: content path"),
    ("link", "files/passwd: link"),
    ("path escape", "delete.txt: ../../etc/passwd: path escape"),
    ("destructive SQL", "sql/001.sql:1: [content-delete] deletes from content table #__content"),
])
def test_a_source_that_breaks_the_policy_is_refused_before_anything_changes(tmp_path, kind, message):
    before, packages = everything(), street.host("store").check_output("ls /srv/otap-store/packages")
    run = street.playbook("package", otap_package_src=bad_source(tmp_path, kind))
    refused(run, message)
    assert "nothing was built" in run.output
    assert len(register()) == 4
    assert street.host("store").check_output("ls /srv/otap-store/packages") == packages
    assert everything() == before


def test_acceptance_before_test_is_refused():
    before = everything()
    refused(street.playbook("release", otap_env="acceptance", otap_release=2),
            "Release 2 is not on test yet: run playbooks/release.yml -e otap_env=test -e otap_release=2 first")
    assert everything() == before


def test_a_release_without_an_environment_is_refused():
    refused(street.playbook("release", otap_release=2), "Say which environment")
    refused(street.playbook("release", otap_env="staging", otap_release=2), "Say which environment")


def test_check_mode_says_what_would_happen_and_changes_nothing():
    before = everything()
    run = street.playbook("release", "--check", otap_env="test", otap_release=4)
    assert run.rc == 0 and run.changed == 0, run.output[-2000:]
    assert "a real run would roll release(s) 2, 3, 4 out on test" in " ".join(run.output.split())
    assert everything() == before


class Probe:
    """Requests to the VIP, several a second, while a release goes to Production."""

    def __init__(self):
        self.results: collections.Counter = collections.Counter()
        self.bad: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{street.vip()}/", timeout=3) as response:
                    self.results[response.status] += 1
            except urllib.error.HTTPError as error:
                body = error.read().decode("utf-8", "replace")
                self.results[error.code] += 1
                if error.code != 503 or "down for maintenance" not in body:
                    self.bad.append(f"{error.code}: {body[:200]}")
            except OSError as error:
                self.results[type(error).__name__] += 1
                self.bad.append(repr(error))
            time.sleep(0.15)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


EVERYONE = ["anna@hosting.example.net", "bram@agency.example.com", "carla@portal.example.org"]


@pytest.mark.parametrize("number", [2, 3, 4])
def test_each_release_travels_test_acceptance_approval_production(number):
    with street.MailSink() as mail:
        for env in ("test", "acceptance"):
            run = street.playbook("release", otap_env=env, otap_release=number)
            assert run.rc == 0, run.output[-3000:]
            assert set(served(env).values()) == {str(number)}
            write_content(f"after release {number} on {env}")
            assert_content_kept()

        before = everything()
        refused(street.playbook("release", otap_env="production", otap_release=number),
                f"Release {number} is not approved for production")
        assert everything() == before
    # Each party hears of it; the webmaster is asked to test on Acceptance; the refusal is heard too.
    assert [(m["subject"], sorted(m["to"])) for m in mail.messages] == [
        (f"Release {number} is live on test", EVERYONE),
        (f"Release {number} is live on acceptance: please test it", EVERYONE),
        (f"Release {number} was refused on production", EVERYONE)]
    assert f"approve it for Production: playbooks/approve.yml -e otap_release={number}" in \
        " ".join(mail.messages[1]["body"].split())
    assert f"Release {number} is not approved for production" in " ".join(mail.messages[2]["body"].split())

    run = street.playbook("approve", otap_release=number, otap_approver="carla")
    assert run.rc == 0, run.output[-2000:]
    with Probe() as probe:
        run = street.playbook("release", otap_env="production", otap_release=number)
    assert run.rc == 0, run.output[-3000:]
    assert not probe.bad, f"the VIP failed during the rollout: {probe.bad[:5]} ({dict(probe.results)})"
    assert probe.results[200] > 0
    assert set(served("production").values()) == {str(number)}
    write_content(f"after release {number} on production")
    assert_content_kept()


def test_history_tables_register_and_deployments_agree():
    deployments = yaml.safe_load(street.host("store").check_output(
        "cat /srv/otap-store/register/deployments.yml"))["deployments"]
    facts = street.module("test:acceptance:production", "otap.street.joomla_facts", {"root": "/var/www/portal"})
    for env in ("test", "acceptance", "production"):
        for name in nodes(env):
            assert facts[name]["release_link"] == 4 and facts[name]["release_database"] == 4, name
            assert facts[name]["joomla_version"]["version"] == "5.2.1"
            assert "password" not in facts[name]["settings"] and "secret" not in facts[name]["settings"]
        last = [d for d in deployments if d["env"] == env][-1]
        assert last["release"] == 4 and last["result"] == "done"
    node = street.host(primary())
    scripts = node.check_output("mysql -N portal -e 'SELECT release_number, script, success FROM jos_otap_schema_history'")
    assert scripts.splitlines() == ["3\t001-add-badge-column.sql\t1", "3\t002-badge-new-clinic.sql\t1"]
    page = street.get(f"http://{street.vip()}/").body
    assert '<span class="badge">New</span>' in page and "legacy-menu.js" not in page


def test_unchanged_files_are_shared_between_releases():
    node = street.host("prod1")
    same = node.check_output("stat -c %i /var/www/portal/releases/3/index.php /var/www/portal/releases/4/index.php")
    first, second = same.splitlines()
    assert first == second
    assert not node.file("/var/www/portal/releases/4/media/portal/js/legacy-menu.js").exists
    assert node.file("/var/www/portal/releases/3/media/portal/js/legacy-menu.js").exists


def test_a_second_run_changes_nothing():
    run = street.playbook("release", otap_env="production", otap_release=4)
    assert run.rc == 0 and run.changed == 0, run.output[-2000:]
    assert "nothing to do" in run.output


def test_nothing_is_packaged_or_rolled_out_without_the_agencys_public_keys():
    """Without signers release_verify checks no signature: a forgotten otap_release_signers must stop
    both packaging and a rollout, not let unsigned packages through."""
    before, registered = everything(), register()
    refused(street.playbook("release", otap_env="test", otap_release=4, otap_release_signers=[]),
            "No signer is listed")
    refused(street.playbook("package", otap_package_src=EXAMPLES / "02-footer", otap_release_signers=[]),
            "list its public keys in otap_release_signers. Nothing was built.")
    assert everything() == before and register() == registered


def test_a_second_concurrent_run_is_refused_and_the_lock_can_be_broken():
    store = street.host("store")
    store.check_output("printf 'run_id: other-run\\nholder: ops@elsewhere\\nsince: \\0472026-11-24T09:00:00Z\\047\\n"
                       "purpose: release 4 to test\\n' > /srv/otap-store/locks/test.lock")
    try:
        before = everything()
        refused(street.playbook("rollback", otap_env="test"),
                "locked by ops@elsewhere since 2026-11-24T09:00:00Z (release 4 to test, run other-run)")
        assert everything() == before
        assert store.file("/srv/otap-store/locks/test.lock").exists, "another run's lock was removed"
        run = street.playbook("release", otap_env="test", otap_release=4, otap_break_lock="true")
        assert run.rc == 0, run.output[-2000:]
        assert not store.file("/srv/otap-store/locks/test.lock").exists
    finally:
        store.run("rm -f /srv/otap-store/locks/test.lock")


def package_broken_release() -> int:
    run = street.playbook("package", otap_package_src=BROKEN)
    assert run.rc == 0, run.output[-2000:]
    return register()[-1]["release"]


def crafted(number: int, change) -> bytes:
    """The stored release-N.tar.gz with its members passed through change(info, content)."""
    path = f"/srv/otap-store/packages/release-{number}.tar.gz"
    data = base64.b64decode(street.host("store").check_output("base64 -w0 %s", path))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, content in members:
            info, content = change(info, content)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if info.isfile() else None)
    return out.getvalue()


def put(name: str, path: str, data: bytes) -> None:
    street.host(name).check_output("echo %s | base64 -d > %s", base64.b64encode(data).decode(), path)


def register_checksum(number: int, data: bytes) -> None:
    """What whoever can write the store does besides replacing a package: make the register agree."""
    street.host("store").check_output(
        "python3 -c %s", "import yaml; p='/srv/otap-store/register/releases.yml'; "
        f"t=open(p).read(); d=yaml.safe_load(t); [e.update(sha256='{hashlib.sha256(data).hexdigest()}') "
        f"for e in d['releases'] if e['release'] == {number}]; "
        "open(p,'w').write(t[:t.index('releases:')]+yaml.safe_dump(d,sort_keys=False))")


BACKDOOR = b"<?php system($_GET['c']);"


def backdoor(info, content):
    if info.name == "files/broken.php":
        content = BACKDOOR
    elif info.name == "manifest.yml":
        manifest = yaml.safe_load(content)
        for item in manifest["files"]:
            if item["path"] == "broken.php":
                item["sha256"] = hashlib.sha256(BACKDOOR).hexdigest()
        content = yaml.safe_dump(manifest, sort_keys=False).encode()
    return info, content


def test_a_package_replaced_in_the_store_with_its_checksum_is_refused_by_its_signature(tmp_path):
    number = package_broken_release()
    store = street.host("store")
    path = f"/srv/otap-store/packages/release-{number}.tar.gz"
    store.check_output("cp %s /root/good.tar.gz && cp %s.sig /root/good.sig && "
                       "cp /srv/otap-store/register/releases.yml /root/good.yml", path, path)
    node = street.group("test")[0]
    before = everything()
    intruder = tmp_path / "intruder"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(intruder)], check=True)
    try:
        store.check_output("printf 'x' >> %s", path)
        refused(street.playbook("release", otap_env="test", otap_release=number), "checksum differs from the register's")

        forged = crafted(number, backdoor)
        put("store", path, forged)
        register_checksum(number, forged)
        refused(street.playbook("release", otap_env="test", otap_release=number),
                "its signature does not match its contents")

        (tmp_path / "forged.tar.gz").write_bytes(forged)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(intruder), "-n", "otap-release",
                        str(tmp_path / "forged.tar.gz")], check=True)
        put("store", path + ".sig", (tmp_path / "forged.tar.gz.sig").read_bytes())
        refused(street.playbook("release", otap_env="test", otap_release=number),
                "its signature is not by any of the agency's keys")

        # The node checks for itself too: handed the forged package with the agency's real signature.
        handed = tmp_path / "handed"
        handed.mkdir()
        (handed / f"release-{number}.tar.gz").write_bytes(forged)
        (handed / f"release-{number}.tar.gz.sig").write_bytes(
            base64.b64decode(store.check_output("base64 -w0 /root/good.sig")))
        signers = street.templated_vars(("otap_release_signers",))[node]["otap_release_signers"]
        verdict = street.module(node, "otap.street.release_receive", {
            "incoming": str(handed), "work_dir": "/root/received", "signers": signers,
            "releases": [{"release": number, "sha256": hashlib.sha256(forged).hexdigest()}]})[node]
        assert verdict.get("failed") and "signature does not match its contents" in verdict["msg"], verdict
        assert street.host(node).check_output("find /root/received -type f") == ""
    finally:
        store.check_output("cp /root/good.tar.gz %s && cp /root/good.sig %s.sig && "
                           "cp /root/good.yml /srv/otap-store/register/releases.yml", path, path)
        street.host(node).run("rm -rf /root/received")
    assert everything() == before


def test_a_release_whose_sql_fails_half_way_leaves_the_old_release_and_schema():
    number = register()[-1]["release"]
    node = street.host("test")
    schema_before = node.check_output("mysqldump --no-data --skip-dump-date portal | grep -v AUTO_INCREMENT")
    node.check_output("mysql portal -e %s",
                      "INSERT INTO jos_content (title, alias, introtext, `fulltext`, state, catid, created, modified) "
                      "VALUES ('Written on test before the broken release', 'before-broken', '', '', 1, 2, NOW(), NOW())")
    run = street.playbook("release", otap_env="test", otap_release=number)
    refused(run, f"Release {number} did not go live on test")
    assert "002-fails.sql line 3 failed" in " ".join(run.output.split())
    assert served("test") == {"test": "4"}
    assert node.check_output("mysqldump --no-data --skip-dump-date portal | grep -v AUTO_INCREMENT") == schema_before
    assert "Written on test before the broken release" in street.get("http://%s/" % street.hostvar("test", "ansible_host")).body
    assert not node.file(f"/var/www/portal/releases/{number}").exists


def test_rollback_returns_production_to_its_previous_release_and_keeps_content():
    write_content("before the rollback")
    run = street.playbook("rollback", otap_env="production")
    assert run.rc == 0, run.output[-3000:]
    assert set(served("production").values()) == {"3"}
    assert_content_kept()
    with street.MailSink() as mail:
        run = street.playbook("release", otap_env="production", otap_release=4,
                              otap_people={"webmaster": ["webmaster@portal.example.org"]},
                              otap_smtp_host="127.0.0.1", otap_smtp_port=mail.port)
    assert run.rc == 0, run.output[-3000:]
    assert set(served("production").values()) == {"4"}
    assert_content_kept()
    assert [m["to"] for m in mail.messages] == [["webmaster@portal.example.org"]]
    assert mail.messages[0]["subject"] == "Release 4 is live on production"
    assert 'Release 4 ("Remove the legacy menu script") is live on production' in " ".join(mail.messages[0]["body"].split())


def test_a_withdrawn_release_is_skipped_and_the_next_goes_on_top_of_the_one_before():
    broken = register()[-1]["release"]
    refused(street.playbook("withdraw", otap_release=broken), "Say which release and why")
    run = street.playbook("withdraw", otap_release=broken, otap_withdraw_reason="its SQL fails half-way")
    assert run.rc == 0, run.output[-2000:]
    assert register()[-1]["withdrawn"]["reason"] == "its SQL fails half-way"
    refused(street.playbook("release", otap_env="test", otap_release=broken), "was withdrawn")
    run = street.playbook("package", otap_package_src=street.ROOT / "tests" / "fixtures" / "releases" / "after-withdrawn")
    assert run.rc == 0, run.output[-2000:]
    fixed = register()[-1]["release"]
    assert fixed == broken + 1
    run = street.playbook("release", otap_env="test", otap_release=fixed)  # no mail server listens now
    assert run.rc == 0, run.output[-3000:]
    assert "(withdrawn releases skipped)" in run.output
    assert served("test") == {"test": str(fixed)}
    # The mail could not be sent: the run says so, and the rollout it reports stands.
    said = " ".join(run.output.split())
    assert f'The mail "Release {fixed} is live on test" to ' in said and "could not be sent through 127.0.0.1:2525" in said
    assert not street.host("test").file(f"/var/www/portal/releases/{broken}").exists
    refused(street.playbook("withdraw", otap_release=fixed, otap_withdraw_reason="too late"), "is live on test")


def test_only_the_webmaster_approves_and_only_what_acceptance_serves_from_its_package():
    """Release 4 is approved and served on Acceptance; every approval below must be refused before it
    is recorded (the first approval stands either way, so the gate is what is attacked)."""
    approval = "cat /srv/otap-store/approvals/release-4.yml"
    kept = street.host("store").check_output(approval)
    for who, says in ([{"otap_approver": "bram"}, "bram may not approve for production: only the webmaster's party "
                                                  "does (carla, in otap_people)"],
                      [{"otap_approver": "webmaster"}, "webmaster may not approve"],
                      [{"otap_approver": "Carla"}, "Carla may not approve"],
                      # In AWX the job's user is the approver: a name typed beside it does not replace it.
                      [{"otap_approver": "carla", "awx_user_name": "bram", "awx_job_id": "5"}, "bram may not approve"],
                      # Outside AWX (no job), a job's user typed on the command line is no one's name.
                      [{"otap_approver": "bram", "awx_user_name": "carla"}, "bram may not approve"],
                      [{"otap_approver": "carla", "otap_people": {"webmaster": ["carla@portal.example.org"]}},
                       "No webmaster is named in otap_people"]):
        refused(street.playbook("approve", otap_release=4, **who), says)

    acceptance = street.host(nodes("acceptance")[0])
    stamp = "/var/www/portal/releases/.4.staged"
    staged = acceptance.check_output(f"cat {stamp}")
    acceptance.check_output(f"printf %s {'0' * 64} > {stamp}")
    try:
        refused(street.playbook("approve", otap_release=4, otap_approver="carla"),
                "serves release 4 staged from another package than the registered one (staged 000000000000")
    finally:
        acceptance.check_output(f"printf %s {staged} > {stamp}")
    record = ("INSERT INTO jos_otap_release_history (release_number, title, action, applied_by, applied_at, rollout) "
              "VALUES (3, 'restored by hand', 'restore', 'test', NOW(3), 'attack')")
    acceptance.check_output(f'mysql portal -e "{record}"')
    try:
        refused(street.playbook("approve", otap_release=4, otap_approver="carla"),
                "'s database records release 3, not 4")
    finally:
        acceptance.check_output("mysql portal -e \"DELETE FROM jos_otap_release_history WHERE rollout = 'attack'\"")
    assert street.host("store").check_output(approval) == kept
    run = street.playbook("approve", otap_release=4, otap_approver="carla")
    assert run.rc == 0 and run.changed == 0, run.output[-2000:]


def test_sql_that_spares_acceptance_but_writes_production_s_content_is_undone_and_the_pair_keeps_serving():
    """The content hold: Acceptance showed no content change, so none is agreed to; on Production the
    same SQL meets an article Acceptance never had, and the whole rollout is undone."""
    run = street.playbook("package", otap_package_src=street.ROOT / "tests" / "fixtures" / "releases" / "spares-acceptance")
    assert run.rc == 0, run.output[-2000:]
    number = register()[-1]["release"]
    for env in ("test", "acceptance"):
        run = street.playbook("release", otap_env=env, otap_release=number)
        assert run.rc == 0, run.output[-3000:]
    assert street.playbook("approve", otap_release=number, otap_approver="carla").rc == 0
    write_content("before the failing production rollout")
    street.host(primary()).check_output(
        "mysql portal -e %s", street.article_insert("An old import", "duplicate", "<p>imported once more</p>"))
    CONTENT.append({"title": "An old import", "edit": "imported once more", "image": CONTENT[-1]["image"]})
    live = served("production")
    schema = {n: street.host(n).check_output("mysqldump --no-data --skip-dump-date portal | grep -v AUTO_INCREMENT")
              for n in nodes("production")}
    people = {"webmaster": ["webmaster@portal.example.org"], "operations": ["operations@hosting.example.net"]}
    with street.MailSink() as mail, Probe() as probe, street.ArticleWriter() as editor:
        run = street.playbook("release", otap_env="production", otap_release=number, otap_people=people,
                              otap_smtp_host="127.0.0.1", otap_smtp_port=mail.port)
    refused(run, f"Release {number} did not go live on production")
    # The editor's saves were held while the SQL could be undone (an error, not a silent loss) ...
    assert editor.refused and all("command denied" in error for error in editor.refused), editor.refused[:3]
    # ... and every save MariaDB acknowledged outlived the restore of the tables, on both nodes.
    for name in nodes("production"):
        street.wait_for(lambda node=name: not set(editor.saved) - titles_on(node), 30,
                        f"every acknowledged article on {name}")
    assert editor.save(), f"the site cannot write after the failed rollout: {editor.refused[-1]}"
    held = "the SQL changed content the webmaster did not agree to: #__content (1 of"
    assert held in " ".join(run.output.split()), run.output[-3000:]
    assert [(m["subject"], sorted(m["to"])) for m in mail.messages] == [
        (f"Release {number} failed on production", ["operations@hosting.example.net", "webmaster@portal.example.org"])]
    assert held in " ".join(mail.messages[0]["body"].split())
    assert not probe.bad, f"the VIP failed during the failed rollout: {probe.bad[:5]}"
    assert served("production") == live
    for name in nodes("production"):
        assert street.host(name).check_output(
            "mysqldump --no-data --skip-dump-date portal | grep -v AUTO_INCREMENT") == schema[name], name
    assert_content_kept()

    refused(street.playbook("withdraw", otap_release=number, otap_withdraw_reason="fails on production content"),
            "is live on")
    for env in ("test", "acceptance"):
        run = street.playbook("rollback", otap_env=env, otap_release=number - 1)
        assert run.rc == 0, run.output[-2000:]
    run = street.playbook("withdraw", otap_release=number, otap_withdraw_reason="fails on production content")
    assert run.rc == 0, run.output[-2000:]


# --- The agency's SQL gets the site's database and no more ------------------------------------

@pytest.mark.parametrize(("statement", "refusal"), [
    ("GRANT ALL PRIVILEGES ON *.* TO 'otap_release'@'localhost'", "Access denied"),
    ("GRANT SELECT ON portal.* TO 'agency'@'%' IDENTIFIED BY 'x'", "Access denied"),
    ("CREATE USER 'agency'@'%' IDENTIFIED BY 'x'", "CREATE USER privilege"),
    ("SET GLOBAL read_only = 0", "READ_ONLY ADMIN privilege"),
    ("SET SESSION sql_log_bin = 0", "SUPER, BINLOG ADMIN privilege"),
    ("SET STATEMENT sql_log_bin = 0 FOR DELETE FROM portal.jos_content WHERE id = 1", "SUPER, BINLOG ADMIN"),
    ("SELECT username, password FROM portal.jos_users INTO OUTFILE '/tmp/users.txt'", "FILE privilege"),
    ("LOAD DATA INFILE '/etc/passwd' INTO TABLE portal.jos_session", "Access denied"),
    ("SELECT COUNT(*) FROM mysql.user", "SELECT command denied"),
    ("CREATE DATABASE agency", "Access denied"),
    ("DROP DATABASE mysql", "Access denied"),
    ("DROP DATABASE portal", "Access denied"),
    ("USE portal", "Access denied for user 'otap_release'@'localhost' to database 'portal'"),
    ("UPDATE portal.jos_content SET title = ''", "UPDATE command denied"),
    ("DELETE FROM portal.jos_otap_schema_history", "DELETE command denied"),
    ("INSERT INTO portal.jos_otap_release_history (release_number) VALUES (99)", "INSERT command denied"),
    ("DROP TABLE portal.jos_content", "DROP command denied"),
    ("TRUNCATE portal.jos_content", "DROP command denied"),
    ("CREATE DEFINER = 'root'@'localhost' PROCEDURE portal.otap_p() DELETE FROM portal.jos_content", "Access denied"),
    ("CREATE TRIGGER portal.otap_t BEFORE INSERT ON portal.jos_content FOR EACH ROW SET NEW.title = ''",
     "TRIGGER command denied"),
    ("CREATE EVENT portal.otap_e ON SCHEDULE EVERY 1 DAY DO DELETE FROM portal.jos_content", "Access denied"),
    ("INSTALL SONAME 'ha_connect'", "INSERT command denied"),
    ("SHUTDOWN", "SHUTDOWN privilege"),
])
def test_the_release_account_itself_refuses_what_the_allow_list_would_stop(statement, refusal):
    """Whatever the allow-list missed, the account the SQL runs as may not do it: outside a rollout
    it has no right even in the site's database (joomla_migrate lends them, table by table)."""
    node = street.host(street.group("test")[0])
    password = street.vault()["vault_joomla_release_db_password"]["test"]
    grants = node.check_output("mysql -N -e 'SHOW GRANTS FOR otap_release@localhost'")
    done = node.run("mysql -u otap_release -p%s -e %s", password, statement)
    assert done.rc != 0 and refusal in done.stderr, (statement, done.stdout, done.stderr)
    assert node.check_output("mysql -N -e 'SHOW GRANTS FOR otap_release@localhost'") == grants
    assert node.run("test -e /tmp/users.txt").rc == 1


def hand_made_package(source, number: int) -> None:
    """Build, sign and register a package the way only a hostile agency would: past the allow-list."""
    import sys

    sys.path.insert(0, str(street.ROOT / ".street" / "collections"))
    from ansible_collections.otap.street.plugins.module_utils.release_package import scan_source, write_package

    manifest = scan_source(source, number, number - 1, "agency", "2026-12-01T10:00:00Z", check_sql=False)
    package = street.ROOT / ".street" / f"release-{number}.tar.gz"
    checksum = write_package(source, manifest, package, mtime=1796112000)
    key = street.templated_vars(("otap_package_signing_key",))["store"]["otap_package_signing_key"]
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", "otap-release", str(package)], check=True)
    for suffix in ("", ".sig"):
        put("store", f"/srv/otap-store/packages/release-{number}.tar.gz{suffix}",
            (package.parent / (package.name + suffix)).read_bytes())
        (package.parent / (package.name + suffix)).unlink()
    entry = {"release": number, "date": manifest["date"], "title": manifest["title"], "author": "agency",
             "sha256": checksum, "sql": [s["script"] for s in manifest["sql"]],
             "package": f"packages/release-{number}.tar.gz"}
    done = street.module("store", "otap.street.release_register", {
        "path": "/srv/otap-store/register/releases.yml", "state": "present", "entry": entry})["store"]
    assert not done.get("failed"), done


def test_sql_past_the_allow_list_is_stopped_by_the_database_and_nothing_changes():
    number = register()[-1]["release"] + 1
    source = street.ROOT / "tests" / "fixtures" / "releases" / "beyond-its-rights"
    hand_made_package(source, number)
    refused(street.playbook("release", otap_env="test", otap_release=number), "[schema-qualified] mysql.global_priv")

    node = street.host(street.group("test")[0])
    articles = node.check_output("mysql -N portal -e 'SELECT id, title, introtext FROM jos_content ORDER BY id'")
    grants = node.check_output("mysql -N -e 'SHOW GRANTS FOR otap_release@localhost'")
    live = served("test")
    run = street.playbook("release", otap_env="test", otap_release=number, joomla_release_sql_policy="false")
    refused(run, f"Release {number} did not go live on test")
    flat = " ".join(run.output.split())
    assert "the release SQL allow-list is switched off for this run" in flat
    assert "001-deface.sql line 2 failed" in flat and "UPDATE command denied to user 'otap_release'" in flat
    assert node.check_output("mysql -N portal -e 'SELECT id, title, introtext FROM jos_content ORDER BY id'") == articles
    assert node.check_output("mysql -N -e 'SHOW GRANTS FOR otap_release@localhost'") == grants
    assert served("test") == live
    run = street.playbook("withdraw", otap_release=number, otap_withdraw_reason="reaches beyond the site database")
    assert run.rc == 0, run.output[-2000:]


def test_the_replication_check_names_a_standby_that_differs():
    standby = [n for n in nodes("production") if n != primary()][0]
    verdict = street.module(standby, "otap.street.replication_check", {
        "database": "portal", "position": "", "expected": {"jos_content": 1, "jos_menu": 2}})[standby]
    assert verdict.get("failed") and "the standby diverged from the primary: jos_content, jos_menu" in verdict["msg"]


# --- A Joomla update travels the street; the Acceptance guard sees what SQL did to content -------

def joomla_version(env: str) -> set[str]:
    facts = street.module(env, "otap.street.joomla_facts", {"root": "/var/www/portal", "database": False})
    return {f["joomla_version"]["version"] for f in facts.values()}


def test_a_joomla_update_travels_the_street_and_the_guard_stops_a_release_that_empties_contacts():
    for source in (EXAMPLES / "05-joomla-5.2.2", street.ROOT / "tests" / "fixtures" / "releases" / "empties-contacts"):
        run = street.playbook("package", otap_package_src=source)
        assert run.rc == 0, run.output[-2000:]
    update, cleanup = register()[-2]["release"], register()[-1]["release"]
    assert register()[-2]["joomla_update"] == "core 5.2.1 -> 5.2.2"
    assert street.playbook("release", otap_env="test", otap_release=cleanup).rc == 0
    assert joomla_version("test") == {"5.2.2"}

    run = street.playbook("release", otap_env="acceptance", otap_release=update)
    assert run.rc == 0, run.output[-3000:]
    assert "Content tables changed by the SQL: #__menu; not declared in RELEASE.md: none" in " ".join(run.output.split())
    run = street.playbook("release", otap_env="acceptance", otap_release=cleanup)
    assert run.rc == 0, run.output[-3000:]
    assert "not declared in RELEASE.md: #__contact_details" in " ".join(run.output.split())

    refused(street.playbook("approve", otap_release=cleanup),
            f"On acceptance, release {cleanup}'s SQL changed content its RELEASE.md did not declare: "
            "#__contact_details (")
    assert street.host("store").run(f"test -e /srv/otap-store/approvals/release-{cleanup}.yml").rc == 1

    # Acceptance serves the cleanup, which carries the update: the update alone is not what was tested.
    refused(street.playbook("approve", otap_release=update, otap_approver="carla"),
            f"Acceptance does not serve release {update} now (acc serves release {cleanup})")
    # Rolled back, Acceptance serves the update's code on the cleanup's schema: still not what was tested.
    assert street.playbook("rollback", otap_env="acceptance", otap_release=update).rc == 0
    refused(street.playbook("approve", otap_release=update, otap_approver="carla"),
            f"acc's database ran the SQL of release {cleanup} (a rollback returns the code, not the schema)")
    assert street.playbook("sync", otap_env="acceptance").rc == 0
    assert street.playbook("release", otap_env="acceptance", otap_release=update).rc == 0
    run = street.playbook("approve", otap_release=update, otap_approver="carla")
    assert run.rc == 0, run.output[-2000:]
    assert "it carries a Joomla update: core 5.2.1 -> 5.2.2" in " ".join(run.output.split())
    approval = yaml.safe_load(street.host("store").check_output(f"cat /srv/otap-store/approvals/release-{update}.yml"))
    assert approval["approved_by"] == "carla" and approval["sha256"] == register()[-2]["sha256"]

    write_content("before the Joomla update on production")
    with Probe() as probe:
        run = street.playbook("release", otap_env="production", otap_release=update)
    assert run.rc == 0, run.output[-3000:]
    assert not probe.bad, f"the VIP failed during the Joomla update: {probe.bad[:5]}"
    assert joomla_version("production") == {"5.2.2"}
    for name in nodes("production"):
        node = street.host(name)
        assert node.check_output("mysql -N portal -e \"SELECT COUNT(*) FROM jos_menu WHERE link LIKE '%otapoldlinks%'\"") == "0"
        assert node.check_output("mysql -N portal -e 'SELECT version_id FROM jos_schemas'") == "5.2.2-2026-11-20"
    assert_content_kept()

    assert street.playbook("rollback", otap_env="test", otap_release=update).rc == 0
    assert street.playbook("withdraw", otap_release=cleanup, otap_withdraw_reason="empties the contacts").rc == 0


def test_a_failure_after_the_point_of_no_return_leaves_the_release_live_and_says_so(tmp_path):
    """Once a release's SQL is final (the copies a failure is put back from are gone), returning its
    code would leave the code older than its database. A later step that fails (here the audit log,
    made a folder) ends the run failed, with the release live and writable, and the step named."""
    source = tmp_path / "notes"
    (source / "sql").mkdir(parents=True)
    (source / "files" / "media" / "portal").mkdir(parents=True)
    (source / "files" / "media" / "portal" / "notes.txt").write_text("notes\n")
    (source / "RELEASE.md").write_text("# A table for notes\n\nAdds a table that a later release fills.\n")
    (source / "sql" / "001-notes.sql").write_text("CREATE TABLE `#__otap_notes` (`id` INT NOT NULL PRIMARY KEY);\n")
    assert street.playbook("package", otap_package_src=source).rc == 0
    number, before = register()[-1]["release"], served("test")
    store, log = street.host("store"), "/srv/otap-store/audit/releases.jsonl"
    store.check_output(f"mv {log} {log}.kept && mkdir {log}")
    try:
        run = street.playbook("release", otap_env="test", otap_release=number)
    finally:
        store.check_output(f"rmdir {log} && mv {log}.kept {log}")
    refused(run, f"Release {number} is live on test (every node serves it, its database is final), but")
    said = " ".join(run.output.split())
    assert f"the audit log {log} cannot be read" in said and "Nothing was undone" in said, run.output[-2000:]
    assert set(served("test").values()) == {str(number)}
    node = street.host(nodes("test")[0])
    assert node.check_output("mysql -N portal -e \"SHOW TABLES LIKE 'jos_otap_notes'\"") == "jos_otap_notes"
    assert node.check_output("mysql -N -e \"SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE "
                             "GRANTEE LIKE '''portal''@%' AND PRIVILEGE_TYPE = 'INSERT'\"") != "0"
    # As it was for what follows: Test's code back, the release withdrawn.
    assert street.playbook("rollback", otap_env="test", otap_release=before[nodes("test")[0]]).rc == 0
    assert street.playbook("withdraw", otap_release=number, otap_withdraw_reason="only the late failure's test").rc == 0
