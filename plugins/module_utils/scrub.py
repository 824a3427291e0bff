# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which personal data a Joomla database holds, and the SQL that replaces it with deterministic
fake values that keep the site usable (unique usernames, one known password for every account).

A rule is {table, action, set, where, key}: `table` without the prefix (`users` for `#__users`);
`action` is `update` (rewrite the columns of `set`), `delete` (remove the rows `where` selects,
all by default); `set` maps a column to a value: a string in which `{id}` stands for the row's
key column (`key`, default `id`), `@password` for the known password's hash, or null.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]+$")

# Joomla 4/5's personal data, table by table, in the schema's names. Copies a site rebuilds by
# itself (version history, the tag index, Smart Search's index) are emptied whole.
DEFAULT_RULES: list[dict] = [
    {"table": "users", "action": "update", "set": {
        "name": "User {id}", "username": "user{id}", "email": "user{id}@example.invalid",
        "password": "@password", "activation": "", "otpKey": "", "otep": "", "params": "{}"}},
    {"table": "user_profiles", "action": "delete"},
    {"table": "user_notes", "action": "delete"},
    {"table": "user_keys", "action": "delete"},
    {"table": "user_mfa", "action": "delete"},
    {"table": "webauthn_credentials", "action": "delete"},
    {"table": "session", "action": "delete"},
    {"table": "action_logs", "action": "delete"},
    {"table": "privacy_requests", "action": "delete"},
    {"table": "privacy_consents", "action": "delete"},
    {"table": "contact_details", "action": "update", "set": {
        "name": "Contact {id}", "alias": "contact-{id}", "con_position": "", "address": "", "suburb": "",
        "state": "", "country": "", "postcode": "", "telephone": "", "fax": "", "misc": "", "image": "",
        "email_to": "contact{id}@example.invalid", "mobile": "", "webpage": "", "sortname1": "",
        "sortname2": "", "sortname3": "", "metakey": "", "metadesc": "", "metadata": "{}",
        "created_by_alias": "", "params": "{}"}},
    {"table": "messages", "action": "delete"},
    {"table": "banner_clients", "action": "update", "set": {
        "name": "Client {id}", "contact": "", "email": "client{id}@example.invalid", "extrainfo": ""}},
    {"table": "fields_values", "action": "delete",
     "where": "field_id IN (SELECT id FROM `{prefix}fields` WHERE context LIKE 'com_users.%' "
              "OR context LIKE 'com_contact.%')"},
    # Every saved version of every item (users, contacts and banner clients among them).
    {"table": "history", "action": "delete"},
    # The tag index keeps a copy of every tagged item (tagged contacts among them).
    {"table": "ucm_content", "action": "delete"},
    {"table": "ucm_base", "action": "delete"},
    # Smart Search's index holds copies of items and their authors' names; its search log, queries.
    {"table": "finder_links", "action": "delete"},
    {"table": "finder_links_terms", "action": "delete"},
    {"table": "finder_terms", "action": "delete"},
    {"table": "finder_terms_common", "action": "delete", "where": "0"},
    {"table": "finder_tokens", "action": "delete"},
    {"table": "finder_tokens_aggregate", "action": "delete"},
    {"table": "finder_taxonomy_map", "action": "delete"},
    {"table": "finder_taxonomy", "action": "delete", "where": "id > 1"},
    {"table": "finder_logging", "action": "delete"},
    # Joomla 5's structured data: a Person's name, email and phone, an article's author.
    {"table": "schemaorg", "action": "update", "set": {"schema": "{}"}},
    {"table": "content_rating", "action": "update", "key": "content_id", "set": {"lastip": "0.0.0.0"}},
    # Redirects keep the addresses visitors asked for, query strings (an email in a link) included.
    {"table": "redirect_links", "action": "delete", "where": "old_url LIKE '%?%' OR new_url LIKE '%?%'"},
    {"table": "redirect_links", "action": "update", "set": {"referer": "", "comment": ""}},
    # An article's author as printed (a person's name typed in), in every state, trashed too.
    {"table": "content", "action": "update", "set": {"created_by_alias": ""}, "where": "created_by_alias <> ''"},
    # Secrets, not personal data, but Production's: a mail template's own SMTP relay and account
    # (com_mails' alternative configuration), and core LDAP sign-in's directory account. A copy
    # mails through the environment's own settings, and signs nobody in against the hospital's directory.
    {"table": "mail_templates", "action": "update", "set": {"params": "{}"}, "where": "params <> '{}'"},
    {"table": "extensions", "action": "update", "set": {"params": "{}"},
     "where": "type = 'plugin' AND folder = 'authentication' AND element = 'ldap'"},
]

# What the sweep looks for in every text column after the rules ran (module_utils/scrub.sweep).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])(?:\+[1-9][0-9]{0,2}|00[1-9][0-9]{0,2}|0)[ .-]?(?:\(0\)[ .-]?)?[1-9](?:[ .-]?[0-9]){7,10}(?![0-9])")
_AREA_CODE = re.compile(r"\((0[1-9][0-9]{0,3})\)")
_PHONE_SEPARATOR = re.compile(r"(?<=[0-9]) ?[-/] ?(?=[0-9])")
# Where an IBAN may start; its end is found by its check (a BIC or a name in capitals may follow).
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?= ?[A-Z0-9])")
_IBAN_TAIL = re.compile(r"(?: ?[A-Z0-9]){11,30}")
# A cheap first filter for MariaDB (REGEXP), so that only rows worth a closer look leave the server.
SWEEP_FILTER = "@|[+0-9][0-9 ()./-]{8,}|[A-Za-z]{2}[0-9]{2} ?[A-Za-z0-9]{4}"
FAKE_DOMAIN = "example.invalid"


