"""The production pair keeps serving: a planned switchover, a primary that crashes (the whole
node, or its MariaDB alone), a standby too far behind to be promoted, and the rebuild of a failed node.

Runs in file order, as one story, on the street as the scenarios before it left it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
import socket
import subprocess
import time

import pytest

from tests.integration import street

PAIR = street.group("production")
# Failovers touch only the pair (and the store): site.yml is run on those, as an operator would.
ONLY_PAIR_AND_STORE = ("--limit", "production:release_store")


def other(name: str) -> str:
    return next(n for n in PAIR if n != name)


def status(tmp_path) -> dict:
    report = tmp_path / "pair.json"
    run = street.playbook("failover", otap_action="status", otap_status_json=report)
    assert run.rc == 0, run.output[-2000:]
    return json.loads(report.read_text())


def site_tables_checksum(name: str) -> str:
    tables = street.host(name).check_output("mysql -N portal -e 'SHOW TABLES'").split()
    return street.host(name).check_output(f"mysql -N portal -e 'CHECKSUM TABLE {', '.join(tables)}'")


def read_only(name: str) -> str:
    return street.host(name).check_output("mysql -N -e 'SELECT @@global.read_only'")


def replicated(probe: street.Probe) -> bool:
    return all(probe.votes_on(name) == probe.writes for name in PAIR)


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


def back_up(name: str) -> None:
    """Start a node's container again and wait until its keepalived has settled."""
    docker("start", f"otap-{name}")

    def settled() -> bool:
        try:
            return street.host(name).run("cat /var/lib/keepalived-otap/state").stdout.strip() == "BACKUP"
        except RuntimeError:  # sshd not up yet
            return False

    street.wait_for(settled, 90, f"{name} back as keepalived BACKUP")


def uploads_level(editor: street.Editor) -> bool:
    """Every upload the site acknowledged is on both nodes, and nothing else of the editor's."""
    return all(editor.on(name) == set(editor.saved) for name in PAIR)


# The editor of the switchovers below: its uploads must be on both nodes after each.
EDITOR = street.Editor()


def test_a_switchover_that_cannot_finish_its_requests_changes_nothing_and_fails_no_request():
    """A request that does not end (its headers never finished) outlasts the drain: the
    hand-over gives everything back before the old primary turns read-only."""
    old = street.primary()
    with socket.create_connection((street.vip(), 80)) as slow, street.Probe(street.vip()) as probe:
        slow.sendall(f"GET / HTTP/1.1\r\nHost: {street.vip()}\r\n".encode())
        time.sleep(1)
        run = street.playbook("failover", otap_action="switchover", failover_drain_timeout=2)
        time.sleep(1)
    assert run.rc != 0 and "still open after 2s" in run.output, run.output[-3000:]
    assert f"{old} is still the primary and holds the VIP" in " ".join(run.output.split()), run.output[-3000:]
    assert probe.writes > 3 and not probe.failures, probe.failures
    assert street.primary() == old and read_only(old) == "0" and read_only(other(old)) == "1"
    assert street.host(old).run("nft list table inet otap_failover_hold").rc != 0, "the hold stayed"
    assert street.host(other(old)).run("pgrep --full 'otap-pair take-ove[r]'").rc == 1, "the take-over goes on"
    street.wait_for(lambda: replicated(probe), 30, "every acknowledged write on both nodes")


def test_switchover_moves_the_primary_and_the_vip_without_a_failed_request(tmp_path):
    old = street.primary()
    with street.Probe(street.vip()) as probe, EDITOR:
        time.sleep(2)
        run = street.playbook("failover", otap_action="switchover")
        time.sleep(2)
    assert run.rc == 0, run.output[-3000:]
    assert not EDITOR.refused and len(EDITOR.saved) > 5, EDITOR.refused
    print(f"switchover: {len(probe.results)} requests, longest wait {probe.longest_gap():.1f}s")
    assert probe.writes > 5 and not probe.failures, probe.failures
    street.wait_for(lambda: replicated(probe), 30, "every acknowledged write on both nodes")
    pair = status(tmp_path)
    assert pair["primary"] == other(old) and pair["vip_on_primary"]
    assert {n["node"]: n["database"] for n in pair["nodes"]} == {other(old): "primary", old: "standby"}


