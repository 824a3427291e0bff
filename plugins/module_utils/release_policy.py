"""The release package policy: what a release may and may not contain.

Pure functions, shared by the modules that build and verify packages and unit-tested on
their own. Every refusal is a PolicyViolation that names the file and the rule.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

# Paths that hold content or per-environment settings: never part of a release.
DEFAULT_CONTENT_PATHS = (
    "images/",
    "configuration.php",
    "cache/",
    "administrator/cache/",
    "tmp/",
    "logs/",
    "administrator/logs/",
)

# Tables (without prefix) that hold the webmaster's content; `*` matches any suffix.
DEFAULT_CONTENT_TABLES = (
    "content",
    "content_frontpage",
    "content_rating",
    "categories",
    "menu*",
    "modules*",
    "fields*",
    "tags",
    "contentitem_tag_map",
    "assets",
    "workflow*",
    "banner*",
    "users",
    "user_*",
    "usergroups",
    "contact_details",
    "ucm_*",
    "history",
)


@dataclass(frozen=True)
class PolicyViolation:
    path: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}"


def check_path(path: str, content_paths=DEFAULT_CONTENT_PATHS) -> PolicyViolation | None:
    """The rule a file path of a release breaks, or None. Paths are relative to the Joomla root."""
    if not path or path.strip() != path:
        return PolicyViolation(repr(path), "empty path or surrounding whitespace")
    if path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path):
        return PolicyViolation(path, "absolute path (paths are relative to the Joomla root)")
    if "\\" in path or "\0" in path:
        return PolicyViolation(path, "backslash or NUL in path")
    parts = path.split("/")
    if ".." in parts:
        return PolicyViolation(path, "path escape ('..')")
    if "." in parts or "" in parts:
        return PolicyViolation(path, "path not in normal form ('.', '//' or trailing '/')")
    for content in content_paths:
        if content.endswith("/"):
            if path.startswith(content) or path == content.rstrip("/"):
                return PolicyViolation(path, f"content path ({content} belongs to the site, not to a release)")
        elif path == content:
            return PolicyViolation(path, f"content path ({content} belongs to the site, not to a release)")
    return None


def normalise(path: str) -> str:
    """A path as it appears in a release, for comparison (no leading './')."""
    return posixpath.normpath(path) if path not in ("", ".") else path


# --- SQL -------------------------------------------------------------------------------------

_IDENT = r"`?(?P<table>(?:#__)?[A-Za-z0-9_$]+)`?"


def split_statements(sql: str) -> list[tuple[int, str]]:
    """Split a MySQL script into (line number, statement) pairs, comments removed.

    Understands quoted strings ('', "", ``), `--` and `/* */` comments, and `#` comments except
    for Joomla's `#__` table prefix.
    """
    statements: list[tuple[int, str]] = []
    buf: list[str] = []
    line, start_line = 1, None
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            literal = sql[i:j + 1]
            if start_line is None:
                start_line = line
            buf.append(literal)
            line += literal.count("\n")
            i = j + 1
            continue
        if (ch == "-" and nxt == "-" and (i + 2 >= n or sql[i + 2] in " \t\r\n")) or (
                ch == "#" and sql[i:i + 3] != "#__"):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == "/" and nxt == "*":
            j = sql.find("*/", i + 2)
            comment = sql[i:(n if j < 0 else j + 2)]
            line += comment.count("\n")
            buf.append(" ")
            i = n if j < 0 else j + 2
            continue
        if ch == ";":
            text = " ".join("".join(buf).split())
            if text:
                statements.append((start_line or line, text))
            buf, start_line = [], None
            i += 1
            continue
        if ch == "\n":
            line += 1
        elif not ch.isspace() and start_line is None:
            start_line = line
        buf.append(ch)
        i += 1
    text = " ".join("".join(buf).split())
    if text:
        statements.append((start_line or line, text))
    return statements


_DESTRUCTIVE = [
    (re.compile(rf"^DROP\s+(?:TEMPORARY\s+)?TABLES?\s+(?:IF\s+EXISTS\s+)?(?P<list>.+)$", re.I), "drops"),
    (re.compile(rf"^TRUNCATE\s+(?:TABLE\s+)?{_IDENT}", re.I), "truncates"),
    (re.compile(rf"^DELETE\s+(?:LOW_PRIORITY\s+|QUICK\s+|IGNORE\s+)*FROM\s+{_IDENT}", re.I), "deletes from"),
    # Multi-table DELETE names its targets by alias: any content table in it counts.
    (re.compile(r"^DELETE\s+\S.*?\s+FROM\s(?P<all>.+)$", re.I), "deletes from"),
    (re.compile(rf"^RENAME\s+TABLES?\s+(?P<list>.+)$", re.I), "renames"),
    (re.compile(rf"^ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+{_IDENT}\s+.*\bRENAME\b", re.I), "renames"),
    (re.compile(rf"^ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+{_IDENT}\s+(?:.*,\s*)?DROP\s+(?!INDEX|KEY|FOREIGN|PRIMARY|CONSTRAINT|CHECK)", re.I),
     "drops a column of"),
]


def _tables_in(fragment: str) -> list[str]:
    names = re.findall(r"`?((?:#__)?[A-Za-z0-9_$]+)`?\s*(?:,|$|\s+TO\s+)", fragment + " ", re.I)
    return [name for name in names if name.upper() not in ("TO", "IF", "EXISTS", "CASCADE", "RESTRICT")]


def is_content_table(table: str, content_tables=DEFAULT_CONTENT_TABLES) -> bool:
    if not table.startswith("#__"):
        return False
    name = table[3:].lower()
    for pattern in content_tables:
        pattern = pattern.lower()
        if pattern.endswith("*") and name.startswith(pattern[:-1]) or name == pattern:
            return True
    return False


def sql_violations(script: str, sql: str, content_tables=DEFAULT_CONTENT_TABLES) -> list[PolicyViolation]:
    """Statements of a script that would destroy content: drop, truncate, rename or delete from."""
    found = []
    for line, statement in split_statements(sql):
        if re.match(r"^(DROP|CREATE)\s+(DATABASE|SCHEMA)\b", statement, re.I):
            found.append(PolicyViolation(f"{script}:{line}", "changes a whole database (DROP/CREATE DATABASE)"))
            continue
        if re.match(r"^DELIMITER\b", statement, re.I):
            found.append(PolicyViolation(f"{script}:{line}", "DELIMITER is not supported; write one statement per ';'"))
            continue
        for pattern, verb in _DESTRUCTIVE:
            match = pattern.match(statement)
            if not match:
                continue
            groups = match.groupdict()
            if groups.get("table"):
                tables = [groups["table"]]
            elif groups.get("all"):
                tables = re.findall(r"#__[A-Za-z0-9_$]+", groups["all"])
            else:
                tables = _tables_in(groups["list"])
            for table in tables:
                if is_content_table(table, content_tables):
                    found.append(PolicyViolation(
                        f"{script}:{line}",
                        f"{verb} content table {table} (content written on Production would be lost)"))
            break
    return found
