"""A lower environment brought level with Production: Production's articles, uploads and
release, the environment's own settings, and not one piece of a Production user's personal data.

Runs in file order on the street the earlier tests left: Production ahead of Test in content.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

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
    # Joomla 5's other personal data and its copies: notes, remember-me keys, second factors, consents,
    # messages, banner clients, version history, the tag index, Smart Search, schema.org, redirects,
    # contact meta; and the site's own appointments table (the inventory's sync_scrub_rules).
    "+31 6 2222 3333", "remember-me-token-91ac", "Marieke laptop", "totp-secret-pdegraaf-77",
    "webauthn-public-key-42", "webauthn-user-handle-42", "203.0.113.45", "consent-token-3e9", "Sanne de Wit",
    "+31 6 4444 5555", "Joost Visser", "joost.visser@drukkerij.example.com", "NL91ABNA0417164300",
    "j.visser.old@drukkerij.example.com", "+31 30 555 0199", "Anouk Bakker-Smit", "anouk.bakker.index@portal.example.org",
    "+31 30 555 0177", "bakkersmit", "Hendrik Mulder", "hendrik.mulder@mail.example.net",
    "anouk.schema@portal.example.org", "+31 30 555 0188", "sanne.dewit", "A. Bakker-Smit",
    "linkedin.example/in/anouk-bakker-smit", "Willem Jacobs", "willem.jacobs@mail.example.net", "+31 6 9999 0000",
    "GB82 WEST 1234 5698 7654 32",
]
# Read from configuration.php: the settings Test keeps whatever Production has.
OWN = ["password", "secret", "live_site", "sitename", "debug", "db", "user"]


def target():
    return street.host(street.group(TARGET)[0])


def url(name: str) -> str:
    return f"http://{street.hostvar(name, 'ansible_host')}/"


def production() -> dict[str, str]:
    return street.state_of(street.group("production"))


def settled_production() -> dict[str, str] | None:
    """Production's state once two reads three seconds apart agree, else None."""
    first = production()
    time.sleep(3)
    return first if production() == first else None


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
    # Whoever is root on Production could plant these among the uploads: none may arrive as they are.
    primary_images = street.host(street.vip_holder())
    primary_images.check_output(f"printf '#!/bin/sh\\nid\\n' > {images}/suid.sh && chmod 6755 {images}/suid.sh && "
                                f"ln -sfn /etc/passwd {images}/passwd-link && rm -f {images}/fifo && "
                                f"mkfifo {images}/fifo")
    test = target()
    test.check_output(f"install -d -o www-data -g www-data {images} && printf '<svg/>' > {images}/only-on-test.svg")
    own = json.loads(settings(test))
    # Someone switched Test's mail on by hand: the sync switches it off (the inventory says so).
    test.check_output(f"sed -i 's/public \\$mailonline = .*;/public $mailonline = 1;/' {ROOT}/shared/configuration.php")
    assert json.loads(settings(test))["mailonline"] == 1
    production_dump = dump(primary)
    assert all(value in production_dump for value in PERSONAL), "the seed's personal data is not on Production"
    # The pair's uploads replication copies what was planted to the standby (as the web user: what
    # it cannot make its own stays different, so "level" is not the test); wait until it is done.
    before = street.wait_for(settled_production, 60, "Production quiet after the pair's replication")
    # The agency asks for the sync as it starts work (in AWX: Ask for a sync, as bram).
    asked = street.playbook("request", otap_request_action="open", otap_request_kind="sync", otap_env=TARGET,
                            typed={"otap_request_title": "Work on the flu campaign starts"}, awx_user_name="bram",
                            awx_job_id="9")
    assert asked.rc == 0, asked.output[-2000:]
    request = re.search(r"Request (\d+) \"Work on the flu campaign starts\" is open", " ".join(asked.output.split()))
    assert request, asked.output[-2000:]

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
    planted = test.file(f"{images}/suid.sh")
    assert planted.is_file and planted.mode & 0o7000 == 0 and planted.user == "www-data", "a setuid file arrived"
    assert not test.file(f"{images}/passwd-link").exists and not test.file(f"{images}/fifo").exists
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
    # The sync answered the agency's request: resolved, by this run, and the agency hears of it.
    kept = yaml.safe_load(street.host("store").check_output(f"cat /srv/otap-store/requests/request-{request[1]}.yml"))
    assert (kept["state"], kept["opened_by"], kept["history"][-1]["by"][:13]) == ("resolved", "bram", "sync.yml run ")
    assert mail.messages[1]["subject"] == f"Sync request(s) {request[1]} answered: test is level with Production"
    body = " ".join(mail.messages[0]["body"].split())
    assert f"Database: copied from the standby {standby()}" in body and "Mail from the site: off." in body


