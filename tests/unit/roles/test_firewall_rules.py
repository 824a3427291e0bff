"""The firewall's rules (roles/firewall/templates/otap-firewall.nft.j2), rendered by Ansible's own
templating with the role's defaults on a small street: when firewall_web_sources narrows the site's
ports, the production pair's knocks (its nodes', its witness's) still get through, and nobody else's."""

import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[3] / "roles" / "firewall"
# The rules as the template wrote them before firewall_knock_sources existed.
BEFORE = Path(__file__).resolve().parent / "fixtures" / "firewall"

ADDRESSES = {"prod1": "10.0.0.21", "prod2": "10.0.0.22", "test": "10.0.0.12", "store": "10.0.0.10"}
GROUPS = {"joomla": ["test", "prod1", "prod2"], "test": ["test"], "production": ["prod1", "prod2"],
          "release_store": ["store"]}
ADMIN = ["192.0.2.0/28", "2001:db8:ad::/48"]
NARROW = ["203.0.113.0/24", "2001:db8:42::/48"]
# Neither knocks nor is in the web sources: another address, one next to the pair's, one of the
# same network in IPv6, and a node and the witness spelt as IPv4-mapped IPv6 (another family).
STRANGERS = ["198.51.100.7", "10.0.0.23", "2001:db8:99::1", "::ffff:10.0.0.21", "::ffff:a00:a"]


def variables(host: str, **overrides) -> dict:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values = {name: trust_as_template(v) if isinstance(v, str) else v for name, v in defaults.items()}
    return values | {
        "inventory_hostname": host,
        "group_names": sorted(g for g, hosts in GROUPS.items() if host in hosts),
        "groups": GROUPS,
        "hostvars": {name: {"ansible_host": address} for name, address in ADDRESSES.items()},
        "keepalived_witness_host": "store" if host in GROUPS["production"] else "",
        "ansible_managed": "Ansible managed",
        "firewall_admin_networks": ADMIN,
    } | overrides


def render(host: str, **overrides) -> str:
    template = trust_as_template((ROLE / "templates" / "otap-firewall.nft.j2").read_text())
    return Templar(variables=variables(host, **overrides)).template(template)


def knock_sources(host: str, **overrides) -> list:
    return Templar(variables=variables(host, **overrides)).template(trust_as_template("{{ firewall_knock_sources }}"))


def admits(rules: str, address: str, port: int) -> bool:
    """Whether the input chain accepts a new TCP connection from `address` to `port`."""
    sets = {name: [ipaddress.ip_network(e, strict=False) for e in elements.split(", ")]
            for name, elements in re.findall(r"set (\w+) \{[^}]*elements = \{ ([^}]*) \}", rules)}
    source = ipaddress.ip_address(address)
    family = "ip" if source.version == 4 else "ip6"
    for saddr, ports in re.findall(r"^ {4}(?:(ip6? saddr @\w+) )?tcp dport \{ ([\d, ]+) \} accept", rules, re.M):
        if port not in {int(p) for p in ports.split(", ")}:
            continue
        if not saddr:
            return True
        rule_family, name = saddr.split(" saddr @")
        if rule_family == family and any(source in network for network in sets[name]):
            return True
    return False


def test_on_a_production_node_the_pair_and_its_witness_knock():
    assert knock_sources("prod1") == ["10.0.0.21", "10.0.0.22", "10.0.0.10"]
    assert knock_sources("prod2", keepalived_witness_host="") == ["10.0.0.21", "10.0.0.22"]


@pytest.mark.parametrize("host", ["test", "store"])
def test_off_the_pair_nothing_knocks(host):
    assert knock_sources(host) == []


@pytest.mark.parametrize("knocker", ["10.0.0.21", "10.0.0.22", "10.0.0.10", "2001:db8:77::21"])
@pytest.mark.parametrize("port", [80, 443])
def test_narrowed_site_ports_stay_open_to_the_knocks(knocker, port):
    rules = render("prod1", firewall_web_sources=NARROW,
                   firewall_knock_sources=["10.0.0.21", "10.0.0.22", "10.0.0.10", "2001:db8:77::21"])
    assert admits(rules, knocker, port)
    assert admits(rules, "203.0.113.9", port) and admits(rules, "2001:db8:42::9", port)


@pytest.mark.parametrize("stranger", STRANGERS)
def test_narrowed_site_ports_stay_closed_to_the_rest(stranger):
    rules = render("prod1", firewall_web_sources=NARROW)
    assert not admits(rules, stranger, 80)
    assert not admits(rules, stranger, 443)


def test_a_knock_opens_the_site_ports_only():
    rules = render("prod1", firewall_web_sources=NARROW)
    assert admits(rules, "10.0.0.10", 80)
    assert not admits(rules, "10.0.0.10", 3306) and not admits(rules, "10.0.0.10", 22)


@pytest.mark.parametrize(("host", "overrides", "before"), [
    ("prod1", {}, "prod1-open.nft"),
    ("test", {"firewall_web_sources": NARROW}, "test-narrow.nft"),
])
def test_rules_without_knocks_are_as_before(host, overrides, before):
    assert render(host, **overrides) == (BEFORE / before).read_text()


@pytest.mark.parametrize("knocks", [["10.0.0.21", "10.0.0.10"], ["2001:db8:77::21"]])
def test_knock_sources_add_nothing_to_open_site_ports(knocks):
    assert render("prod1", firewall_knock_sources=knocks) == render("prod1", firewall_knock_sources=[])
    assert admits(render("prod1"), "198.51.100.7", 80)
