"""Releases travel Test, Acceptance, approval, Production; refusals change nothing; failures
return the site to its release; content written on Production meanwhile is never lost.

The tests run in file order as one story on the street that test_1_street left at release 1.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import io
import shutil
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid

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
        "INSERT INTO jos_content (title, alias, introtext, `fulltext`, state, catid, created, modified) "
        f"VALUES ('{title}', 'a-{tag}', '<p>{step}</p>', '', 1, 2, NOW(), NOW()); "
        f"UPDATE jos_content SET introtext = CONCAT(introtext, '<p>edited {tag}</p>') WHERE id = 1")
    image = f"/var/www/portal/shared/images/uploads/{tag}.svg"
    node.check_output("install -d -o www-data -g www-data /var/www/portal/shared/images/uploads && "
                      "printf '<svg xmlns=\"http://www.w3.org/2000/svg\"/>' > %s && chown www-data: %s", image, image)
    CONTENT.append({"title": title, "edit": f"edited {tag}", "image": image, "node": primary()})


def assert_content_kept() -> None:
    page = street.get(f"http://{street.vip()}/").body
    for item in CONTENT:
        assert item["title"] in page, f"article lost: {item['title']}"
        assert item["edit"] in page, f"edit lost: {item['edit']}"
        assert street.host(item["node"]).file(item["image"]).is_file, f"upload lost: {item['image']}"
    for name in nodes("production"):
        titles = street.host(name).check_output("mysql -N portal -e 'SELECT title FROM jos_content'")
        for item in CONTENT:
            assert item["title"] in titles, f"{item['title']} missing in the database of {name}"


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
    for number, source in enumerate(["02-footer", "03-news-badge", "04-drop-legacy-script"], start=2):
        run = street.playbook("package", otap_package_src=EXAMPLES / source)
        assert run.rc == 0, run.output[-3000:]
        assert f"Release {number} " in run.output and "is ready at store" in run.output
    entries = register()
    assert [e["release"] for e in entries] == [1, 2, 3, 4]
    assert entries[2]["title"] == "Badges on news articles"
    assert entries[2]["sql"] == ["001-add-badge-column.sql", "002-badge-new-clinic.sql"]


def test_packaging_the_same_source_again_changes_nothing():
    run = street.playbook("package", otap_package_src=EXAMPLES / "04-drop-legacy-script")
    assert run.rc == 0 and run.changed == 0, run.output[-2000:]
    assert "was already packaged" in run.output
    assert len(register()) == 4


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
    ("destructive SQL", "sql/001.sql:1: deletes from content table #__content"),
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


@pytest.mark.parametrize("number", [2, 3, 4])
def test_each_release_travels_test_acceptance_approval_production(number):
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

    run = street.playbook("approve", otap_release=number, otap_approver="webmaster")
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


def rewrite_stored_package(number: int, change) -> None:
    """Replace release-N.tar.gz on the store with a crafted one and register its checksum."""
    store = street.host("store")
    path = f"/srv/otap-store/packages/release-{number}.tar.gz"
    original = store.check_output("base64 -w0 %s", path)
    data = base64.b64decode(original)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, content in members:
            info, content = change(info, content)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if info.isfile() else None)
    crafted = out.getvalue()
    store.check_output("echo %s | base64 -d > %s", base64.b64encode(crafted).decode(), path)
    store.check_output(
        "python3 -c %s", "import yaml,sys; p='/srv/otap-store/register/releases.yml'; "
        f"t=open(p).read(); d=yaml.safe_load(t); d['releases'][-1]['sha256']='{hashlib.sha256(crafted).hexdigest()}'; "
        "open(p,'w').write(t[:t.index('releases:')]+yaml.safe_dump(d,sort_keys=False))")


def test_crafted_and_tampered_packages_are_refused_before_any_host_changes():
    number = package_broken_release()
    store = street.host("store")
    path = f"/srv/otap-store/packages/release-{number}.tar.gz"
    store.check_output("cp %s /root/good.tar.gz && cp /srv/otap-store/register/releases.yml /root/good.yml", path)
    before = everything()

    try:
        store.check_output("printf 'x' >> %s", path)
        refused(street.playbook("release", otap_env="test", otap_release=number), "checksum differs from the register's")

        def escape(info, content):
            if info.name == "files/broken.php":
                info.name = "files/../../../../etc/cron.d/evil"
            return info, content

        def link(info, content):
            if info.name == "files/broken.php":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
                return info, b""
            return info, content

        def out_of_sequence(info, content):
            if info.name == "manifest.yml":
                manifest = yaml.safe_load(content)
                manifest["release"], manifest["previous"] = number + 1, number
                content = yaml.safe_dump(manifest).encode()
            return info, content

        for change, message in [(escape, "path escape"), (link, "files/broken.php: link"),
                                (out_of_sequence, f"is release {number + 1}, expected release {number}")]:
            store.check_output("cp /root/good.tar.gz %s && cp /root/good.yml /srv/otap-store/register/releases.yml", path)
            rewrite_stored_package(number, change)
            refused(street.playbook("release", otap_env="test", otap_release=number), message)
    finally:
        store.check_output("cp /root/good.tar.gz %s && cp /root/good.yml /srv/otap-store/register/releases.yml", path)
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
    run = street.playbook("release", otap_env="test", otap_release=fixed)
    assert run.rc == 0, run.output[-3000:]
    assert "(withdrawn releases skipped)" in run.output
    assert served("test") == {"test": str(fixed)}
    assert not street.host("test").file(f"/var/www/portal/releases/{broken}").exists
    refused(street.playbook("withdraw", otap_release=fixed, otap_withdraw_reason="too late"), "is live on test")


def test_a_release_that_fails_on_production_returns_the_pair_and_keeps_content():
    run = street.playbook("package", otap_package_src=street.ROOT / "tests" / "fixtures" / "releases" / "unique-titles")
    assert run.rc == 0, run.output[-2000:]
    number = register()[-1]["release"]
    for env in ("test", "acceptance"):
        run = street.playbook("release", otap_env=env, otap_release=number)
        assert run.rc == 0, run.output[-3000:]
    assert street.playbook("approve", otap_release=number).rc == 0
    write_content("before the failing production rollout")
    street.host(primary()).check_output(
        "mysql portal -e %s", "INSERT INTO jos_content (title, alias, introtext, `fulltext`, state, catid, created, "
        f"modified) VALUES ('{CONTENT[-1]['title']}', 'duplicate', '<p>same title</p>', '', 1, 2, NOW(), NOW())")
    live = served("production")
    schema = {n: street.host(n).check_output("mysqldump --no-data --skip-dump-date portal | grep -v AUTO_INCREMENT")
              for n in nodes("production")}
    people = {"webmaster": ["webmaster@portal.example.org"], "operations": ["operations@hosting.example.net"]}
    with street.MailSink() as mail, Probe() as probe:
        run = street.playbook("release", otap_env="production", otap_release=number, otap_people=people,
                              otap_smtp_host="127.0.0.1", otap_smtp_port=mail.port)
    refused(run, f"Release {number} did not go live on production")
    assert "002-unique-titles.sql line 2 failed" in " ".join(run.output.split())
    assert [(m["subject"], sorted(m["to"])) for m in mail.messages] == [
        (f"Release {number} failed on production", ["operations@hosting.example.net", "webmaster@portal.example.org"])]
    assert "002-unique-titles.sql line 2 failed" in " ".join(mail.messages[0]["body"].split())
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