def test_uploads_saved_through_a_switchover_and_back_are_served_and_on_both_nodes():
    with EDITOR:
        time.sleep(2)
        run = street.playbook("failover", otap_action="switchover")
        time.sleep(2)
    assert run.rc == 0, run.output[-3000:]
    assert not EDITOR.refused, EDITOR.refused
    # Level at the switch (the playbook waits for it), and within seconds for what came after.
    street.wait_for(lambda: uploads_level(EDITOR), 15, "every saved upload on both nodes")
    assert not EDITOR.served(), "saved uploads the live site does not serve"
    gone = [EDITOR.saved[0], EDITOR.saved[-1]]
    for name in gone:
        EDITOR.delete(name)
    street.wait_for(lambda: uploads_level(EDITOR), 15, f"{gone} deleted on both nodes")
    # The receiving node takes uploads only from the node its database follows, as the web user.
    standby = other(street.primary())
    owners = street.host(standby).check_output(f"stat -c %U {EDITOR.FOLDER}/{EDITOR.prefix}-* | sort -u")
    assert owners == "www-data"


def test_the_uploads_key_only_sends_uploads_to_a_standby_that_follows_its_sender():
    primary, standby = street.primary(), other(street.primary())
    address = {name: street.hostvar(name, "ansible_host") for name in PAIR}
    ssh = "ssh -F /etc/otap-uploads/ssh_config"

    def attempt(source: str, target: str, command: str):
        return street.host(source).run(f"{ssh} {address[target]} {command}")

    before = street.host(standby).check_output("ls -la /tmp /etc/cron.d | sha256sum")
    for source, target, command, why in [
        (primary, standby, "id", "only an rsync receiver"),
        (primary, standby, "'rsync --server --sender -r . images/'", "nothing is read"),
        (primary, standby, "'sh -c \"touch /tmp/otap-pwned\"'", "only an rsync receiver"),
        (standby, primary, "'rsync --server -r . images/'", "writable"),
    ]:
        result = attempt(source, target, command)
        assert result.rc != 0 and why in result.stderr, (command, result.stderr)
    # rsync itself, past the forced command: rrsync keeps it inside the content folder.
    escape = street.host(primary).run(
        f"cd /tmp && echo x > otap-escape && rsync -e '{ssh}' otap-escape {address[standby]}:../../../../tmp/")
    assert escape.rc != 0
    with pytest.raises(RuntimeError, match="Permission denied"):  # ssh's own failure: exit 255
        street.host(primary).run(f"{ssh} -l root {address[standby]} id")
    assert street.host(standby).check_output("ls -la /tmp /etc/cron.d | sha256sum") == before
    assert not street.host(standby).file("/tmp/otap-pwned").exists


def test_a_switchover_to_the_primary_changes_nothing():
    run = street.playbook("failover", otap_action="switchover", otap_node=street.primary())
    assert run.rc == 0, run.output[-2000:]
    assert run.changed == 0, run.output[-3000:]


def test_a_switchover_in_check_mode_says_what_it_would_do_and_changes_nothing():
    primary, holder, before = street.primary(), street.vip_holder(), site_tables_checksum(street.primary())
    run = street.playbook("failover", "--check", otap_action="switchover")
    assert run.rc == 0 and run.changed == 0, run.output[-3000:]
    other = next(n for n in street.group("production") if n != primary)
    said = " ".join(run.output.split())
    assert f"Check mode: a real run would hand the primary role from {primary} to {other}" in said, said[-2000:]
    assert (street.primary(), street.vip_holder(), read_only(other)) == (primary, holder, "1")
    assert site_tables_checksum(primary) == before


@pytest.fixture(scope="module")
def operations_mail():
    """The street's SMTP server for the nodes' own mails, from the crash to the reseed."""
    mail = street.templated_vars(("keepalived_mail_host", "keepalived_mail_port"))[street.group("production")[0]]
    with street.MailSink(int(mail["keepalived_mail_port"]), hostname=mail["keepalived_mail_host"]) as sink:
        yield sink


def mailed(sink: street.MailSink, subject: str) -> list[dict]:
    return [m for m in sink.messages if subject in m["subject"]]


