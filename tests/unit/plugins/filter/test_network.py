import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.network import in_networks


@pytest.mark.parametrize(("address", "networks", "expected"), [
    ("10.242.42.1", ["10.242.42.1/32"], True),
    ("10.242.42.1", ["10.242.42.1"], True),
    ("10.242.42.77", ["192.0.2.0/24", "10.242.42.0/24"], True),
    ("10.242.43.1", ["10.242.42.0/24"], False),
    ("10.242.42.1", [], False),
    ("2001:db8::5", ["2001:db8::/32"], True),
    # An IPv4 address is never inside an IPv6 network, nor the other way round.
    ("10.242.42.1", ["::/0"], False),
    ("::ffff:10.242.42.1", ["10.0.0.0/8"], False),
    # A network written with host bits is read as its network, as nftables reads it.
    ("10.242.42.9", ["10.242.42.1/24"], True),
])
def test_in_networks(address, networks, expected):
    assert in_networks(address, networks) is expected


@pytest.mark.parametrize(("address", "networks", "named"), [
    ("10.242.42", ["10.0.0.0/8"], "'10.242.42' is not an IP address"),
    ("10.242.42.1", ["10.242.42.0/33"], "'10.242.42.0/33' is not a network"),
    ("10.242.42.1", ["10.0.0.0/8", "office"], "'office' is not a network"),
])
def test_a_typo_is_named(address, networks, named):
    with pytest.raises(AnsibleFilterError, match=named):
        in_networks(address, networks)
