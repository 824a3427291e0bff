import pytest

from ansible_collections.otap.street.plugins.module_utils.release_policy import (
    check_path,
    is_content_table,
    split_statements,
    sql_violations,
)


@pytest.mark.parametrize("path", [
    "index.php",
    "templates/cassiopeia/index.php",
    "administrator/components/com_content/src/Model.php",
    "libraries/src/Version.php",
    "images.php",
    "cachebuster.js",
])
def test_code_paths_are_allowed(path):
    assert check_path(path) is None


@pytest.mark.parametrize(("path", "rule"), [
    ("/etc/passwd", "absolute path"),
    ("C:/site/index.php", "absolute path"),
    ("../outside.php", "path escape"),
    ("templates/../../x.php", "path escape"),
    ("./index.php", "normal form"),
    ("templates//index.php", "normal form"),
    ("templates\\index.php", "backslash"),
    ("", "empty path"),
    (" index.php", "whitespace"),
    ("images/portal/new.png", "content path"),
    ("images", "content path"),
    ("configuration.php", "content path"),
    ("cache/page.html", "content path"),
    ("tmp/upload.zip", "content path"),
    ("administrator/logs/error.php", "content path"),
    ("administrator/cache/x", "content path"),
])
def test_bad_paths_name_their_rule(path, rule):
    violation = check_path(path)
    assert violation is not None and rule in violation.rule


def test_inventory_can_add_content_paths():
    assert check_path("media/uploads/a.pdf", content_paths=("media/uploads/",)).rule.startswith("content path")
    assert check_path("media/uploads/a.pdf") is None


def test_split_keeps_strings_and_drops_comments():
    sql = """-- a comment; with a semicolon
    INSERT INTO `#__content` (title) VALUES ('a; b'), ("it''s");  # trailing comment
    /* block;
       comment */ UPDATE #__modules SET title = 'x' WHERE id = 1;
    ALTER TABLE #__content ADD COLUMN x INT"""
    assert split_statements(sql) == [
        (2, "INSERT INTO `#__content` (title) VALUES ('a; b'), (\"it''s\")"),
        (4, "UPDATE #__modules SET title = 'x' WHERE id = 1"),
        (5, "ALTER TABLE #__content ADD COLUMN x INT"),
    ]


@pytest.mark.parametrize(("table", "expected"), [
    ("#__content", True), ("#__menu_types", True), ("#__fields_values", True),
    ("#__workflow_associations", True), ("#__users", True), ("#__user_profiles", True),
    ("#__otap_news", False), ("#__extensions", False), ("#__session", False), ("content", False),
])
def test_content_tables(table, expected):
    assert is_content_table(table) is expected


@pytest.mark.parametrize("statement", [
    "DROP TABLE #__content",
    "drop table if exists `#__categories`",
    "DROP TABLE #__otap_tmp, #__menu",
    "TRUNCATE #__assets",
    "TRUNCATE TABLE `#__tags`",
    "DELETE FROM #__content WHERE id > 3",
    "DELETE LOW_PRIORITY FROM `#__modules`",
    "DELETE c FROM #__content AS c JOIN #__x AS x ON x.id = c.id",
    "RENAME TABLE #__content TO #__content_old",
    "ALTER TABLE #__content RENAME TO #__articles",
    "ALTER TABLE `#__content` DROP COLUMN `hits`",
    "ALTER TABLE #__content ADD COLUMN a INT, DROP `fulltext`",
    "DROP DATABASE portal",
])
def test_destructive_sql_on_content_is_refused(statement):
    violations = sql_violations("sql/001.sql", f"SELECT 1;\n{statement};\n")
    assert len(violations) >= 1
    assert violations[0].path == "sql/001.sql:2"


@pytest.mark.parametrize("statement", [
    "CREATE TABLE #__otap_news (id INT PRIMARY KEY)",
    "DROP TABLE IF EXISTS #__otap_news",
    "ALTER TABLE #__content ADD COLUMN otap_badge VARCHAR(20) NOT NULL DEFAULT ''",
    "ALTER TABLE #__content DROP INDEX idx_catid",
    "ALTER TABLE #__content ADD INDEX idx_state (state)",
    "UPDATE #__template_styles SET template = 'portal' WHERE home = '1'",
    "INSERT INTO #__content (title) VALUES ('DROP TABLE #__content')",
    "DELETE FROM #__session",
    "TRUNCATE #__otap_cache",
])
def test_schema_changes_that_keep_content_are_allowed(statement):
    assert sql_violations("sql/001.sql", statement + ";") == []


def test_inventory_can_add_content_tables():
    assert sql_violations("s.sql", "TRUNCATE #__rsform_submissions;", ("rsform_*",))