def test_a_crashed_primary_is_replaced_within_seconds_and_never_returns_as_a_second_primary(tmp_path,
                                                                                          operations_mail):
    crashed = street.primary()
    editor = street.Editor(timeout=5)
    with street.Probe(street.vip(), timeout=5) as probe, editor:
        time.sleep(3)
        docker("kill", f"otap-{crashed}")
        killed = time.monotonic()
        street.wait_for(lambda: any(r["ok"] and r["write"] and r["start"] > killed for r in probe.results), 60,
                 "a write accepted on the VIP after the crash")
        time.sleep(3)
    answered = [r for r in probe.results if r["ok"] and r["start"] > killed]
    print(f"crash of {crashed}: reads answered again after {min(r['end'] for r in answered if not r['write']) - killed:.1f}s,"
          f" writes after {min(r['end'] for r in answered if r['write']) - killed:.1f}s")
    survivor = other(crashed)
    # A crash may lose the uploads of its last seconds (lsyncd's delay and the transfer), no more.
    lost = set(editor.saved) - editor.on(survivor)
    print(f"crash of {crashed}: {len(lost)} of {len(editor.saved)} saved uploads lost, "
          f"saved {', '.join(f'{killed - editor.saved_at[name]:.1f}s' for name in sorted(lost))} before the crash")
    assert all(killed - editor.saved_at[name] < 3 for name in lost), lost
    assert read_only(survivor) == "0"
    assert "promoted" in street.host(survivor).check_output("cat /var/lib/keepalived-otap/promotion")
    (promotion,) = street.wait_for(lambda: mailed(operations_mail, f"{survivor} promoted itself"), 30,
                                   "the mail about the promotion")
    assert promotion["to"] == ["operations@hosting.example.net"] and "promoted" in promotion["body"]
    assert probe.votes_on(survivor) == probe.writes

    back_up(crashed)
    assert read_only(crashed) == "1"
    # The primary's lsyncd may not touch a stray node's uploads: whatever only it holds stays.
    stray_only = f"{street.Editor.FOLDER}/only-on-the-stray-node.txt"
    street.host(crashed).check_output(f"runuser -u www-data -- sh -c 'echo kept > {stray_only}'")
    editor.upload(f"{editor.prefix}-after-the-crash.txt")
    time.sleep(4)
    assert street.host(crashed).file(stray_only).exists
    assert f"{editor.prefix}-after-the-crash.txt" not in editor.on(crashed)
    # What a node wrote while cut off from its peer: only it holds this article (root passes read_only).
    street.host(crashed).check_output(
        "mysql portal -e %s", street.article_insert("Written on the stray node", "written-on-the-stray"))
    assert street.vip_holder() == survivor
    assert {n["node"]: n["database"] for n in status(tmp_path)["nodes"]}[crashed] == "stray"
    refused = street.playbook("site", *ONLY_PAIR_AND_STORE)
    assert refused.rc != 0 and "reseed" in refused.output


def stranded(node: str) -> set[str]:
    """The folders on the store in which reseeds kept what only `node` held (none before the first)."""
    folder = street.host("store").file("/srv/otap-store/stranded")
    if not folder.exists:
        return set()
    return {f"{folder.path}/{name}" for name in folder.listdir() if name.startswith(f"{node}-")}


