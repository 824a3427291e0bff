# Copyright: otap.street maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release SQL allow-list: what an agency's script may do to the site's database.

Every statement is parsed with sqlglot's MySQL dialect (a maintained parser) and allowed only if
its kind is on the list below; everything else, and everything the parser does not understand, is
refused with the rule named. This runs on the controller (packaging, and again before every
rollout, where a script passed before is found in Verdicts rather than parsed again), where the
pinned virtualenv provides sqlglot; the nodes verify the agency's signature and
the register's checksum, so the bytes they run are the bytes checked here, and the database
account that runs them (the site's database only) refuses whatever this list would miss.

Allowed, on tables written `#__name` (the site's own prefix, never a schema or a literal prefix):
- CREATE TABLE (not OR REPLACE; InnoDB, MyISAM, Aria or MEMORY), CREATE INDEX;
- ALTER TABLE: add, modify or change columns, add or drop indexes and keys, table options;
  on content tables not: drop or rename columns (only a declared Joomla update may), rename the
  table; on no table foreign keys, a constraint's or a column's REFERENCES (a cascade would delete
  content);
- DROP TABLE and TRUNCATE of tables that are not content, DROP INDEX;
- INSERT (also ... SELECT and ON DUPLICATE KEY UPDATE);
- UPDATE with a WHERE that names a column (any table);
- DELETE from one table with a WHERE that names a column; from a content table only in a
  release that declares a Joomla update (RELEASE.md `Joomla-Update:`);
- SET NAMES / CHARACTER SET, and user variables (@name).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
import stat
import sys
import tempfile

from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    DEFAULT_CONTENT_TABLES,
    PolicyViolation,
    is_content_table,
    is_machinery,
)
from ansible_collections.otap.street.plugins.module_utils.release_sql import split

try:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.optimizer.simplify import simplify

    HAS_SQLGLOT = True
    # The parser says on stderr what it only half understood; the policy refuses those instead.
    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)
except ImportError:  # the nodes do not need it; the controller's virtualenv has it
    HAS_SQLGLOT = False

# What `#__` becomes while parsing: a name no script may contain itself.
MARK = "otap_joomla_prefix__"
ENGINES = {"innodb", "myisam", "aria", "memory"}
FUNCTIONS = {"load_file", "sleep", "benchmark", "get_lock", "release_lock", "release_all_locks", "is_used_lock",
             "master_pos_wait", "master_gtid_wait", "sys_exec", "sys_eval", "uuid_short"}


class MissingParser(RuntimeError):
    pass


def _table(node, content_tables) -> tuple[str, list[tuple[str, str]]]:
    """The `#__name` of a table node, and the rules its spelling breaks."""
    name = node.name
    problems = []
    if node.args.get("db") or node.args.get("catalog"):
        problems.append(("schema-qualified", f"{node.sql(dialect='mysql')} names a database; a release works in "
                                             "the site's database only and names tables #__name"))
    if not name.lower().startswith(MARK):
        literal = re.match(r"^[A-Za-z0-9]{1,16}_(.+)$", name)
        if literal and is_content_table(literal.group(1), content_tables):
            problems.append(("table-prefix", f"{name} is content table #__{literal.group(1)} written with a literal "
                                             "prefix; write #__name"))
        else:
            problems.append(("table-prefix", f"table {name} is not written #__name (the prefix differs per site)"))
        return name, problems
    return "#__" + name[len(MARK):], problems


def _constant(where) -> bool:
    """A WHERE that names no column, or that simplifies to one that does not, selects every row."""
    if where is None:
        return True
    condition = simplify(where.this.copy(), dialect="mysql")
    return next(condition.find_all(exp.Column), None) is None


