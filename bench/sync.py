#!/usr/bin/env python3
"""`make bench`: syncing Test from Production, next to a plain copy between the same hosts.

Production gets a generated database of about 500 MB (articles in a table of their own, and
20,000 users with personal data) and 3,000 uploaded files. Measured in the same run:
- baseline: a plain `mysqldump | mysql` pipe from the production standby into a scratch
  database on Test, plus a plain full copy of the uploads from the VIP holder to Test (both over
  the same SSH transport the sync uses);
- sync.yml -e otap_env=test with everything new (scrub, swap, code and uploads included);
- sync.yml after one article changed on Production (the database is copied again, the uploads
  are unchanged: how much of them is sent);
- sync.yml with nothing changed.
Afterwards the generated data leaves Production and Test is synced back.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import street  # noqa: E402

ARTICLES, BATCH, USERS, FILES, FILE_BYTES = 125_000, 5_000, 20_000, 3_000, 20_000
ROOT, TARGET = "/var/www/portal", "test"
SSH = "ssh -F /etc/otap-sync/ssh_config"


def must(run: street.Run) -> street.Run:
    if run.rc:
        sys.exit(run.output[-3000:])
    return run


def say(text: str) -> None:
    print(f"bench sync: {text}", flush=True)


def sql(node: str, statement: str) -> str:
    return street.host(node).check_output("mysql -N portal -e %s", statement)


def generate(primary: str, standby: str) -> str:
    # Article text in words: hex digests have runs of digits that the sync's sweep rightly takes
    # for phone numbers, and then refuses the copy.
    say(f"generating {ARTICLES:,} articles and {USERS:,} users on {primary}")
    sql(primary, "CREATE TABLE jos_otap_bench_content LIKE jos_content")
    for first in range(1, ARTICLES + 1, BATCH):
        sql(primary, "INSERT INTO jos_otap_bench_content (title, alias, introtext, `fulltext`, state, catid, created, "
                     "modified) SELECT CONCAT('Bench article ', seq), CONCAT('bench-', seq), "
                     "REPEAT('Visiting hours change during the works on the east wing. ', 36), "
                     "REPEAT('The ward reopens once the works are done; ask at the desk. ', 34), 0, 2, NOW(), NOW() "
                     f"FROM seq_{first}_to_{first + BATCH - 1}")
    sql(primary, "INSERT INTO jos_users (name, username, email, password, registerDate, params) SELECT "
                 "CONCAT('Bench Patient ', seq), CONCAT('bench', seq), CONCAT('patient', seq, '@mail.example.net'), "
                 f"'$2y$10$benchbenchbenchbenchbe', NOW(), '{{}}' FROM seq_1_to_{USERS}")
    say(f"writing {FILES:,} uploads of {FILE_BYTES // 1000} kB on {primary}")
    street.host(primary).check_output(
        f"install -d -o www-data -g www-data {ROOT}/shared/images/bench && cd {ROOT}/shared/images/bench && "
        f"for i in $(seq 1 {FILES}); do head -c {FILE_BYTES} /dev/urandom > upload-$i.jpg; done && chown -R www-data: .")
    position = sql(primary, "SELECT @@global.gtid_binlog_pos")
    sql(standby, f"SELECT MASTER_GTID_WAIT('{position}', 600)")
    # The sizes come from fresh statistics on the primary (NO_WRITE_TO_BINLOG: nothing for the standby
    # to replay); the standby's own statistics lag behind what it replicated.
    sql(primary, "ANALYZE NO_WRITE_TO_BINLOG TABLE jos_otap_bench_content, jos_users")
    return sql(primary, "SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.tables "
                        "WHERE table_schema = 'portal'")


INBOX = "/var/lib/otap-sync/inbox"


def baseline(primary: str, standby: str) -> tuple[float, float]:
    test = street.host(street.group(TARGET)[0])
    address = street.hostvar(street.group(TARGET)[0], "ansible_host")
    test.check_output("mysql -e 'DROP DATABASE IF EXISTS portal_sync; CREATE DATABASE portal_sync'")
    started = time.monotonic()
    street.host(standby).check_output(
        "bash -o pipefail -c %s", f"mysqldump --single-transaction portal | {SSH} {address} load portal_sync")
    database = time.monotonic() - started
    test.check_output("mysql -e 'DROP DATABASE portal_sync'")
    started = time.monotonic()
    # The sync key writes only into its inbox on Test (rrsync): the copy goes where the sync's uploads go.
    street.host(primary).check_output(f"rsync -a --rsh='{SSH}' {ROOT}/shared/images/ {address}:bench-copy/")
    files = time.monotonic() - started
    test.check_output(f"rm -rf {INBOX}/bench-copy")
    return database, files


def timed_sync() -> tuple[float, str]:
    started = time.monotonic()
    run = must(street.playbook("sync", otap_env=TARGET))
    elapsed = time.monotonic() - started
    uploads = re.search(r"Uploads \(images/\): ([^.]*)\.", run.output)
    return elapsed, uploads.group(1) if uploads else "?"


def clean(primary: str) -> None:
    say("removing the generated data from Production, and syncing Test back")
    sql(primary, "DROP TABLE IF EXISTS jos_otap_bench_content; DELETE FROM jos_users WHERE username LIKE 'bench%'")
    street.host(primary).check_output(f"rm -rf {ROOT}/shared/images/bench")
    must(street.playbook("sync", otap_env=TARGET))


def main() -> None:
    say("a first sync, so Test starts level with Production")
    must(street.playbook("sync", otap_env=TARGET))
    primary = street.primary()
    standby = next(n for n in street.group("production") if n != primary)
    try:
        megabytes = generate(primary, standby)
        say("baseline: mysqldump | mysql, and a plain copy of the uploads")
        database, files = baseline(primary, standby)
        say("sync.yml with everything new")
        first, first_uploads = timed_sync()
        sql(primary, "UPDATE jos_content SET hits = hits + 1 WHERE id = 1")
        say("sync.yml after one article changed")
        second, second_uploads = timed_sync()
        say("sync.yml with nothing changed")
        third, third_uploads = timed_sync()
    finally:
        clean(primary)
    base = database + files
    print(f"sync of {TARGET} from production: database {megabytes} MB ({ARTICLES:,} articles, {USERS:,} users with "
          f"personal data), {FILES:,} uploads ({FILES * FILE_BYTES // 1_000_000} MB); same run, same hosts")
    print(f"  baseline: mysqldump | mysql, standby -> {TARGET}:        {database:6.1f} s")
    print(f"  baseline: plain copy of the uploads (rsync -a):     {files:6.1f} s")
    print(f"  baseline, together:                                 {base:6.1f} s = 1.00")
    print(f"  sync.yml, everything new (scrub and swap included): {first:6.1f} s = {first / base:.2f} x baseline"
          f"   uploads: {first_uploads}")
    print(f"  sync.yml, one article changed on Production:        {second:6.1f} s = {second / base:.2f} x baseline"
          f"   uploads: {second_uploads}")
    print(f"  sync.yml, nothing changed:                          {third:6.1f} s = {third / base:.2f} x baseline"
          f"   uploads: {third_uploads}")


if __name__ == "__main__":
    main()