def test_reseed_keeps_what_only_the_failed_node_holds_and_goes_on_only_when_confirmed(operations_mail):
    failed = other(street.primary())
    before = site_tables_checksum(failed)
    for confirm in ({}, {"otap_confirm": street.primary()}, {"otap_confirm": f"{failed} "}):
        refused = street.playbook("failover", otap_action="reseed", **confirm)
        flat = " ".join(refused.output.split())
        assert refused.rc != 0 and f"-e otap_confirm={failed}" in flat, (confirm, flat[-3000:])
        assert "INSERT INTO portal.jos_content: 1 row" in flat and "only-on-the-stray-node.txt" in flat, flat[-3000:]
        assert "Written on the stray node" not in refused.output, "the refusal showed the row's values"
        assert site_tables_checksum(failed) == before and read_only(failed) == "1", f"{confirm} changed {failed}"
    store = street.host("store")
    kept = max(stranded(failed), key=lambda path: store.file(path).mtime)  # a rerun's is there too
    assert store.file(kept).mode == 0o700
    assert "Written on the stray node" in store.check_output(f"cat {kept}/transactions.txt")
    assert "INSERT INTO portal.jos_content: 1 row" in store.check_output(f"cat {kept}/report.txt")
    assert store.check_output(f"tar -xzOf {kept}/uploads.tar.gz --wildcards '*only-on-the-stray-node.txt'") == "kept"
    assert street.host(failed).run("ls /var/lib/otap-failover/stranded-*").rc != 0, "a copy stayed on the node"
    assert not list(Path(tempfile.gettempdir()).glob("otap-stranded*")), "a copy stayed on the controller"
    # Its node told operations it is a stray, once, when that had lasted keepalived_report_after seconds.
    (stray,) = street.wait_for(lambda: mailed(operations_mail, f"{failed} is a stray node"), 60, "the stray's mail")
    assert "otap_action=reseed" in stray["body"]
    # And the primary, whose uploads the stray refuses, told them that its uploads reach no standby.
    behind = street.wait_for(lambda: mailed(operations_mail, f"{street.primary()}'s uploads are not reaching the standby"),
                             120, "the primary's mail about its uploads")[0]
    assert "has not been able to compare them with the standby's" in behind["body"], behind["body"]


def test_reseed_rebuilds_the_failed_node_as_the_standby(tmp_path):
    failed = other(street.primary())
    run = street.playbook("failover", otap_action="reseed", otap_confirm=failed)
    assert run.rc == 0, run.output[-3000:]
    assert site_tables_checksum(failed) == site_tables_checksum(street.primary())
    # Its uploads are the primary's again, and the primary's lsyncd keeps them so.
    listing = "find /var/www/portal/shared/images -printf '%P %s %m\\n' | sort"
    assert street.host(failed).check_output(listing) == street.host(street.primary()).check_output(listing)
    report = status(tmp_path)
    node = {n["node"]: n for n in report["nodes"]}[failed]
    assert (node["database"], node["io_running"], node["sql_running"]) == ("standby", "Yes", "Yes")
    assert (report["uploads"]["differences"], report["uploads"]["lag_seconds"], report["uploads"]["error"]) == \
        (0, None, ""), report["uploads"]
    # Production's full dump (every account, all personal data) is left nowhere.
    assert not list(Path(tempfile.gettempdir()).glob("otap-reseed*")), "the dump stayed on the controller"
    for name in street.group("production"):
        assert street.host(name).run("ls /var/lib/otap-failover/reseed.sql.gz*").rc != 0, f"the dump stayed on {name}"
    again = street.playbook("failover", otap_action="reseed")
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]


def test_the_report_says_how_long_the_oldest_upload_has_waited_for_the_standby(tmp_path):
    primary = street.host(street.primary())
    late = f"{street.Editor.FOLDER}/saved-while-lsyncd-was-stopped.txt"
    primary.check_output("systemctl stop otap-uploads.service")
    try:
        primary.check_output(f"runuser -u www-data -- sh -c 'echo late > {late} && touch -d \"-3 minutes\" {late}'")
        uploads = status(tmp_path)["uploads"]
    finally:
        primary.check_output("systemctl start otap-uploads.service")
    assert uploads["differences"] >= 1 and 180 <= uploads["lag_seconds"] < 300, uploads  # the file (and its folder)
    street.wait_for(street.uploads_level, 30, "lsyncd's start-up copy brings the standby level")