def ibans(text: str):
    """Every IBAN in `text` with a valid check: the longest that ends at a word's end, from each place
    one may start."""
    for start in _IBAN_START.finditer(text):
        tail = _IBAN_TAIL.match(text, start.end())
        if not tail:
            continue
        for end in range(tail.end(), start.end() + 10, -1):
            if text[end - 1] != " " and not (end < len(text) and text[end].isalnum()) \
                    and iban_valid(text[start.start():end]):
                yield text[start.start():end]
                break


def iban_valid(text: str) -> bool:
    """ISO 13616's check: the country and check digits moved to the end, read as a number, mod 97 is 1."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    digits = "".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def personal_data(text: str, public=()) -> list[tuple[str, str]]:
    """(kind, value) for what looks like a real person's email, phone number or IBAN in `text`,
    leaving out the scrub's own fakes (example.invalid) and the values `public` names."""
    found = []
    for match in _EMAIL.finditer(text):
        value = match.group(0)
        if not value.lower().endswith("@" + FAKE_DOMAIN) and value not in public:
            found.append(("email", value))
    # Area codes in brackets, and a slash or a spaced hyphen between digits, read as _PHONE reads them.
    spelled = _PHONE_SEPARATOR.sub("-", _AREA_CODE.sub(r"\1", text))
    for match in _PHONE.finditer(spelled):
        value = match.group(0)
        if value not in public:
            found.append(("phone", value))
    for value in ibans(text):
        if value not in public:
            found.append(("iban", value))
    return found


class RuleError(ValueError):
    """A rule that names no table, an unknown action, or a name that is not an identifier."""


def identifier(name: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise RuleError(f"not a table or column name: {name!r}")
    return f"`{name}`"


def literal(text: str) -> str:
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def value(template, key: str, password_hash: str) -> str:
    """The SQL expression for one column's new value."""
    if template is None:
        return "NULL"
    if template == "@password":
        return literal(password_hash)
    parts = str(template).split("{id}")
    if len(parts) == 1:
        return literal(template)
    pieces = [piece for part in parts[:-1] for piece in (literal(part), f"{identifier(key)}")] + [literal(parts[-1])]
    return "CONCAT(" + ", ".join(p for p in pieces if p != "''") + ")"


def statement(rule: dict, prefix: str, columns: set[str], password_hash: str) -> tuple[str | None, list[str]]:
    """(SQL, columns of the rule the table lacks) for one rule on a table with `columns`."""
    table = identifier(prefix + rule.get("table", ""))
    where = rule.get("where")
    where_sql = f" WHERE {where.replace('{prefix}', prefix)}" if where else ""
    action = rule.get("action")
    if action == "delete":
        return f"DELETE FROM {table}{where_sql}", []
    if action != "update":
        raise RuleError(f"{rule.get('table')}: action must be update or delete, not {action!r}")
    named = {column.lower(): column for column in columns}  # MariaDB's column names ignore case
    key = named.get(str(rule.get("key", "id")).lower(), rule.get("key", "id"))
    wanted = rule.get("set") or {}
    missing = sorted(c for c in wanted if str(c).lower() not in named)
    present = {named[str(c).lower()]: v for c, v in wanted.items() if str(c).lower() in named}
    if not present:
        return None, missing
    assignments = ", ".join(f"{identifier(c)} = {value(v, key, password_hash)}" for c, v in present.items())
    return f"UPDATE {table} SET {assignments}{where_sql}", missing


def other_prefixes(prefix: str, schema, rules: list[dict]) -> list[str]:
    """Prefixes besides the site's under which the database holds a second set of Joomla's tables
    (bak_ from an install that kept the old ones, j3_ from a migration): any that names two of the
    rules' tables."""
    names = {rule.get("table", "") for rule in rules}
    counted: dict[str, int] = {}
    for table in schema:
        for name in names:
            other = table[:-len(name)] if name and table.endswith(name) else ""
            if other.endswith("_") and other != prefix and _IDENTIFIER.match(other):
                counted[other] = counted.get(other, 0) + 1
    return sorted(other for other, count in counted.items() if count >= 2)


def plan(rules: list[dict], prefix: str, schema: dict[str, set[str]], password_hash: str,
         required: bool = False) -> list[dict]:
    """One step per rule: its table, SQL (None when the table is absent), and missing columns.
    `required` (the site's own rules): a table or column the database lacks is a RuleError, since
    a rule that scrubs nothing must not pass for one that worked."""
    identifier(prefix.rstrip("_") or "x")
    steps = []
    for rule in rules:
        name = prefix + rule.get("table", "")
        if name not in schema:
            if required:
                raise RuleError(f"{rule.get('table')!r}: the database has no table {name} (a rule names its table "
                                "without the prefix)")
            steps.append({"table": name, "sql": None, "missing": [], "absent": True})
            continue
        sql, missing = statement(rule, prefix, schema[name], password_hash)
        if required and missing:
            raise RuleError(f"{rule.get('table')!r}: {name} has no column {', '.join(map(str, missing))}")
        steps.append({"table": name, "sql": sql, "missing": missing, "absent": False})
    return steps
