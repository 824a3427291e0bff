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

# Joomla 4/5's personal data, table by table (the issue's list, in the schema's names).
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
        "sortname2": "", "sortname3": ""}},
    {"table": "messages", "action": "delete"},
    {"table": "banner_clients", "action": "update", "set": {
        "name": "Client {id}", "contact": "", "email": "client{id}@example.invalid", "extrainfo": ""}},
    {"table": "fields_values", "action": "delete",
     "where": "field_id IN (SELECT id FROM `{prefix}fields` WHERE context LIKE 'com_users.%' "
              "OR context LIKE 'com_contact.%')"},
    {"table": "finder_logging", "action": "delete"},
    {"table": "history", "action": "delete",
     "where": "item_id LIKE 'com_users.%' OR item_id LIKE 'com_contact.%'"},
    {"table": "content_rating", "action": "update", "key": "content_id", "set": {"lastip": "0.0.0.0"}},
    {"table": "redirect_links", "action": "update", "set": {"referer": ""}},
]


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
    key = rule.get("key", "id")
    wanted = rule.get("set") or {}
    missing = sorted(c for c in wanted if c not in columns)
    present = {c: v for c, v in wanted.items() if c in columns}
    if not present:
        return None, missing
    assignments = ", ".join(f"{identifier(c)} = {value(v, key, password_hash)}" for c, v in present.items())
    return f"UPDATE {table} SET {assignments}{where_sql}", missing


def plan(rules: list[dict], prefix: str, schema: dict[str, set[str]], password_hash: str) -> list[dict]:
    """One step per rule: its table, SQL (None when the table is absent), and missing columns."""
    identifier(prefix.rstrip("_") or "x")
    steps = []
    for rule in rules:
        name = prefix + rule.get("table", "")
        if name not in schema:
            steps.append({"table": name, "sql": None, "missing": [], "absent": True})
            continue
        sql, missing = statement(rule, prefix, schema[name], password_hash)
        steps.append({"table": name, "sql": sql, "missing": missing, "absent": False})
    return steps