def test_uploads_the_standby_cannot_take_are_mailed_though_lsyncd_runs_on(operations_mail):
    """A folder restored by hand as root on the standby: the web user there cannot write into it,
    rsync gives up on the file and lsyncd runs on. The primary's own measure finds the file
    waiting and mails operations once that has lasted."""
    primary, standby = street.primary(), other(street.primary())
    subject = f"{primary}'s uploads are not reaching the standby"
    told_before = len(mailed(operations_mail, subject))  # a stray earlier in this module was told so too
    folder = f"{street.Editor.FOLDER}/restored-by-hand"
    street.host(standby).check_output(f"mkdir -p {folder} && chown root:root {folder} && chmod 0755 {folder}")
    try:
        street.host(primary).check_output(f"runuser -u www-data -- sh -c 'mkdir -p {folder} && echo saved > "
                                          f"{folder}/report.pdf && touch -d \"-3 minutes\" {folder}/report.pdf'")
        behind = street.wait_for(lambda: mailed(operations_mail, subject)[told_before:], 90,
                                 "the primary's mail about its uploads")[0]
        assert "the oldest saved" in behind["body"], behind["body"]
        assert street.host(primary).service("otap-uploads.service").is_running, "lsyncd ran on all the while"
        assert not street.host(standby).file(f"{folder}/report.pdf").exists
    finally:
        street.host(standby).check_output(f"rm -rf {folder}")
        street.host(primary).check_output(f"rm -rf {folder}")
    street.wait_for(street.uploads_level, 30, "the standby level again")


def test_a_standby_too_far_behind_is_not_promoted_when_the_primary_dies(tmp_path):
    primary, standby = street.primary(), other(street.primary())
    street.host(standby).check_output("mysql -e 'STOP SLAVE' && rm -f /var/lib/keepalived-otap/promotion")
    street.host(primary).check_output(
        "mysql portal -e \"INSERT INTO jos_content_rating (content_id, rating_count) VALUES (42, 1) "
        "ON DUPLICATE KEY UPDATE rating_count = rating_count + 1\"")
    docker("kill", f"otap-{primary}")
    street.wait_for(lambda: "MASTER" in street.host(standby).check_output("cat /var/lib/keepalived-otap/state"), 30,
             f"{standby} takes the VIP")
    decision = street.wait_for(lambda: street.host(standby).run("cat /var/lib/keepalived-otap/promotion").stdout, 30,
                        "the new VIP holder's decision")
    outcome = json.loads(decision)["outcome"]
    assert outcome.startswith("refuse") and "replication is stopped" in outcome, outcome
    assert read_only(standby) == "1"

    # The operator brings the node with the newest data back and makes it the primary again.
    back_up(primary)
    run = street.playbook("failover", otap_action="switchover", otap_node=primary)
    assert run.rc == 0, run.output[-3000:]
    assert street.primary() == primary and street.vip_holder() == primary
    # The standby as one set up before the street set its reconnect interval (MariaDB's 60 s):
    # site.yml gives it the street's own, and it replicates again whatever became of that.
    street.host(standby).check_output(
        "mysql -e 'STOP SLAVE; CHANGE MASTER TO MASTER_CONNECT_RETRY=60; START SLAVE'")
    resumed = street.playbook("site", *ONLY_PAIR_AND_STORE)
    assert resumed.rc == 0, resumed.output[-3000:]
    street.wait_for(lambda: site_tables_checksum(standby) == site_tables_checksum(primary), 30, "the standby caught up")
    replica = street.host(standby).check_output("mysql -e 'SHOW SLAVE STATUS\\G'")
    for line in ("Connect_Retry: 5", "Using_Gtid: Slave_Pos", "Slave_IO_Running: Yes", "Slave_SQL_Running: Yes"):
        assert line in replica, replica


def test_a_cut_between_the_nodes_never_makes_two_writers_and_loses_no_acknowledged_write():
    primary, standby = street.primary(), other(street.primary())
    with street.Probe(street.vip(), per_second=2, timeout=5) as probe, \
            street.WritableTimeline(seconds=240) as timeline:
        time.sleep(2)
        samples, converged_after = street.partition(seconds=30)
        time.sleep(2)
    two_holders = sum(1 for _, holders in samples if len(holders) > 1)
    print(f"partition: {len(samples)} samples, writable databases {sorted({len(w) for w, _ in samples})}, "
          f"the standby writable in {sum(took for _, took in timeline.samples[standby])} of "
          f"{len(timeline.samples[standby])} samples of its own, "
          f"two VIP holders in {two_holders}, converged {converged_after}s after the heal, "
          f"{probe.writes} writes acknowledged, {len(probe.failures)} requests failed")
    assert all(writers == [primary] for writers, _ in samples), samples
    assert not any(took for _, took in timeline.samples[standby]) and timeline.samples[standby]
    assert converged_after is not None, f"not converged 150s after the cut healed: {samples[-5:]}"
    assert two_holders <= 10, f"two VIP holders for {two_holders} seconds"
    assert probe.writes > 0
    # A request that timed out may still have been committed: at least every acknowledged vote,
    # and the same on both nodes.
    street.wait_for(lambda: probe.votes_on(primary) == probe.votes_on(standby) >= probe.writes, 30,
                    "every acknowledged write on both nodes")


