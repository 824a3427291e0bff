"""A lower environment brought level with Production: Production's articles, uploads and
release, the environment's own settings, and not one piece of a Production user's personal data.

Runs in file order on the street the earlier tests left: Production ahead of Test in content.
"""

from __future__ import annotations

import json
import shlex
import threading
import uuid

import pytest

from tests.integration import street

TARGET = "test"
ROOT = "/var/www/portal"
# Personal data of Production's users, as seed.sql puts it there (names, usernames, addresses,
# phone numbers, emails, IP addresses, second factors, tokens, password hashes).
PERSONAL = [
    "Marieke Jansen-Vos", "mjansen", "marieke.jansen-vos@portal.example.org", "Pieter de Graaf", "pdegraaf",
    "pieter.degraaf@portal.example.org", "Fatima El Amrani", "felamrani", "fatima.elamrani@mail.example.net",
    "Kerkstraat 12", "+31 6 1234 5678", "1984-05-17", "Dr. Anouk Bakker", "anouk.bakker@portal.example.org",
    "Ziekenhuislaan 1", "+31 30 555 0101", "+31 6 8765 4321", "192.0.2.17", "198.51.100.23",
    "otpsecret-pdegraaf", "otep-pdegraaf", "act-4f1e2d", "token-7c1d",
    "$2y$10$Q9n1Zr6yS8kX4v2mB7cLhu8oJ3tW5eR1aP0dF6gH2jK4lM8nO9pQe",
]
# Read from configuration.php: the settings Test keeps whatever Production has.
OWN = ["password", "secret", "live_site", "sitename", "debug", "db", "user"]


def target():
    return street.host(street.group(TARGET)[0])


def url(name: str) -> str:
    return f"http://{street.hostvar(name, 'ansible_host')}/"


def production() -> dict[str, str]:
    return street.state_of(street.group("production"))


def standby() -> str:
    return next(n for n in street.group("production") if n != street.primary())


def settings(node) -> dict[str, str]:
    php = "include '%s/shared/configuration.php'; echo json_encode(get_object_vars(new JConfig));" % ROOT
    return node.check_output("php -r %s", php)


def dump(node) -> str:
    return node.check_output("mysqldump --skip-comments --all-databases")


def add_article(tag: str) -> str:
    title = f"Written on Production before the sync {tag}"
    street.host(street.primary()).check_output(
        "mysql portal -e %s", "INSERT INTO jos_content (title, alias, introtext, `fulltext`, state, catid, created, "
        f"modified) VALUES ('{title}', 's-{tag}', '<p>sync</p>', '', 1, 2, NOW(), NOW())")
    return title


@pytest.mark.parametrize("env", ["production", "Production ", "staging", None])
def test_production_or_an_unknown_environment_is_refused_before_anything_runs(env):
    before = production() | {TARGET: target().check_output("mysqldump --skip-comments portal | sha256sum")}
    run = street.playbook("sync", **({"otap_env": env} if env else {}))
    assert run.rc != 0
    assert "Nothing was changed" in run.output or "nothing was changed" in run.output, run.output[-2000:]
    assert set(run.recap) == {"localhost"}, "a refused sync reached a host"
    assert production() | {TARGET: target().check_output("mysqldump --skip-comments portal | sha256sum")} == before


def test_a_sync_waits_for_production_work_and_holds_no_lock_meanwhile():
    store = street.host("store")
    store.check_output("printf 'run_id: other-run\\nholder: ops@elsewhere\\nsince: \\0472026-11-24T09:00:00Z\\047\\n"
                       "purpose: release 9 to production\\n' > /srv/otap-store/locks/production.lock")
    try:
        run = street.playbook("sync", otap_env=TARGET)
    finally:
        store.check_output("rm -f /srv/otap-store/locks/production.lock")
    assert run.rc != 0 and set(run.recap) == {"localhost"}
    assert "Production is busy: " in run.output and "release 9 to production" in run.output, run.output[-2000:]
    assert not store.file("/srv/otap-store/locks/test.lock").exists, "the sync kept Test locked"