class _Checker:
    def __init__(self, content_tables, joomla_update: bool, verb: str = ""):
        self.content_tables = tuple(content_tables)
        self.verb = verb
        self.joomla_update = joomla_update
        self.found: list[tuple[str, str]] = []

    def refuse(self, rule: str, message: str) -> None:
        message = re.sub(re.escape(MARK), "#__", message, flags=re.I)
        if (rule, message) not in self.found:
            self.found.append((rule, message))

    def name(self, node) -> str:
        name, problems = _table(node, self.content_tables)
        for rule, message in problems:
            self.refuse(rule, message)
        if name.startswith("#__") and is_machinery(name[3:]):
            self.refuse("migration-tables", f"{name} belongs to the migration's history and copies, not to a release")
        return name

    def content(self, name: str) -> bool:
        return name.startswith("#__") and is_content_table(name[3:], self.content_tables)

    def tables(self, tree, skip=()) -> None:
        """Every table the statement names must be spelled #__name, in this database."""
        for node in tree.find_all(exp.Table):
            if id(node) not in skip and node.name.upper() != "DUAL":
                self.name(node)
        for node in tree.find_all(exp.Anonymous, exp.Func):
            fname = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if fname in FUNCTIONS:
                self.refuse("function", f"{fname.upper()}() has no place in a release (files, locks, waits)")

    def check(self, tree) -> None:
        kind = type(tree).__name__
        handler = getattr(self, f"_{kind.lower()}", None)
        if handler is None:
            self.refuse("statement-kind", f"{self.verb or tree.key.upper()} is not a statement a release may run "
                                          "(allowed: CREATE/ALTER/DROP TABLE, CREATE/DROP INDEX, TRUNCATE, INSERT, "
                                          "UPDATE, DELETE, SET NAMES)")
            return
        if isinstance(tree, (exp.Create, exp.Alter)) and next(tree.find_all(exp.ForeignKey, exp.Reference), None):
            # A constraint's FOREIGN KEY, or a column's own REFERENCES (MariaDB makes that a real key too).
            self.refuse("foreign-key", f"adds a foreign key ({self.verb}): a cascade could delete content; "
                                       "releases add no foreign keys")
        handler(tree)

    def _create(self, tree) -> None:
        kind = str(tree.args.get("kind") or "").upper()
        if kind == "INDEX":
            self.tables(tree)
            return
        if kind != "TABLE":
            self.refuse("statement-kind", f"CREATE {kind} is not a statement a release may run (only tables and indexes)")
            return
        if tree.args.get("replace"):
            self.refuse("replace-table", "CREATE OR REPLACE TABLE drops the table it replaces; drop it explicitly "
                                         "(never a content table)")
        for prop in (tree.args.get("properties") or exp.Properties()).expressions:
            if isinstance(prop, exp.EngineProperty):
                if prop.name.lower() not in ENGINES:
                    self.refuse("table-option", f"ENGINE={prop.name} (allowed: InnoDB, MyISAM, Aria, MEMORY)")
            elif not isinstance(prop, (exp.CharacterSetProperty, exp.CollateProperty, exp.SchemaCommentProperty,
                                       exp.AutoIncrementProperty, exp.RowFormatProperty, exp.LikeProperty,
                                       exp.TemporaryProperty)):
                self.refuse("table-option", f"table option {prop.sql(dialect='mysql')} is not allowed")
        self.tables(tree)

    def _alter(self, tree) -> None:
        if str(tree.args.get("kind") or "").upper() != "TABLE":
            self.refuse("statement-kind", f"ALTER {tree.args.get('kind')} is not a statement a release may run")
            return
        index_names = set()
        target = self.name(tree.this)
        content = self.content(target)
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.Drop):
                what = str(action.args.get("kind") or "").upper()
                if what == "COLUMN":
                    if content and not self.joomla_update:
                        self.refuse("content-column-drop", f"drops a column of content table {target} (only a "
                                                           "release that declares a Joomla update may)")
                elif what in ("INDEX", "KEY", "FOREIGN KEY", "CONSTRAINT", "CHECK"):
                    index_names.update(id(t) for t in action.find_all(exp.Table))
                else:
                    self.refuse("alter-action", f"ALTER TABLE ... DROP {what or '?'} is not understood")
            elif isinstance(action, exp.AlterRename):
                renamed = self.name(action.this)
                if content or self.content(renamed):
                    self.refuse("content-rename", f"renames {target} to {renamed}: content tables keep their names")
            elif isinstance(action, (exp.RenameColumn, exp.ModifyColumn)) and (
                    isinstance(action, exp.RenameColumn) or action.args.get("rename_from") is not None
                    and action.args["rename_from"].name != action.this.name):
                if content and not self.joomla_update:
                    self.refuse("content-rename", f"renames a column of content table {target} (older code would "
                                                  "lose it on rollback; only a declared Joomla update may)")
            elif not isinstance(action, (exp.AddConstraint, exp.ColumnDef, exp.ModifyColumn, exp.AlterColumn, exp.DropPrimaryKey)):
                self.refuse("alter-action", f"ALTER TABLE action {type(action).__name__} is not understood")
        for key in tree.args:
            if key not in ("this", "kind", "actions", "exists", "only", "not_valid", "check", "cascade", "iceberg",
                           "options"):
                if tree.args.get(key):
                    self.refuse("alter-action", f"ALTER TABLE part {key} is not understood")
        self.tables(tree, skip=index_names)

    def _drop(self, tree) -> None:
        kind = str(tree.args.get("kind") or "").upper()
        if kind == "INDEX":
            self.tables(tree, skip={id(t) for t in tree.args.get("tables") or []})
            return
        if kind != "TABLE":
            self.refuse("statement-kind", f"DROP {kind} is not a statement a release may run (only tables and indexes)")
            return
        for node in tree.args.get("tables") or []:
            name = self.name(node)
            if self.content(name):
                self.refuse("content-drop", f"drops content table {name} (content written on Production would be lost)")
        self.tables(tree)

    def _truncatetable(self, tree) -> None:
        for node in tree.expressions:
            name = self.name(node)
            if self.content(name):
                self.refuse("content-truncate", f"empties content table {name} (content written on Production "
                                                "would be lost)")
        self.tables(tree)

    def _delete(self, tree) -> None:
        if tree.args.get("tables") or tree.args.get("using") or tree.this.args.get("joins"):
            self.refuse("multi-table-delete", "a DELETE names one table (multi-table DELETE and USING hide its target)")
            return
        target = self.name(tree.this)
        if _constant(tree.args.get("where")):
            self.refuse("delete-without-where", f"DELETE from {target} without a WHERE that names a column "
                                                "(empties the table)")
        if self.content(target) and not self.joomla_update:
            self.refuse("content-delete", f"deletes from content table {target} (only a release that declares a "
                                          "Joomla update may, and the Acceptance guard shows what it removed)")
        self.tables(tree)

    def _update(self, tree) -> None:
        if _constant(tree.args.get("where")):
            target = tree.this.sql(dialect="mysql").replace(MARK, "#__")
            self.refuse("update-without-where", f"UPDATE of {target} without a WHERE that names a column "
                                                "(changes every row)")
        self.tables(tree)

    def _insert(self, tree) -> None:
        self.tables(tree)

    def _set(self, tree) -> None:
        for item in tree.expressions:
            kind = str(item.args.get("kind") or "").upper()
            if kind in ("NAMES", "CHARACTER SET"):
                continue
            target = item.this.this if isinstance(item.this, exp.EQ) else None
            if kind == "" and isinstance(target, exp.Parameter):
                self.tables(item)
                continue
            self.refuse("set-variable", f"SET {item.sql(dialect='mysql')}: a release sets no server or session "
                                        "variables (only SET NAMES and @user variables)")