def test_a_primary_cut_off_from_its_peer_and_the_witness_fences_itself_before_the_standby_promotes(
        operations_mail):
    isolated = street.primary()
    standby = other(isolated)
    samples = []
    with street.Probe(street.vip(), per_second=2, timeout=5) as probe, street.WritableTimeline() as timeline:
        time.sleep(2)
        with street.cut_off(isolated, [standby, "store"]):
            for _ in range(20):
                samples.append(street.writers_and_holders())
                time.sleep(1)
        time.sleep(2)
    two_holders = sum(1 for _, holders in samples if len(holders) > 1)
    print(f"isolated primary: {sum(map(len, timeline.samples.values()))} samples of read_only, two writable "
          f"databases for {timeline.both_writable():.2f}s, handover {timeline.handover(isolated, standby):.1f}s, "
          f"two VIP holders in {two_holders} of {len(samples)} seconds, {probe.writes} writes acknowledged, "
          f"{probe.votes_on(standby)} on the new primary, {probe.votes_on(isolated)} on the fenced node")
    assert timeline.both_writable() == 0, timeline.samples
    assert samples[-1] == ([standby], [standby]), samples[-5:]
    assert two_holders <= 10, f"two VIP holders for {two_holders} seconds"
    assert street.on_node(isolated, "ls /var/lib/keepalived-otap/").split().count("fenced") == 1
    street.wait_for(lambda: mailed(operations_mail, f"{isolated} reaches neither its peer nor the witness"), 60,
                    "the mail about the fence")
    # What it acknowledged between the cut and its fence (semi-sync waits a second for the standby,
    # then goes on without it) is stranded on it: the reseed keeps that on the store, then rebuilds it.
    on_the_new_primary = probe.votes_on(standby)
    kept_before = stranded(isolated)
    run = street.playbook("failover", otap_action="reseed", otap_confirm=isolated)
    assert run.rc == 0, run.output[-3000:]
    kept = stranded(isolated) - kept_before
    votes = sum(street.host("store").check_output(f"cat {path}/report.txt").count("UPDATE portal.jos_content_rating")
                for path in kept)
    print(f"isolated primary: {votes} acknowledged writes stranded on it and kept in {kept or 'nothing'}")
    assert probe.writes <= on_the_new_primary + votes
    street.wait_for(lambda: street.following(isolated), 60, f"{isolated} following {standby}")


