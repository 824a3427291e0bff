# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a release's SQL scripts as MariaDB reads them: statements, comments, literals.

No dependencies, so it runs on the nodes that apply the scripts as well as on the controller that
checks them. The split is only at statement boundaries: a statement's text is exactly what the
agency wrote (whitespace inside string literals included); only Joomla's `#__` is replaced by the
site's table prefix outside string literals, as Joomla itself does.

The lexer follows MariaDB's rules where they matter for safety: `--` starts a comment only when
followed by whitespace (otherwise MariaDB reads two minus signs, while other tools read a
comment); `#` starts a comment except in Joomla's `#__`; backslashes escape inside '...' and "..."
(the migration session runs without NO_BACKSLASH_ESCAPES and ANSI_QUOTES); `/*! ... */` and
`/*M! ... */` are executed by MariaDB, so they are reported instead of skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Joomla's table prefix placeholder, and the installer's hint for a statement that may fail.
JOOMLA_PREFIX = "#__"
CAN_FAIL = "/** CAN FAIL **/"
_READS = re.compile(r"^(SELECT|SET|SHOW|DESCRIBE|DESC|EXPLAIN|DO)\b", re.I)
# Statements that need the DROP right on the tables they name: dropping, emptying or renaming one.
_DROPS = re.compile(r"^(DROP|TRUNCATE|RENAME)\b|^ALTER\b.*\bRENAME\b", re.I | re.S)


@dataclass(frozen=True)
class Span:
    kind: str  # code, string, ident, comment
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    line: int
    text: str
    spans: tuple[Span, ...] = field(repr=False)
    base: int = field(repr=False)
    problems: tuple[str, ...] = ()

    def _pieces(self, prefix: str | None, blank_comments: bool, blank_strings: bool = False) -> str:
        out = []
        for span in self.spans:
            piece = self.text[span.start - self.base:span.end - self.base]
            if span.kind == "comment":
                out.append(" " if blank_comments else piece)
            elif span.kind == "string" and blank_strings:
                out.append("''")
            elif span.kind in ("code", "ident") and prefix is not None:
                out.append(piece.replace(JOOMLA_PREFIX, prefix))
            else:
                out.append(piece)
        return "".join(out).strip()

    def with_prefix(self, prefix: str) -> str:
        """The statement as it is executed: `#__` replaced outside string literals, nothing else changed."""
        return self._pieces(prefix, blank_comments=False)

    def code(self, prefix: str = JOOMLA_PREFIX) -> str:
        """The statement with its comments blanked out (what a parser reads), `#__` replaced by `prefix`."""
        return self._pieces(prefix, blank_comments=True)

    def bare(self) -> str:
        """The statement's code and names as written, comments and string literals blanked."""
        return self._pieces(None, blank_comments=True, blank_strings=True)

    def tables(self) -> list[str]:
        """The tables the statement names (`#__name`, outside string literals and comments), in order."""
        found: list[str] = []
        for name in re.findall(r"#__[A-Za-z0-9_$]+", self.bare()):
            if name not in found:
                found.append(name)
        return found

    @property
    def drops(self) -> bool:
        """Whether the statement drops, empties or renames the tables it names (the DROP right)."""
        return bool(_DROPS.match(self.code()))

    @property
    def can_fail(self) -> bool:
        """Joomla's installer hint: the statement may fail because it was already done."""
        return any(span.kind == "comment" and self.text[span.start - self.base:span.end - self.base] == CAN_FAIL
                   for span in self.spans)


def _spans(sql: str) -> tuple[list[Span], list[tuple[int, str]]]:
    """Cut a script into code, string, identifier and comment spans; lexical problems by offset."""
    spans: list[Span] = []
    problems: list[tuple[int, str]] = []
    i, n, code_start = 0, len(sql), 0

    def close_code(upto: int) -> None:
        if upto > code_start:
            spans.append(Span("code", code_start, upto))

    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            close_code(i)
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
            if j >= n:
                problems.append((i, "unterminated: a quoted string or name is not closed"))
                j = n - 1
            spans.append(Span("ident" if ch == "`" else "string", i, j + 1))
            i = code_start = j + 1
            continue
        dashes = ch == "-" and sql.startswith("--", i)
        if dashes and not (i + 2 >= n or sql[i + 2] in " \t\r\n\f\v"):
            problems.append((i, "double-dash: '--' without a space after it (MariaDB reads two minus signs, "
                                "other tools a comment); write '- -' or a comment with a space"))
            i += 2
            continue
        if dashes or (ch == "#" and not sql.startswith(JOOMLA_PREFIX, i)):
            close_code(i)
            j = sql.find("\n", i)
            j = n if j < 0 else j
            spans.append(Span("comment", i, j))
            i = code_start = j
            continue
        if ch == "/" and sql.startswith("/*", i):
            close_code(i)
            j = sql.find("*/", i + 2)
            if j < 0:
                problems.append((i, "unterminated: a /* comment is not closed"))
                j = n - 2
            if re.match(r"/\*M?!", sql[i:i + 4]):
                problems.append((i, "executable-comment: MariaDB runs what is inside /*! ... */; "
                                    "write the statement plainly"))
            spans.append(Span("comment", i, j + 2))
            i = code_start = j + 2
            continue
        i += 1
    close_code(n)
    return spans, problems


def split(sql: str) -> list[Statement]:
    """The statements of a script, split at `;` outside literals and comments, in order."""
    spans, problems = _spans(sql)
    statements: list[Statement] = []
    pending: list[Span] = []

    def flush(end: int) -> None:
        meaningful = [s for s in pending if s.kind != "comment" and sql[s.start:s.end].strip()]
        if meaningful:
            first = meaningful[0]
            start = first.start + (len(sql[first.start:first.end]) - len(sql[first.start:first.end].lstrip()))
            # Comments before the first word belong to no statement; a trailing CAN FAIL hint does.
            kept = [s for s in pending if s.end > start]
            stop = max(s.end for s in kept)
            text = sql[start:stop].rstrip()
            stop = start + len(text)
            clipped = tuple(Span(s.kind, max(s.start, start), min(s.end, stop)) for s in kept
                            if min(s.end, stop) > max(s.start, start))
            found = tuple(rule for offset, rule in problems if start <= offset < max(stop, end))
            statements.append(Statement(sql.count("\n", 0, start) + 1, text, clipped, start, found))
        pending.clear()

    for span in spans:
        if span.kind != "code":
            pending.append(span)
            continue
        cut = span.start
        for offset in (m.start() for m in re.finditer(";", sql[span.start:span.end])):
            at = span.start + offset
            if at > cut:
                pending.append(Span("code", cut, at))
            flush(at)
            cut = at + 1
        if span.end > cut:
            pending.append(Span("code", cut, span.end))
    flush(len(sql))
    # Problems outside every statement (an executable comment standing alone, say) still count.
    for offset, rule in problems:
        if not any(s.base <= offset < s.base + len(s.text) for s in statements):
            statements.append(Statement(sql.count("\n", 0, offset) + 1, "", (), offset, (rule,)))
    return sorted(statements, key=lambda s: s.base)


def touched_tables(sql: str) -> list[str]:
    """Tables (written with `#__`) that the statements of a script may change, conservatively:
    every `#__name` outside string literals and comments of every statement that is not a read."""
    found: list[str] = []
    for statement in split(sql):
        if _READS.match(statement.code()):
            continue
        found += [name for name in statement.tables() if name not in found]
    return found