def check_statement(code: str, content_tables, joomla_update: bool = False) -> list[tuple[str, str]]:
    """(rule, message) for every rule one statement breaks; `code` has `#__` and no comments."""
    if not HAS_SQLGLOT:
        raise MissingParser("the SQL policy needs the Python library sqlglot (in requirements.txt)")
    words = code.split()
    checker = _Checker(content_tables, joomla_update, words[0].upper() if words else "")
    if checker.verb in ("CREATE", "DROP", "ALTER", "SET") and len(words) > 1:
        checker.verb = " ".join(words[:2]).upper()
    if MARK in code.lower():
        return [("marker", f"the name {MARK} is reserved by the policy")]
    try:
        trees = sqlglot.parse(code.replace("#__", MARK), read="mysql", error_level=sqlglot.ErrorLevel.RAISE)
    except SqlglotError as error:
        first = str(error).splitlines()[0]
        return [("unparsed", f"the SQL parser does not understand it ({first}); refused rather than guessed")]
    trees = [tree for tree in trees if tree is not None]
    if len(trees) != 1:
        return [("one-statement", f"{len(trees)} statements where one was expected")]
    tree = trees[0]
    if isinstance(tree, exp.Command) and "TABLE" in code.upper().split()[:4] and checker.verb.split()[0] in ("ALTER", "CREATE"):
        # A table statement the parser only half read (DATA DIRECTORY, CONVERT TO, ALTER ONLINE ...).
        return [("unparsed", f"the SQL parser does not understand this {checker.verb} statement fully; "
                             "refused rather than guessed")]
    checker.check(tree)
    return checker.found