def test_a_sync_killed_while_dumping_leaves_the_target_serving_its_old_data():
    title = add_article(uuid.uuid4().hex[:8])
    # Enough data for the dump to run a while: 64 MB in a table of its own, dropped afterwards.
    street.host(street.primary()).check_output("mysql portal -e %s", (
        "CREATE TABLE jos_otap_test_padding (id INT AUTO_INCREMENT PRIMARY KEY, filler MEDIUMTEXT); "
        "INSERT INTO jos_otap_test_padding (filler) VALUES (REPEAT('x', 1048576)); "
        + "INSERT INTO jos_otap_test_padding (filler) SELECT filler FROM jos_otap_test_padding; " * 6))
    before = street.get(url(TARGET)).body
    source = street.host(standby())
    killer = threading.Thread(target=source.run, args=(
        "timeout 120 sh -c 'until pkill -9 -x mysqldump; do sleep 0.02; done'",))
    killer.start()
    try:
        run = street.playbook("sync", otap_env=TARGET)
    finally:
        killer.join()
        street.host(street.primary()).check_output("mysql portal -e 'DROP TABLE jos_otap_test_padding'")
    assert run.rc != 0
    assert 'stopped at "Wait until the standby\'s dump is loaded' in run.output, run.output[-3000:]
    assert "Its database is as it was" in run.output
    page = street.get(url(TARGET))
    assert page.status == 200 and title not in page.body and page.body == before
    databases = target().check_output("mysql -N -e 'SHOW DATABASES'").split()
    assert "portal_sync" not in databases, "the unscrubbed staging copy stayed behind"
    for lock in ("test", "production"):
        assert not street.host("store").file(f"/srv/otap-store/locks/{lock}.lock").exists


def test_a_sync_brings_test_level_with_production_without_its_personal_data():
    primary = street.host(street.primary())
    title = add_article(uuid.uuid4().hex[:8])
    images = f"{ROOT}/shared/images/uploads"
    primary.check_output(f"install -d -o www-data -g www-data {images} && printf '<svg/>' > {images}/new-on-prod.svg")
    primary.check_output(f"echo 'GET / 203.0.113.99' > {ROOT}/shared/logs/access.php && echo x > {ROOT}/shared/tmp/t1")
    test = target()
    test.check_output(f"install -d -o www-data -g www-data {images} && printf '<svg/>' > {images}/only-on-test.svg")
    own = json.loads(settings(test))
    # Someone switched Test's mail on by hand: the sync switches it off (the inventory says so).
    test.check_output(f"sed -i 's/public \\$mailonline = .*;/public $mailonline = 1;/' {ROOT}/shared/configuration.php")
    assert json.loads(settings(test))["mailonline"] == 1
    production_dump = dump(primary)
    assert all(value in production_dump for value in PERSONAL), "the seed's personal data is not on Production"
    before = production()

    with street.MailSink() as mail:
        run = street.playbook("sync", otap_env=TARGET, otap_smtp_host="127.0.0.1", otap_smtp_port=mail.port,
                              otap_people={"webmaster": ["webmaster@portal.example.org"],
                                           "developer": ["developer@agency.example.com"],
                                           "operations": ["operations@hosting.example.net"]})
    assert run.rc == 0, run.output[-3000:]
    assert production() == before, "the sync changed Production"

    page = street.get(url(TARGET))
    release = street.get(url(street.primary())).meta("otap-release")
    assert page.status == 200 and title in page.body and page.meta("otap-release") == release
    history = "mysql -N portal -e 'SELECT * FROM jos_otap_release_history ORDER BY id'"
    assert test.check_output(history) == primary.check_output(history)
    tree = f"cd {ROOT}/current/ && find . -path ./cache -prune -o -type f -print0 | sort -z | xargs -0 sha256sum"
    assert test.check_output(tree) == primary.check_output(tree)
    assert test.file(f"{images}/new-on-prod.svg").exists and not test.file(f"{images}/only-on-test.svg").exists
    assert not test.file(f"{ROOT}/shared/logs/access.php").exists and not test.file(f"{ROOT}/shared/tmp/t1").exists

    assert json.loads(settings(test)) == own | {"mailonline": 0}, "Test lost its own settings, or mails"
    target_dump = dump(test)
    assert [value for value in PERSONAL if value in target_dump] == [], "personal data in Test's database"
    found = test.run("grep -RFl " + " ".join(f"-e {shlex.quote(value)}" for value in PERSONAL) + f" {ROOT}")
    assert found.rc == 1 and found.stdout == "", f"personal data in Test's files: {found.stdout}"
    assert "user42@example.invalid" in target_dump
    assert "portal_sync" not in test.check_output("mysql -N -e 'SHOW DATABASES'").split()

    assert sorted(mail.messages[0]["to"]) == ["developer@agency.example.com", "webmaster@portal.example.org"]
    assert mail.messages[0]["subject"] == f"Test is level with Production (release {release})"
    body = " ".join(mail.messages[0]["body"].split())
    assert f"Database: copied from the standby {standby()}" in body and "Mail from the site: off." in body


def test_a_second_sync_changes_nothing():
    run = street.playbook("sync", otap_env=TARGET)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, run.output[-3000:]
    assert "neither Production nor test changed it since the last sync" in run.output