def test_a_second_sync_changes_nothing_and_its_dry_run_says_so_first():
    before = dump(target())
    dry = street.playbook("sync", "--check", otap_env=TARGET)
    assert dry.rc == 0, dry.output[-3000:]
    assert dry.changed == 0, dry.changed_tasks
    said = " ".join(dry.output.split())
    assert f"Check mode: a real run would bring {TARGET} to Production" in said, dry.output[-3000:]
    assert "nothing was changed" in said and dump(target()) == before
    run = street.playbook("sync", otap_env=TARGET)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, run.output[-3000:]
    assert "neither Production nor test changed it since the last sync" in run.output


def test_the_sweep_refuses_a_copy_in_which_personal_data_survived():
    """Without the rule for the site's own table, its patients' data would reach Test: the sweep stops it."""
    images = f"{ROOT}/shared/images/uploads"
    street.host(street.vip_holder()).check_output(f"rm -f {images}/suid.sh {images}/passwd-link {images}/fifo")
    add_article(uuid.uuid4().hex[:8])
    test = target()
    before = test.check_output("mysqldump --skip-comments --skip-dump-date portal | sha256sum")
    run = street.playbook("sync", otap_env=TARGET, sync_scrub_rules=[])
    assert run.rc != 0
    flat = " ".join(run.output.split())
    assert ("personal data survived the scrub in jos_portal_appointments.patient_email (email); "
            "jos_portal_appointments.patient_phone (phone); jos_portal_appointments.refund_iban (iban)") in flat, flat[-3000:]
    assert "Willem Jacobs" not in run.output and "willem.jacobs" not in run.output, "the refusal showed the data"
    assert test.check_output("mysqldump --skip-comments --skip-dump-date portal | sha256sum") == before
    assert "portal_sync" not in test.check_output("mysql -N -e 'SHOW DATABASES'").split()


# --- Whoever holds Production's sync key gets the sync's inbox and staging database, no more ---

INBOX = "/var/lib/otap-sync/inbox"


def outside_the_sync(node) -> str:
    """Checksums of what a sync key must not change on the target: the site, the server's settings,
    root's and the programs' folders, /tmp, the site's and the server's databases (but for what
    changes by itself: Ansible's own temporary folders, services' private /tmp, InnoDB's statistics
    and the site's sessions)."""
    return node.check_output(
        "{ find /var/www /etc /root /usr/local /tmp -xdev \\( -path /root/.ansible -o -path '/tmp/systemd-private-*' "
        "-o -path '/tmp/ansible*' \\) -prune -o -printf '%p %l %s %m %u\\n' | sort; "
        "mysqldump --skip-comments --skip-dump-date --ignore-table=mysql.innodb_index_stats "
        "--ignore-table=mysql.innodb_table_stats --ignore-table=portal.jos_session --databases portal mysql; } "
        "| sha256sum")


def with_the_sync_key(command: str, stdin: str = "") -> tuple[int, str]:
    """`command` sent to the target over Production's sync key, as root on a production node sends it."""
    source = street.host(street.group("production")[0])
    address = street.hostvar(street.group(TARGET)[0], "ansible_host")
    feed = f"printf %s {shlex.quote(stdin)} | " if stdin else ""
    done = source.run(f"{feed}ssh -F /etc/otap-sync/ssh_config {address} {shlex.quote(command)} 2>&1")
    return done.rc, done.stdout + done.stderr


def rsync_with_the_sync_key(*args: str) -> tuple[int, str]:
    source = street.host(street.group("production")[0])
    address = street.hostvar(street.group(TARGET)[0], "ansible_host")
    source.check_output("rm -rf /root/hostile && mkdir -p /root/hostile/sub && echo x > /root/hostile/sub/file && "
                        "ln -sfn /etc /root/hostile/etc-link && printf '#!/bin/sh\\nid\\n' > /root/hostile/suid && "
                        "chmod 4755 /root/hostile/suid && rm -f /root/hostile/null && mknod /root/hostile/null c 1 3")
    command = " ".join(["rsync", "--rsh='ssh -F /etc/otap-sync/ssh_config'",
                        *[arg.replace("TARGET", address) for arg in args]])
    done = source.run(command + " 2>&1")
    return done.rc, done.stdout + done.stderr