def script_violations(script: str, sql: str, content_tables, joomla_update: bool = False) -> list[tuple[str, str, str]]:
    """(where, rule, message) for every statement of a script that breaks a rule; where is `script:line`."""
    found = []
    for statement in split(sql):
        where = f"{script}:{statement.line}"
        for problem in statement.problems:
            rule, _sep, message = problem.partition(": ")
            found.append((where, rule, message))
        if statement.text and not statement.problems:
            for rule, message in check_statement(statement.code(), content_tables, joomla_update):
                found.append((where, rule, message))
    return found


class Verdicts:
    """The scripts this allow-list passed before, so a script is parsed once, not at its packaging and
    again before every rollout (seconds for a large one). A pass is a file in `folder` named by a
    digest of all the verdict depends on: the policy's own code and sqlglot's version, the content
    tables, the Joomla-update declaration and the script's bytes; any of them changed, the script is
    parsed again. Refusals are not kept. A folder that is a link, or that another account may write
    or owns, is not used (every script is parsed). `remember` false: read the passes, keep none."""

    def __init__(self, folder: str | os.PathLike | None, remember: bool = True):
        self.folder = self._usable(folder) if folder and HAS_SQLGLOT else None
        self.remember = remember
        self.policy = _policy_digest() if self.folder else None

    @staticmethod
    def _usable(folder) -> str | None:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            return None
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return None
        return os.fspath(folder)

    def key(self, sql: str, content_tables, joomla_update: bool) -> str | None:
        if not self.policy:
            return None
        inputs = [self.policy, sorted({str(table) for table in content_tables}), bool(joomla_update), sql]
        return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()

    def passed(self, key: str) -> bool:
        return os.path.isfile(os.path.join(self.folder, key))

    def keep(self, key: str) -> None:
        if not self.remember:
            return
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".verdict.")
        with os.fdopen(fd, "w") as handle:
            handle.write("passed\n")
        os.replace(tmp, os.path.join(self.folder, key))


def _policy_digest() -> str | None:
    """A digest of the code that decides a verdict (this module, the splitter, the content rules)
    and sqlglot's version; None when a source cannot be read (then nothing is kept or trusted)."""
    digest = hashlib.sha256(sqlglot.__version__.encode())
    for name in (__name__, split.__module__, is_content_table.__module__):
        try:
            digest.update(inspect.getsource(sys.modules[name]).encode("utf-8"))
        except (OSError, TypeError, KeyError):
            return None
    return digest.hexdigest()


def sql_violations(script: str, sql: str, content_tables=DEFAULT_CONTENT_TABLES,
                   joomla_update: bool = False, verdicts: Verdicts | None = None) -> list[PolicyViolation]:
    """The statements of a script that break the allow-list, as policy violations naming the rule;
    with `verdicts`, a script they hold as passed is not parsed again, and one that passes is kept."""
    key = verdicts.key(sql, content_tables, joomla_update) if verdicts else None
    if key and verdicts.passed(key):
        return []
    found = [PolicyViolation(where, f"[{rule}] {message}")
             for where, rule, message in script_violations(script, sql, content_tables, joomla_update)]
    if key and not found:
        verdicts.keep(key)
    return found
