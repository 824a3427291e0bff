from ansible_collections.otap.street.plugins.modules import pair_node_info

IP_OUTPUT = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.242.42.21/24 brd 10.242.42.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.242.42.20/32 scope global eth0\\       valid_lft forever preferred_lft forever
"""


def test_the_addresses_a_node_holds_are_read_from_ip_s_output_whole_not_by_prefix():
    held = pair_node_info.addresses_in(IP_OUTPUT)
    assert held == {"127.0.0.1", "10.242.42.21", "10.242.42.20"}
    assert "10.242.42.2" not in held and "10.242.42.201" not in held


def test_a_server_that_replicates_from_nobody_is_read_as_such_and_nothing_changes(run_module, mariadb):
    mariadb("SET GLOBAL read_only = 1")
    try:
        read = run_module(pair_node_info, login_unix_socket=mariadb.socket)
    finally:
        mariadb("SET GLOBAL read_only = 0")
    assert not read["failed"] and not read["changed"]
    assert read["read_only"] is True and read["replica"] == {"Is_Replica": False}
    assert read["holds_address"] is None, "no address asked about"
    assert run_module(pair_node_info, login_unix_socket=mariadb.socket)["read_only"] is False


def test_whether_the_node_holds_the_address_asked_about(run_module, mariadb):
    assert run_module(pair_node_info, login_unix_socket=mariadb.socket, address="127.0.0.1")["holds_address"] is True
    assert run_module(pair_node_info, login_unix_socket=mariadb.socket, address="192.0.2.1")["holds_address"] is False


def test_a_server_that_cannot_be_reached_fails_saying_so(run_module, tmp_path):
    failed = run_module(pair_node_info, login_unix_socket=str(tmp_path / "none.sock"))
    assert failed["failed"] and "cannot connect to MariaDB" in failed["msg"]
