from ansible_collections.otap.street.plugins.module_utils.migration import compare, snapshot_name


def test_snapshot_names_fit_mysql_identifiers():
    assert snapshot_name("jos_", 3, "jos_content") == "jos_otap_snap3_content"
    long = snapshot_name("jos_", 12, "jos_" + "x" * 80)
    assert len(long) <= 64 and long.startswith("jos_otap_snap12_")


def test_the_guard_names_what_changed_beyond_the_declaration():
    before = {"#__content": {"rows": 10, "checksum": 1}, "#__menu": {"rows": 5, "checksum": 2},
              "#__tags": {"rows": 3, "checksum": 3}, "#__users": {"rows": 4, "checksum": 4}}
    after = {"#__content": {"rows": 0, "checksum": 0}, "#__menu": {"rows": 4, "checksum": 9},
             "#__users": {"rows": 4, "checksum": 4}}
    assert compare(before, after, ["#__MENU"]) == [
        {"table": "#__content", "rows_before": 10, "rows_after": 0, "vanished": False, "declared": False},
        {"table": "#__menu", "rows_before": 5, "rows_after": 4, "vanished": False, "declared": True},
        {"table": "#__tags", "rows_before": 3, "rows_after": 0, "vanished": True, "declared": False},
    ]