def test_a_primary_whose_database_crashes_is_replaced_once_it_is_back_read_only(operations_mail):
    """MariaDB alone dies on the primary (the OOM killer's SIGKILL), its host lives. The standby
    that takes the VIP finds the host answering and its database not, and refuses; systemd starts MariaDB again, read-only, and the standby, deciding again, catches up to it and
    promotes. systemd's restart is held back 20 s here, so that the first decision surely finds
    the database down."""
    crashed = street.primary()
    survivor = other(crashed)
    node = street.host(crashed)
    node.check_output("mkdir -p /run/systemd/system/mariadb.service.d && printf '[Service]\\nRestartSec=20\\n' "
                      "> /run/systemd/system/mariadb.service.d/slow-restart.conf && systemctl daemon-reload")
    try:
        with street.Probe(street.vip(), per_second=2, timeout=5) as probe:
            time.sleep(2)
            since = street.on_node(survivor, "date +%s")
            node.check_output("systemctl kill --signal=SIGKILL mariadb")
            killed = time.monotonic()
            refusal = street.wait_for(lambda: [line for line in street.on_node(
                survivor, f"journalctl -q -o cat -t otap-pair --since=@{since}").splitlines()
                if line.startswith("refuse")], 40, f"{survivor}'s first decision, with {crashed}'s database down")
            street.wait_for(lambda: any(r["ok"] and r["write"] and r["start"] > killed for r in probe.results), 90,
                            "a write accepted on the VIP after MariaDB came back")
            time.sleep(2)
    finally:
        node.check_output("rm -f /run/systemd/system/mariadb.service.d/slow-restart.conf && systemctl daemon-reload")
    print(f"MariaDB's crash on {crashed}: {survivor} first said {refusal[0]!r}; writes answered again after "
          f"{min(r['end'] for r in probe.results if r['ok'] and r['write'] and r['start'] > killed) - killed:.1f}s")
    assert "database does not" in refusal[0], refusal
    assert (read_only(survivor), read_only(crashed)) == ("0", "1")
    assert street.vip_holder() == survivor
    outcome = json.loads(street.on_node(survivor, "cat /var/lib/keepalived-otap/promotion"))["outcome"]
    assert outcome.startswith("promoted") and "decided again" in outcome, outcome
    street.wait_for(lambda: mailed(operations_mail, f"{survivor} promoted itself"), 30, "the mail about the promotion")
    street.wait_for(lambda: probe.votes_on(survivor) >= probe.writes, 30, "every acknowledged write on the survivor")
    # The old primary is read-only and replicates from nobody: rebuilt as the standby as any stray.
    run = street.playbook("failover", otap_action="reseed", otap_confirm=crashed)
    assert run.rc == 0, run.output[-3000:]
    street.wait_for(lambda: street.following(crashed), 60, f"{crashed} following {survivor}")


# From the standby, connections to the primary's MariaDB that end before their handshake, spelled
# two ways: closed at once (a port probe), and a few bytes that are no handshake (a half-started
# server's, or a confused client's). Three times MariaDB's default limit of 100 in all.
BARE_CONNECTIONS = """
import socket, sys
for n in range(300):
    with socket.create_connection((sys.argv[1], 3306), timeout=5) as s:
        if n % 2:
            s.recv(1024)
            s.sendall(b"\\x05\\x00\\x00\\x01junk")
"""


def test_connections_that_end_before_their_handshake_never_block_the_standbys_replication():
    """The standby's deciding asks the old primary's MariaDB every few seconds while it refuses,
    and a starting server ends such connections early. MariaDB blocks a host after
    max_connect_errors of them, and with it that host's replication; the pair's limit is far above
    what a day of deciding makes."""
    primary = street.primary()
    standby = other(primary)
    address = street.hostvar(primary, "ansible_host")
    aborted = "mysql -N -e \"SHOW GLOBAL STATUS LIKE 'Aborted_connects'\" | cut -f2"
    before = int(street.on_node(primary, aborted))
    try:
        street.on_node(standby, f"python3 -c '{BARE_CONNECTIONS}' {address}")
        counted = int(street.on_node(primary, aborted)) - before
        street.on_node(standby, "mysql -e 'STOP SLAVE; START SLAVE'")
        street.wait_for(lambda: street.following(standby), 30, f"{standby} replicating again from {primary}")
        # A login from the standby's host gets as far as the password: the server did not block it.
        login = subprocess.run(["docker", "exec", f"otap-{standby}", "mysql", "-h", address, "-u", "nobody",
                                "-pwrong", "-e", "SELECT 1"], capture_output=True, text=True, timeout=20, check=False)
        assert "Access denied" in login.stderr, login.stderr
    finally:
        street.on_node(primary, "mysql -e 'FLUSH HOSTS'")
    print(f"{standby}: 300 bare connections to {primary}'s MariaDB, {counted} counted as aborted; replication "
          "and logins from that host go on")


def test_the_street_as_provisioned_again_changes_nothing_after_releases_and_failovers_and_shows_no_secret():
    """Molecule provisioned the street once; after the releases (scenario release) and the
    failovers above, a second run of site changes nothing on any host. It runs with -v --diff, where a task that
    handles a secret without no_log would show it."""
    secrets = street.vault_secrets()
    assert len(secrets) >= 10, "the vault should give each environment its own secrets"
    run = street.playbook("site", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, f"the second run changed: {run.changed_tasks}"
    leaked = sorted(s for s in secrets if s in run.output)
    assert not leaked, f"secrets in playbook output: {len(leaked)}"
