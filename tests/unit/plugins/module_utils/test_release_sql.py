import pytest

from ansible_collections.otap.street.plugins.module_utils.release_sql import split, touched_tables


def test_statements_are_split_at_their_boundaries_only():
    sql = ("-- a comment; with a semicolon\n"
           "INSERT INTO `#__content` (title) VALUES ('a;  b\n  c'), (\"it''s\");  # trailing comment\n"
           "/* block;\n   comment */ UPDATE #__modules SET title = 'x'   WHERE id = 1;\n"
           "ALTER TABLE #__content ADD COLUMN x INT")
    statements = split(sql)
    assert [(s.line, s.text) for s in statements] == [
        (2, "INSERT INTO `#__content` (title) VALUES ('a;  b\n  c'), (\"it''s\")"),
        (5, "UPDATE #__modules SET title = 'x'   WHERE id = 1"),
        (6, "ALTER TABLE #__content ADD COLUMN x INT"),
    ]
    assert all(s.problems == () for s in statements)


def test_executed_text_is_the_written_text_with_the_prefix_outside_literals():
    statement = split("INSERT INTO `#__content` (title, note) VALUES ('about #__content',   \"#__x\t y\") -- #__z\n;")[0]
    assert statement.with_prefix("jos_") == (
        "INSERT INTO `jos_content` (title, note) VALUES ('about #__content',   \"#__x\t y\") -- #__z")
    assert statement.code("P_") == "INSERT INTO `P_content` (title, note) VALUES ('about #__content',   \"#__x\t y\")"


def test_backslash_escapes_and_doubled_quotes_stay_inside_a_literal():
    statements = split("INSERT INTO #__a VALUES ('it\\'s; x', 'a''b; c');\nUPDATE #__a SET b = 1 WHERE c = 2;")
    assert len(statements) == 2 and statements[0].text.endswith("'a''b; c')")


def test_joomlas_can_fail_hint_belongs_to_its_statement():
    first, second = split("ALTER TABLE #__a DROP INDEX i /** CAN FAIL **/;\nALTER TABLE #__a ADD INDEX j (b);")
    assert first.can_fail and first.text.endswith("/** CAN FAIL **/") and not second.can_fail


@pytest.mark.parametrize(("sql", "rule"), [
    ("/*!50000 DROP TABLE #__content */;", "executable-comment"),
    ("UPDATE #__a SET b = 1 /*M!100100 , c = 2 */ WHERE d = 1;", "executable-comment"),
    ("DELETE FROM #__a WHERE id = 1--1\n;", "double-dash"),
    ("INSERT INTO #__a VALUES ('open;", "unterminated"),
    ("UPDATE #__a SET b = 1 /* open", "unterminated"),
])
def test_what_mariadb_reads_differently_is_reported(sql, rule):
    problems = [p for s in split(sql) for p in s.problems]
    assert problems and problems[0].startswith(rule + ":")


def test_a_comment_with_a_space_after_double_dash_is_a_comment():
    assert [s.text for s in split("-- only a comment\n--\nSELECT 1 -- and one more\n;")] == ["SELECT 1 -- and one more"]


@pytest.mark.parametrize(("sql", "tables"), [
    ("ALTER TABLE #__content ADD COLUMN badge INT", ["#__content"]),
    ("CREATE TABLE IF NOT EXISTS `#__otap_news` (id INT)", ["#__otap_news"]),
    ("INSERT INTO #__modules (title) SELECT title FROM #__menu", ["#__modules", "#__menu"]),
    ("UPDATE #__template_styles SET home = '0' WHERE template <> 'x'", ["#__template_styles"]),
    ("SELECT * FROM #__content; SET @a = (SELECT id FROM #__b)", []),
    ("INSERT INTO #__content (introtext) VALUES ('see #__users') -- and #__assets", ["#__content"]),
    ("RENAME TABLE #__a TO #__b; DROP TABLE #__c", ["#__a", "#__b", "#__c"]),
])
def test_touched_tables_are_found_conservatively(sql, tables):
    assert touched_tables(sql) == tables


@pytest.mark.parametrize(("sql", "drops", "tables"), [
    ("DROP TABLE IF EXISTS `#__a`, #__b", True, ["#__a", "#__b"]),
    ("  truncate\n#__cache", True, ["#__cache"]),
    ("RENAME TABLE #__old TO #__new", True, ["#__old", "#__new"]),
    ("ALTER TABLE #__old\n  RENAME TO #__new", True, ["#__old", "#__new"]),
    ("/* DROP TABLE #__content */ UPDATE #__menu SET a = 'DROP #__x' WHERE id = 1", False, ["#__menu"]),
    ("ALTER TABLE #__content ADD COLUMN renamed INT", False, ["#__content"]),
    ("ALTER TABLE #__content DROP COLUMN `x`", False, ["#__content"]),
    ("INSERT INTO #__log (note) VALUES ('RENAME TABLE #__content')", False, ["#__log"]),
])
def test_a_statement_says_which_tables_it_names_and_whether_it_needs_the_drop_right(sql, drops, tables):
    [statement] = split(sql + ";")
    assert (statement.drops, statement.tables()) == (drops, tables)
