"""joomla_scrub against a real MariaDB (fixture `mariadb`), as an adversarial review attacked it: each
test_* that is not a control_* failed before its mend, for the reason its docstring gives; the
control_* tests show the same data caught where the defect was not in play."""

import itertools
import json

import pytest

from ansible_collections.otap.street.plugins.modules import joomla_scrub

HASH = "$2y$10$abcdefghijklmnopqrstuv"
SITES = itertools.count(1)


@pytest.fixture
def database(mariadb):
    name = f"scrubreview{next(SITES)}"
    mariadb(f"CREATE DATABASE {name}")
    return name


def scrub(run_module, mariadb, database, **args):
    return run_module(joomla_scrub, database=database, prefix="jos_", password_hash=HASH,
                      login_unix_socket=mariadb.socket, **args)


# --- A site's own rule that names its table or column not quite right is skipped, and the scrub
# --- reports success with the table untouched.

FORM_TABLE = ("CREATE TABLE jos_rsform_submissions (SubmissionId INT PRIMARY KEY, UserIp VARCHAR(50), "
              "Username VARCHAR(100))")
FORM_ROW = "INSERT INTO jos_rsform_submissions VALUES (1, '83.84.85.86', 'j.jansen')"


@pytest.mark.parametrize("rule", [
    # the table named with its prefix, as it appears in phpMyAdmin
    {"table": "jos_rsform_submissions", "action": "update", "key": "SubmissionId",
     "set": {"UserIp": "0.0.0.0", "Username": ""}},
    # the columns in another case: MariaDB itself would accept `UserIP` and `username`
    {"table": "rsform_submissions", "action": "update", "key": "SubmissionId",
     "set": {"UserIP": "0.0.0.0", "username": ""}},
])
def test_a_site_rule_that_scrubs_nothing_fails_the_scrub(run_module, mariadb, database, rule):
    """plan() marks a rule's table `absent` and statement() a column `missing` and skips them, for the
    site's own extra_rules as for Joomla's defaults (scrub.py:158-160, 144-148; the column check is
    case-sensitive although MariaDB's column names are not); the module exits without failing and
    the visitor's IP and username stay. The sweep cannot help: it looks for emails, phones, IBANs."""
    mariadb(FORM_TABLE, database)
    mariadb(FORM_ROW, database)
    result = scrub(run_module, mariadb, database, rules=[], extra_rules=[rule])
    left = mariadb("SELECT UserIp, Username FROM jos_rsform_submissions", database)
    assert result["failed"] or left == [("0.0.0.0", "")], (
        f"the scrub reported success (absent={result.get('absent')}, steps={result.get('steps')}) "
        f"and left {left}")


def control_rule_named_right_scrubs(run_module, mariadb, database):
    mariadb(FORM_TABLE, database)
    mariadb(FORM_ROW, database)
    rule = {"table": "rsform_submissions", "action": "update", "key": "SubmissionId",
            "set": {"UserIp": "0.0.0.0", "Username": ""}}
    result = scrub(run_module, mariadb, database, rules=[], extra_rules=[rule])
    assert not result["failed"]
    assert mariadb("SELECT UserIp, Username FROM jos_rsform_submissions", database) == [("0.0.0.0", "")]


def test_control_a_rule_named_right_scrubs(run_module, mariadb, database):
    control_rule_named_right_scrubs(run_module, mariadb, database)


# --- The sweep reads at most 2000 pre-filtered rows per column; rows that pass the cheap REGEXP
# --- filter for a harmless reason (a date) use up the 2000 before the real email is reached.

def fields_with_dates(mariadb, database, dates):
    mariadb("CREATE TABLE jos_fields (id INT PRIMARY KEY, context VARCHAR(255), name VARCHAR(255))", database)
    mariadb("INSERT INTO jos_fields VALUES (1, 'com_content.article', 'event-date'), "
            "(2, 'com_content.article', 'internal-note')", database)
    # Joomla's #__fields_values has no primary key: rows come back in the order they were written.
    mariadb("CREATE TABLE jos_fields_values (field_id INT, item_id VARCHAR(255), value TEXT)", database)
    mariadb("INSERT INTO jos_fields_values SELECT 1, seq, '2026-10-01 00:00:00' FROM seq_1_to_%d" % dates, database)
    mariadb("INSERT INTO jos_fields_values VALUES (2, '9999', 'terugbellen: jan.jansen1961@gmail.com')", database)


