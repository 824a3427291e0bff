from collections import Counter

from ansible_collections.otap.street.plugins.module_utils.migration import compare, snapshot_name


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
         "columns_removed": [], "vanished": False, "declared": False},
        {"table": "#__fields", "rows_before": 1, "rows_after": 1, "rows_changed_or_removed": 0, "rows_new": 0,
         "columns_removed": ["x"], "vanished": False, "declared": False},
        {"table": "#__menu", "rows_before": 2, "rows_after": 2, "rows_changed_or_removed": 1, "rows_new": 1,
         "columns_removed": [], "vanished": False, "declared": True},
        {"table": "#__tags", "rows_before": 1, "rows_after": 0, "rows_changed_or_removed": 1, "rows_new": 0,
         "columns_removed": [], "vanished": True, "declared": False},
        # Rows added count: an account nobody declared, or two identical ones.
        {"table": "#__user_usergroup_map", "rows_before": 1, "rows_after": 3, "rows_changed_or_removed": 0,
         "rows_new": 2, "columns_removed": [], "vanished": False, "declared": False},
    ]