HOSTILE_LOADS = [
    ("load into the live database", "load portal", "", "portal is not a staging database"),
    ("load into the server's own", "load mysql", "", "mysql is not a staging database"),
    ("a shell command in the dump", "load portal_sync", "\\! touch /tmp/otap-pwned\n", "sandbox"),
    ("the system command in the dump", "load portal_sync", "system touch /tmp/otap-pwned\n", "sandbox"),
    ("a file read in the dump", "load portal_sync", "source /etc/mysql/debian.cnf\n", "sandbox"),
    ("another database in the dump", "load portal_sync", "USE portal;\nDROP TABLE jos_content;\n", "denied"),
    ("a qualified name in the dump", "load portal_sync", "DROP TABLE portal.jos_content;\n", "denied"),
    # `_` in a grant is a wildcard: unescaped, portal_sync's grant would match portalxsync.
    ("a database the grant's wildcard matches", "load portal_sync", "CREATE DATABASE portalxsync;\n", "denied"),
    ("a trigger in the dump", "load portal_sync",
     "CREATE TABLE t (a INT);\nCREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1;\n", "denied"),
    ("a file written from the dump", "load portal_sync",
     "SELECT 'x' INTO OUTFILE '/tmp/otap-pwned';\n", "denied"),
    ("a grant in the dump", "load portal_sync", "GRANT ALL ON *.* TO 'otap-sync'@'localhost';\n", "denied"),
    ("a shell", "sh -c 'touch /tmp/otap-pwned'", "", "only 'load <staging database>'"),
    ("root's command through sudo", "sudo -n /usr/local/sbin/otap-sync-receive", "", "only 'load <staging database>'"),
]


@pytest.fixture(scope="module")
def staging():
    """A staging database as a sync creates it, for the hostile loads; dropped afterwards."""
    target().check_output("mysql -e 'CREATE DATABASE IF NOT EXISTS portal_sync'")
    yield
    target().check_output("mysql -e 'DROP DATABASE IF EXISTS portal_sync'")


def test_the_sync_key_loads_only_the_staging_database_without_a_shell(staging):
    node = target()
    before = outside_the_sync(node)
    let_through = []
    for what, command, dump, refusal in HOSTILE_LOADS:
        rc, output = with_the_sync_key(command, dump)
        if rc == 0 or refusal not in output or node.run("test -e /tmp/otap-pwned").rc == 0:
            let_through.append(f"{what}: rc {rc}, {output[-300:]}")
    assert let_through == []
    assert outside_the_sync(node) == before, "a hostile load changed the target outside the inbox and staging database"


HOSTILE_RSYNCS = [
    ("read from the target", ("TARGET:code/", "/root/read-back/")),
    ("write outside the inbox", ("-r", "/root/hostile/", "TARGET:../../../../etc/cron.d/")),
    ("write to an absolute path", ("-r", "/root/hostile/", "TARGET:/var/www/portal/shared/images/")),
    ("options read from the stream", ("-r", "--protect-args", "--remote-option=--log-file=/etc/cron.d/otap-pwned",
                                      "/root/hostile/", "TARGET:uploads/hostile/")),
    ("a remote option", ("-r", "--remote-option=--chmod=ugo+s", "--remote-option=--copy-unsafe-links",
                         "/root/hostile/", "TARGET:uploads/hostile/")),
    ("through a link", ("-rl", "/root/hostile/", "TARGET:uploads/hostile/", "&&", "rsync",
                        "--rsh='ssh -F /etc/otap-sync/ssh_config'", "-r", "/root/hostile/sub/",
                        "TARGET:uploads/hostile/etc-link/")),
]


def test_the_sync_key_writes_only_into_the_inbox():
    node, source = target(), street.host(street.group("production")[0])
    before = outside_the_sync(node)
    for what, args in HOSTILE_RSYNCS:
        rsync_with_the_sync_key(*args)
        assert source.run("ls /root/read-back/manifest.yml").rc != 0, f"{what}: read from the target"
        assert node.run("test -e /etc/cron.d/otap-pwned").rc == 1, what
    assert outside_the_sync(node) == before, "a hostile rsync changed the target outside the inbox"