def test_the_sweep_sees_an_email_after_2000_dated_rows(run_module, mariadb, database):
    """joomla_scrub.sweep (joomla_scrub.py:126, 144) runs `... WHERE col REGEXP SWEEP_FILTER LIMIT 2000`;
    SWEEP_FILTER's `[+0-9][0-9 ()./-]{8,}` matches every date ('2026-10-01 00:00:00'), so a column
    with 2500 date values (an events site's date fields) hides an email written after them: the scrub
    succeeds with the email in place."""
    fields_with_dates(mariadb, database, 2500)
    result = scrub(run_module, mariadb, database)
    assert result["failed"] and "jos_fields_values.value (email)" in result["msg"], (
        "the sweep passed a copy holding jan.jansen1961@gmail.com in jos_fields_values.value")


def test_control_the_sweep_sees_the_email_after_1500_dated_rows(run_module, mariadb, database):
    fields_with_dates(mariadb, database, 1500)
    result = scrub(run_module, mariadb, database)
    assert result["failed"] and "jos_fields_values.value (email)" in result["msg"]


# --- The sweep searches text columns only: a BLOB (or VARBINARY) column holding text is not searched.

@pytest.mark.parametrize("kind", ["LONGBLOB", "BLOB", "VARBINARY(2000)"])
def test_the_sweep_searches_binary_columns_holding_text(run_module, mariadb, database, kind):
    """TEXT_TYPES (joomla_scrub.py:122) leaves out blob/binary types, which third-party form
    extensions use for serialized submissions: an email, phone number and IBAN in such a column
    pass the sweep and the scrub succeeds."""
    mariadb(f"CREATE TABLE jos_portal_forms (id INT PRIMARY KEY, data {kind})", database)
    submission = json.dumps({"naam": "Jan Jansen", "email": "jan.jansen1961@gmail.com",
                             "telefoon": "06-12345678", "iban": "NL91ABNA0417164300"})
    mariadb(f"INSERT INTO jos_portal_forms VALUES (1, '{submission}')", database)
    result = scrub(run_module, mariadb, database)
    assert result["failed"] and "jos_portal_forms.data" in result["msg"], (
        f"the sweep passed a {kind} column holding an email, a phone number and an IBAN")


def test_control_the_sweep_sees_the_same_submission_in_a_text_column(run_module, mariadb, database):
    mariadb("CREATE TABLE jos_portal_forms (id INT PRIMARY KEY, data LONGTEXT)", database)
    submission = json.dumps({"email": "jan.jansen1961@gmail.com"})
    mariadb(f"INSERT INTO jos_portal_forms VALUES (1, '{submission}')", database)
    result = scrub(run_module, mariadb, database)
    assert result["failed"] and "jos_portal_forms.data (email)" in result["msg"]


# --- Secrets Joomla's core keeps in the database arrive as they are, and the scrub reports success.

