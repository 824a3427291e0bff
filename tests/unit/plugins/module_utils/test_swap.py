import pytest

from ansible_collections.otap.street.plugins.module_utils import swap


def test_one_statement_moves_the_live_tables_aside_and_the_staging_tables_in():
    sql = swap.rename_statement("portal", "portal_sync", "portal_old", ["jos_users", "jos_content"],
                                ["jos_content", "jos_users", "jos_new"])
    assert sql == ("RENAME TABLE `portal`.`jos_content` TO `portal_old`.`jos_content`, "
                   "`portal`.`jos_users` TO `portal_old`.`jos_users`, "
                   "`portal_sync`.`jos_content` TO `portal`.`jos_content`, "
                   "`portal_sync`.`jos_new` TO `portal`.`jos_new`, "
                   "`portal_sync`.`jos_users` TO `portal`.`jos_users`")


def test_a_live_table_production_lacks_goes_aside_too():
    sql = swap.rename_statement("portal", "portal_sync", "portal_old", ["jos_only_here"], ["jos_users"])
    assert "`portal`.`jos_only_here` TO `portal_old`.`jos_only_here`" in sql


def test_an_empty_staging_database_is_never_swapped_in():
    with pytest.raises(swap.SwapError, match="holds no tables"):
        swap.rename_statement("portal", "portal_sync", "portal_old", ["jos_users"], [])


@pytest.mark.parametrize("names", [("portal", "portal", "portal_old"), ("portal", "portal_sync", "portal_sync")])
def test_the_three_databases_must_differ(names):
    with pytest.raises(swap.SwapError, match="must differ"):
        swap.rename_statement(*names, ["t"], ["t"])


@pytest.mark.parametrize("name", ["portal`; DROP DATABASE mysql; --", "a b", "", None])
def test_names_are_identifiers(name):
    with pytest.raises(swap.SwapError):
        swap.rename_statement("portal", "portal_sync", "portal_old", [name], ["t"])


def test_the_fingerprint_leaves_volatile_tables_out_and_follows_every_other():
    base = {"jos_users": 1, "jos_session": 2}
    assert swap.fingerprint(base, ["jos_session"]) == swap.fingerprint({**base, "jos_session": 3}, ["jos_session"])
    assert swap.fingerprint(base, ["jos_session"]) != swap.fingerprint({**base, "jos_users": 4}, ["jos_session"])
    assert swap.fingerprint(base, []) != swap.fingerprint({"jos_users": 1}, [])
