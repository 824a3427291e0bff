import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.pair import pair_state

ADDRESSES = {"prod1": "10.0.0.1", "prod2": "10.0.0.2"}


def node(name, read_only=True, binlog="", source=None, io="Yes", sql="Yes", lag=0, retry=60, holds=None):
    """A node's result of otap.street.pair_node_info."""
    replica = {"Is_Replica": source is not None}
    if source is not None:
        replica |= {"Master_Host": ADDRESSES[source], "Slave_IO_Running": io, "Slave_SQL_Running": sql,
                    "Seconds_Behind_Master": lag, "Last_IO_Error": "", "Last_SQL_Error": "",
                    "Connect_Retry": retry}
    return {"item": name, "read_only": read_only, "gtid_binlog_pos": binlog, "gtid_slave_pos": "", "replica": replica,
            "holds_address": holds}


def state(*nodes, first="prod1"):
    return pair_state(list(nodes), ADDRESSES, first)


def roles(result):
    return {name: n["role"] for name, n in result["nodes"].items()}


def test_a_new_pair_makes_the_first_primary_its_primary():
    result = state(node("prod1"), node("prod2"))
    assert result["primary"] == "prod1"
    assert roles(result) == {"prod1": "primary", "prod2": "new"}
    assert result["nodes"]["prod1"]["read_only"]


def test_the_writable_node_is_the_primary_whatever_the_inventory_says():
    result = state(node("prod1", binlog="0-1-9", source="prod2"), node("prod2", read_only=False, binlog="0-2-12"))
    assert result["primary"] == "prod2"
    assert roles(result) == {"prod1": "standby", "prod2": "primary"}
    assert result["nodes"]["prod1"]["replicating_from"] == "prod2"


def test_a_primary_back_read_only_that_its_standby_still_follows_stays_the_primary():
    result = state(node("prod1", binlog="0-1-20"), node("prod2", binlog="0-1-20", source="prod1", io="Connecting"))
    assert result["primary"] == "prod1"
    assert roles(result) == {"prod1": "primary", "prod2": "standby"}


def test_a_failed_primary_that_returns_after_a_promotion_is_stray():
    result = state(node("prod1", binlog="0-1-20"), node("prod2", read_only=False, binlog="0-2-25"))
    assert result["primary"] == "prod2"
    assert roles(result)["prod1"] == "stray"


def test_without_a_writable_node_and_without_a_followed_node_there_is_no_primary():
    result = state(node("prod1", binlog="0-1-20"), node("prod2", binlog="0-2-25"))
    assert result["primary"] is None
    assert set(roles(result).values()) == {"stray"}


def test_a_wiped_node_beside_a_primary_is_new():
    result = state(node("prod1", read_only=False, binlog="0-1-20"), node("prod2"))
    assert roles(result) == {"prod1": "primary", "prod2": "new"}


def test_lag_and_errors_are_reported():
    result = state(node("prod1", read_only=False, binlog="0-1-20"), node("prod2", binlog="0-1-3", source="prod1",
                                                                          sql="No", lag=None))
    standby = result["nodes"]["prod2"]
    assert (standby["io_running"], standby["sql_running"], standby["lag_seconds"]) == ("Yes", "No", None)


def test_two_writable_nodes_are_refused():
    with pytest.raises(AnsibleFilterError, match="two primaries"):
        state(node("prod1", read_only=False, binlog="0-1-20"), node("prod2", read_only=False, binlog="0-2-25"))


def test_an_unknown_first_primary_is_refused():
    with pytest.raises(AnsibleFilterError, match="not a node of the pair"):
        state(node("prod1"), node("prod2"), first="prod3")


def test_an_incomplete_state_is_refused():
    with pytest.raises(AnsibleFilterError, match="incomplete"):
        pair_state([{"item": "prod1", "read_only": True}], ADDRESSES, "prod1")


def test_a_standby_s_reconnect_interval_is_read_and_a_node_that_follows_nobody_has_none():
    result = state(node("prod1", read_only=False, binlog="0-1-9"), node("prod2", binlog="0-1-9", source="prod1", retry=5))
    assert result["nodes"]["prod2"]["connect_retry"] == 5
    assert result["nodes"]["prod1"]["connect_retry"] is None


def test_whether_each_node_holds_the_address_looked_for_is_kept():
    result = state(node("prod1", read_only=False, binlog="0-1-9", holds=True), node("prod2", binlog="0-1-9", source="prod1",
                                                                               holds=False))
    assert [result["nodes"][name]["holds_address"] for name in ("prod1", "prod2")] == [True, False]
    assert state(node("prod1"), node("prod2"))["nodes"]["prod1"]["holds_address"] is None