def test_smtp_and_ldap_secrets_do_not_survive_the_scrub(run_module, mariadb, database):
    """No default rule touches #__mail_templates (com_mails' alternative mail configuration: SMTP
    user and password per template) or #__extensions (core plg_authentication_ldap: the directory's
    bind account and password); the sweep does not look for secrets. The scrub succeeds and
    Production's SMTP relay password and AD bind password reach every lower environment and the
    agency's laptop snapshot."""
    mariadb("CREATE TABLE jos_mail_templates (template_id VARCHAR(127), extension VARCHAR(127), "
            "language CHAR(7), subject VARCHAR(255), body TEXT, htmlbody MEDIUMTEXT, attachments TEXT, "
            "params TEXT)", database)
    mail = json.dumps({"alternative_mailconfig": "1", "mailer": "smtp", "smtphost": "relay.hospital.example",
                       "smtpuser": "svc-portal", "smtppass": "Relay-Prod-S3cret", "smtpauth": "1"})
    mariadb(f"INSERT INTO jos_mail_templates VALUES ('com_contact.mail', 'com_contact', '', 's', 'b', '', '', "
            f"'{mail}')", database)
    mariadb("CREATE TABLE jos_extensions (extension_id INT PRIMARY KEY, type VARCHAR(20), element VARCHAR(100), "
            "folder VARCHAR(100), params TEXT, manifest_cache TEXT)", database)
    ldap = json.dumps({"host": "dc01.hospital.example", "username": "CN=svc-joomla,OU=Service,DC=hospital",
                       "password": "AD-Bind-Pr0d-Secret", "base_dn": "DC=hospital"})
    mariadb(f"INSERT INTO jos_extensions VALUES (1, 'plugin', 'ldap', 'authentication', '{ldap}', '{{}}')", database)
    result = scrub(run_module, mariadb, database)
    left = mariadb("SELECT params FROM jos_mail_templates UNION ALL SELECT params FROM jos_extensions", database)
    secrets = [s for s in ("Relay-Prod-S3cret", "AD-Bind-Pr0d-Secret") if any(s in row[0] for row in left)]
    assert result["failed"] or not secrets, f"the scrub reported success and left {secrets}"


# --- Tables under another prefix (Joomla's installer keeps old tables as bak_*) are not scrubbed;
# --- only the sweep stands before them, and it does not see IP addresses, usernames or sessions.

def test_joomla_tables_under_another_prefix_are_scrubbed_or_refused(run_module, mariadb, database):
    """plan() runs every rule on `prefix + table` only (scrub.py:157); a second set of Joomla tables
    in the same database (bak_ from a reinstall with "backup old tables", j3_ from a migration) is left
    as it is. The action log's IP addresses and usernames and the sessions carry no email, phone or
    IBAN, so the sweep passes them and the scrub reports success."""
    mariadb("CREATE TABLE bak_action_logs (id INT PRIMARY KEY, message_language_key VARCHAR(255), message TEXT, "
            "log_date DATETIME, extension VARCHAR(50), user_id INT, item_id INT, ip_address VARCHAR(40))", database)
    message = json.dumps({"action": "login", "id": "42", "username": "m.dejong", "app": "PLG_ACTIONLOG_JOOMLA_APPLICATION_SITE"})
    mariadb(f"INSERT INTO bak_action_logs VALUES (1, 'PLG_ACTIONLOG_JOOMLA_USER_LOGGED_IN', '{message}', NOW(), "
            f"'com_users', 42, 42, '83.84.85.86')", database)
    mariadb("CREATE TABLE bak_session (session_id VARBINARY(192) PRIMARY KEY, client_id TINYINT, guest TINYINT, "
            "time INT, data MEDIUMTEXT, userid INT, username VARCHAR(150))", database)
    mariadb("INSERT INTO bak_session VALUES ('abc', 0, 0, 1795600000, 'joomla|s:20:\"patient=m.dejong\";', 42, "
            "'m.dejong')", database)
    result = scrub(run_module, mariadb, database)
    left = mariadb("SELECT ip_address FROM bak_action_logs UNION ALL SELECT username FROM bak_session", database)
    assert result["failed"] or left == [], f"the scrub reported success and left {left}"


def test_control_a_wrong_prefix_is_caught_by_the_sweep_when_users_have_emails(run_module, mariadb, database):
    mariadb("CREATE TABLE hsp_users (id INT PRIMARY KEY, name VARCHAR(400), username VARCHAR(150), "
            "email VARCHAR(100), password VARCHAR(100))", database)
    mariadb("INSERT INTO hsp_users VALUES (42, 'M. de Jong', 'm.dejong', 'm.dejong@gmail.com', '$2y$10$x')", database)
    result = scrub(run_module, mariadb, database)  # prefix jos_: every rule absent
    assert result["failed"] and "hsp_users.email (email)" in result["msg"]
