import pytest

from ansible_collections.otap.street.plugins.module_utils.migrate import (
    replace_prefix,
    snapshot_name,
    statements,
    touched_tables,
)


def test_prefix_is_replaced_outside_strings_only():
    sql = "INSERT INTO `#__content` (title) VALUES ('about #__content', \"#__x\")"
    assert replace_prefix(sql, "jos_") == "INSERT INTO `jos_content` (title) VALUES ('about #__content', \"#__x\")"


def test_statements_carry_their_line_and_prefix():
    assert statements("-- c\nALTER TABLE #__content ADD x INT;\n\nUPDATE #__a SET b = 1;", "p_") == [
        (2, "ALTER TABLE p_content ADD x INT"), (4, "UPDATE p_a SET b = 1")]


@pytest.mark.parametrize(("sql", "tables"), [
    ("ALTER TABLE #__content ADD COLUMN badge INT", ["#__content"]),
    ("CREATE TABLE IF NOT EXISTS `#__otap_news` (id INT)", ["#__otap_news"]),
    ("INSERT INTO #__modules (title) SELECT title FROM #__menu", ["#__modules", "#__menu"]),
    ("UPDATE #__template_styles SET home = '0' WHERE template <> 'x'", ["#__template_styles"]),
    ("SELECT * FROM #__content; SET @a = 1", []),
    ("INSERT INTO #__content (introtext) VALUES ('see #__users')", ["#__content"]),
    ("RENAME TABLE #__a TO #__b; DROP TABLE #__c", ["#__a", "#__b", "#__c"]),
])
def test_touched_tables_are_found_conservatively(sql, tables):
    assert touched_tables(sql) == tables


def test_snapshot_names_fit_mysql_identifiers():
    assert snapshot_name("jos_", 3, "jos_content") == "jos_otap_snap3_content"
    long = snapshot_name("jos_", 12, "jos_" + "x" * 80)
    assert len(long) <= 64 and long.startswith("jos_otap_snap12_")