def test_what_arrives_in_the_inbox_is_harmless_and_owned_by_the_sync_account():
    rc, output = rsync_with_the_sync_key("-rlpD", "/root/hostile/", "TARGET:uploads/hostile/")
    node = target()
    listing = node.check_output(f"find {INBOX}/uploads/hostile -printf '%y %m %u %p -> %l\\n'")
    assert " otap-sync " in listing and " root " not in listing, listing
    assert "\nc " not in "\n" + listing and "\nb " not in "\n" + listing, f"a device node arrived: {listing}"
    link = [line for line in listing.splitlines() if line.endswith("-> /rsyncd-munged//etc")]
    assert link, f"a link arrived unmunged: {listing}"
    node.check_output(f"rm -rf {INBOX}/uploads/hostile")


# --- The agency's laptop: a snapshot of Production, scrubbed as a sync scrubs, fetched from the store ---

LAPTOP = "dev"  # the inventory's `laptop`: the Development server stands in for the agency's laptop
SITE = "mysqldump --skip-comments --skip-dump-date --ignore-table=portal.jos_session portal | sha256sum"


def as_the_agency(batch: str) -> subprocess.CompletedProcess:
    """An SFTP session on the store as the agency's developer (bram), with his own key."""
    key = Path(street.hostvar("store", "ansible_ssh_private_key_file")).expanduser().parent / "otap_street_bram"
    return subprocess.run(
        ["sftp", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-b", "-", f"bram@{street.hostvar('store', 'ansible_host')}"],
        input=batch, capture_output=True, text=True, timeout=60, check=False)


def repacked(archive: Path, folder: Path, first_sql: str = "", planted: dict[str, bytes] | None = None) -> Path:
    """A copy of the snapshot whose dump begins with `first_sql` and that holds the `planted` files too,
    with a checksum file that fits it."""
    folder.mkdir(exist_ok=True)
    forged = folder / archive.name
    with tarfile.open(archive) as source, tarfile.open(forged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name == "database.sql":
                data = first_sql.encode() + data
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
        for name, data in (planted or {}).items():
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o644
            target.addfile(member, io.BytesIO(data))
    forged.with_name(forged.name + ".sha256").write_text(f"{hashlib.sha256(forged.read_bytes()).hexdigest()}  {forged.name}\n")
    return forged


def test_the_agency_loads_a_scrubbed_laptop_snapshot_from_the_store_into_a_fresh_local_site(tmp_path):
    assert street.group("laptop") == [LAPTOP]
    title = add_article(uuid.uuid4().hex[:8])
    release = street.get(url(street.primary())).meta("otap-release")
    test = target()
    theirs = test.check_output(SITE)
    asked = street.playbook("request", otap_request_action="open", otap_request_kind="sync", otap_env="laptop",
                            typed={"otap_request_title": "A copy for my laptop"}, awx_user_name="bram", awx_job_id="10")
    assert asked.rc == 0, asked.output[-2000:]

    with street.MailSink() as mail:
        made = street.playbook("snapshot", otap_env=TARGET)
    assert made.rc == 0, made.output[-3000:]
    # Test's server scrubbed the copy beside its own site, which is as it was; no copy stays there.
    assert test.check_output(SITE) == theirs, "the snapshot changed Test's site"
    assert "portal_snapshot" not in test.check_output("mysql -N -e 'SHOW DATABASES'").split()
    assert not test.file("/var/lib/otap-sync/snapshot").exists
    told = [(m["subject"], sorted(m["to"])) for m in mail.messages]
    assert told[0] == (f"A laptop snapshot of Production (release {release}) is ready", ["bram@agency.example.com"])
    assert told[1][0].endswith("answered: laptop is level with Production"), told

    # The agency fetches it with its own key, read-only, from its jail in the store.
    listed = as_the_agency("ls -1\n")
    assert listed.returncode == 0, listed.stderr
    made_now = re.search(r"(snapshot-\S+-release-\d+\.tar\.gz) \(", mail.messages[0]["body"])[1]
    names = [n for n in listed.stdout.split() if n.startswith("snapshot-") and n.endswith(".tar.gz")]
    assert made_now in names and made_now.endswith(f"-release-{release}.tar.gz") and len(names) <= 2, listed.stdout
    names = [made_now]
    fetched = as_the_agency(f"get {names[0]} {tmp_path}/\nget {names[0]}.sha256 {tmp_path}/\n")
    assert fetched.returncode == 0, fetched.stderr
    archive = tmp_path / names[0]

    # Nothing personal and nothing secret of Production is in it, however it is spelled.
    members = subprocess.run(["tar", "-tzf", archive], capture_output=True, text=True, check=True).stdout.split()
    assert {"database.sql", "snapshot.json", "code/index.php"} <= set(members)
    assert not [m for m in members if m.startswith("uploads/") and not m.startswith("uploads/images")], members
    assert not [m for m in members if m.endswith("configuration.php")], "Production's configuration went into it"
    content = subprocess.run(["tar", "-xzOf", archive], capture_output=True, check=True).stdout.decode("utf-8", "replace")
    assert title in content and "user42@example.invalid" in content
    assert [value for value in PERSONAL if value in content] == [], "personal data in the laptop snapshot"
    # Nor any secret of the vaults, but the development password's hash every scrubbed account gets.
    secrets = street.vault_secrets() - {street.vault()["vault_sync_password_hash"]}
    assert [secret for secret in secrets if secret in content] == [], "a secret in the laptop snapshot"

    # A fresh local site: nothing loaded yet. A damaged download is refused before anything changes.
    laptop = street.host(LAPTOP)
    laptop.check_output(f"mysql -e 'DROP DATABASE portal; CREATE DATABASE portal' && rm -rf {ROOT}/current "
                        f"{ROOT}/releases/* {ROOT}/shared/images/* /var/lib/otap-sync/database.json")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / names[0]).write_bytes(archive.read_bytes()[:-64] + bytes(64))
    (damaged / f"{names[0]}.sha256").write_bytes((tmp_path / f"{names[0]}.sha256").read_bytes())
    refused = street.playbook("laptop", otap_snapshot_file=str(damaged / names[0]))
    assert refused.rc != 0 and "does not match its checksum file" in refused.output, refused.output[-2000:]
    assert not laptop.file(f"{ROOT}/current").exists

    # A dump that tries more than loading its own database: refused by the account and the sandbox.
    # (`_` in a grant is a wildcard: portal_load unescaped would let it make portalxload.)
    for hostile in ("\\! touch /tmp/otap-pwned", "CREATE TABLE portal.otap_pwned (a INT)",
                    "CREATE DATABASE portalxload"):
        forged = repacked(archive, tmp_path / "forged", hostile + ";\n")
        refused = street.playbook("laptop", otap_snapshot_file=str(forged))
        assert refused.rc != 0 and "Load the scrubbed database as that account" in refused.output, hostile
        assert laptop.run("test -e /tmp/otap-pwned").rc == 1, hostile
        assert laptop.check_output("mysql -N -e 'SHOW TABLES FROM portal'") == "", hostile
        assert "portalxload" not in laptop.check_output("mysql -N -e 'SHOW DATABASES'").split(), hostile
        granted = "SELECT privilege_type FROM information_schema.user_privileges WHERE grantee = \"'otap-load'@'localhost'\""
        assert laptop.check_output("mysql -N -e %s", granted) == "USAGE", hostile
    assert not laptop.file(f"{ROOT}/current").exists

    # It carries a configuration.php of its own (mail on, another database) and a folder where the site
    # links its uploads: the site keeps its own configuration and links.
    planted = repacked(archive, tmp_path / "planted", planted={
        "code/configuration.php": b"<?php class JConfig { public $mailonline = 1; public $host = 'elsewhere'; }\n",
        "code/images/planted.php": b"<?php echo 'planted';\n"})
    loaded = street.playbook("laptop", otap_snapshot_file=str(planted))
    assert loaded.rc == 0, loaded.output[-3000:]
    for own in ("configuration.php", "images"):
        assert laptop.file(f"{ROOT}/current/{own}").is_symlink, f"the snapshot replaced the site's own {own}"
    assert not laptop.file(f"{ROOT}/shared/images/planted.php").exists
    page = street.get(url(LAPTOP))
    assert page.status == 200 and page.meta("otap-release") == release and title in page.body
    here = dump(laptop)
    assert [value for value in PERSONAL if value in here] == [], "personal data on the laptop"
    assert "user42@example.invalid" in here
    assert laptop.file(f"{ROOT}/shared/images/uploads/new-on-prod.svg").user == "www-data"
    assert "portal_load" not in laptop.check_output("mysql -N -e 'SHOW DATABASES'").split()
    assert not laptop.file("/var/lib/otap-sync/load").exists
    assert json.loads(settings(laptop))["mailonline"] == 0
    # Again, named by a path relative to where it is run from (the checkout): nothing changes.
    again = street.playbook("laptop", otap_snapshot_file=os.path.relpath(archive, street.ROOT))
    assert again.rc == 0 and again.changed == 0, again.changed_tasks
