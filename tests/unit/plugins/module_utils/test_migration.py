from collections import Counter

from ansible_collections.otap.street.plugins.module_utils.migration import compare, redefinitions, snapshot_name


def test_a_copy_has_a_name_of_its_own_per_rollout_release_and_spelling():
    names = {snapshot_name(rollout, release, table) for rollout in ("run-1", "run-2") for release in (3, 12)
             for table in ("jos_content", "jos_CONTENT", "jos_" + "x" * 60)}
    assert len(names) == 12 and all(len(n) == 64 and n.startswith("c") for n in names)


def state(columns, *rows):
    return {"columns": columns, "rows": Counter(rows)}


def test_the_guard_names_what_changed_beyond_the_declaration():
    before = {"#__content": state(["id", "title"], "a", "b", "c"), "#__menu": state(["id"], "m1", "m2"),
              "#__tags": state(["id"], "t"), "#__users": state(["id"], "u"), "#__fields": state(["id", "x"], "f"),
              "#__user_usergroup_map": state(["user_id"], "u1")}
    after = {"#__content": state(["id", "title"]), "#__menu": state(["id"], "m1", "m2b"),
             "#__users": state(["id", "badge"], "u"), "#__fields": state(["id"], "f"),
             "#__schemaorg": state(["id"], "s"), "#__user_usergroup_map": state(["user_id"], "u1", "u2", "u2")}
    assert compare(before, after, ["#__MENU"]) == [
        {"table": "#__content", "rows_before": 3, "rows_after": 0, "rows_changed_or_removed": 3, "rows_new": 0,
         "columns_removed": [], "redefined": [], "vanished": False, "declared": False},
        {"table": "#__fields", "rows_before": 1, "rows_after": 1, "rows_changed_or_removed": 0, "rows_new": 0,
         "columns_removed": ["x"], "redefined": [], "vanished": False, "declared": False},
        {"table": "#__menu", "rows_before": 2, "rows_after": 2, "rows_changed_or_removed": 1, "rows_new": 1,
         "columns_removed": [], "redefined": [], "vanished": False, "declared": True},
        {"table": "#__tags", "rows_before": 1, "rows_after": 0, "rows_changed_or_removed": 1, "rows_new": 0,
         "columns_removed": [], "redefined": [], "vanished": True, "declared": False},
        # Rows added count: an account nobody declared, or two identical ones.
        {"table": "#__user_usergroup_map", "rows_before": 1, "rows_after": 3, "rows_changed_or_removed": 0,
         "rows_new": 2, "columns_removed": [], "redefined": [], "vanished": False, "declared": False},
    ]


def shape(counter=4, checks=(), **columns):
    plain = {"id": ["int(11)", "NO", None, "auto_increment", None, None],
             "title": ["varchar(100)", "NO", None, "", None, "utf8mb4_general_ci"]}
    return {"columns": plain | columns, "checks": list(checks), "auto_increment": counter}


def test_a_definition_that_changes_what_joomla_does_counts_as_a_change_a_new_plain_column_does_not():
    before = shape()
    assert redefinitions(before, shape(badge=["varchar(10)", "NO", "\'\'", "", None, "utf8mb4_general_ci"])) == []
    assert redefinitions(before, shape(title=["varchar(100)", "NO", "\'x\'", "", None, "utf8mb4_general_ci"])) == [
        "column title"]
    assert redefinitions(before, shape(state=["tinyint(4)", "YES", "NULL", "VIRTUAL GENERATED", "`id` = 42", None],
                                       hidden=["int(11)", "YES", "1", "INVISIBLE", None, None])) == [
        "new column state, invisible or generated", "new column hidden, invisible or generated"]
    assert redefinitions(before, shape(checks=["k: `id` <> 42"])) == ["check constraints"]
    assert redefinitions(before, shape(counter=2)) == ["auto-increment counter 4 -> 2"]
    assert redefinitions(None, before) == [] and redefinitions(before, None) == []
