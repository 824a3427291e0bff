import json
from pathlib import Path

from ansible_collections.otap.street.plugins.filter.system_docs import nft_rules, system_docs

FIXTURES = Path(__file__).with_name("fixtures")
PROD1 = json.loads((FIXTURES / "nft-prod1.json").read_text())
STORE = json.loads((FIXTURES / "nft-store.json").read_text())


def test_the_firewall_is_read_from_what_the_kernel_enforces_in_words():
    rules = {r["what"]: r for r in nft_rules(PROD1)}
    assert list(rules) == ["ping, path MTU, IPv6 neighbours", "SSH from the admin networks and Production (sync)", "the site",
                           "MariaDB within the pair", "keepalived within the pair"]
    assert (rules["the site"]["protocol"], rules["the site"]["ports"], rules["the site"]["sources"]) == \
        ("tcp", ["80", "443"], ["everyone"])
    assert rules["SSH from the admin networks and Production (sync)"]["sources"] == ["10.242.42.1", "10.242.42.21-10.242.42.22"]
    assert (rules["MariaDB within the pair"]["ports"], rules["MariaDB within the pair"]["sources"]) == \
        (["3306"], ["10.242.42.21-10.242.42.22"])
    assert rules["keepalived within the pair"]["protocol"] == "vrrp"
    assert rules["ping, path MTU, IPv6 neighbours"]["protocol"] == "icmp, ipv6-icmp"
    store = {r["what"] for r in nft_rules(STORE)}
    assert "the site" not in store and "MariaDB within the pair" not in store


def test_a_set_s_ipv4_and_ipv6_halves_are_one_rule_and_prefixes_read_as_networks():
    def rule(setname):
        return {"rule": {"comment": "SSH", "expr": [
            {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": f"@{setname}"}},
            {"match": {"left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": None}]}}
    listing = {"nftables": [
        {"set": {"name": "ssh_v4", "elem": [{"prefix": {"addr": "192.0.2.0", "len": 24}}]}},
        {"set": {"name": "ssh_v6", "elem": ["2001:db8::1"]}}, rule("ssh_v4"), rule("ssh_v6"),
        {"rule": {"comment": "dropped", "expr": [{"drop": None}]}}]}
    assert nft_rules(listing) == [{"what": "SSH", "protocol": "tcp", "ports": ["22"],
                                   "sources": ["192.0.2.0/24", "2001:db8::1"]}]
    assert nft_rules({}) == []


HOSTS = {
    "prod1": {"groups": ["joomla", "production"], "address": "10.0.0.21", "os": "Debian 12.8 (6.1.0)",
              "packages": {"mariadb-server": "1:10.11.6-0+deb12u1", "php8.2-fpm": "8.2.26-1~deb12u1",
                           "apache2": "2.4.62-1~deb12u2", "keepalived": "1:2.2.7-1+b2"},
              "joomla": "5.2.2", "firewall": nft_rules(PROD1)},
    "test": {"groups": ["joomla", "test"], "address": "10.0.0.12", "os": "Debian 12.8", "packages": {}, "joomla": "5.2.2"},
    "store": {"groups": ["release_store"], "address": "10.0.0.10", "os": "Debian 12.8", "packages": {"restic": "0.14.0-1"}},
}
PEOPLE = [{"party": "webmaster", "name": "carla", "function": "webmaster", "email": "c@h.org", "phone": "1", "escalation": False},
          {"party": "operations", "name": "olaf", "function": "project lead", "email": "o@h.net", "phone": "3", "escalation": True},
          {"party": "operations", "name": "anna", "function": "support desk", "email": "a@h.net", "phone": "2", "escalation": False}]
PARTIES = {"operations": {"groups": ["joomla", "release_store"], "shell": "/bin/bash", "sudo": ["ALL=(ALL:ALL) NOPASSWD: ALL"]},
           "developer": {"groups": ["development", "test"], "shell": "/bin/bash", "sudo": ["ALL=(www-data) NOPASSWD: ALL"],
                         "fetch": {"release_store": "/srv/otap-store/laptop"}},
           "webmaster": {"groups": ["joomla"], "shell": "/usr/sbin/nologin", "ssh": False, "sudo": []}}
ACCOUNTS = [{"name": "anna", "party": "operations"}, {"name": "otap", "party": "operations"},
            {"name": "bram", "party": "developer"}, {"name": "old", "party": "developer", "state": "absent"}]
SCHEDULES = [{"name": "Nightly backup", "job_template": "Backup", "extra_vars": {}, "rrule": "DTSTART:20261201T020000Z RRULE:FREQ=DAILY"},
             {"name": "OS update of Test", "job_template": "OS update", "extra_vars": {"otap_env": "test"},
              "rrule": "DTSTART:20261201T060000Z RRULE:FREQ=WEEKLY;BYDAY=TU"},
             {"name": "Status watch", "job_template": "Status", "extra_vars": {},
              "rrule": "DTSTART:20261201T000000Z RRULE:FREQ=MINUTELY;INTERVAL=30"}]


def docs():
    return system_docs(HOSTS, PEOPLE, PARTIES, ACCOUNTS, SCHEDULES, "2026-12-05T03:00:00+00:00", "10.0.0.20/24")


def test_each_environment_lists_its_servers_with_addresses_versions_and_firewall():
    result = docs()
    assert [e["env"] for e in result["environments"]] == ["test", "production"]
    production = result["environments"][1]
    assert production["vip"] == "10.0.0.20/24" and result["environments"][0]["vip"] == ""
    prod1 = production["hosts"][0]
    assert (prod1["name"], prod1["address"], prod1["os"]) == ("prod1", "10.0.0.21", "Debian 12.8 (6.1.0)")
    assert prod1["versions"] == {"MariaDB": "1:10.11.6-0+deb12u1", "PHP": "8.2.26-1~deb12u1", "Apache": "2.4.62-1~deb12u2",
                                 "keepalived": "1:2.2.7-1+b2", "Joomla": "5.2.2"}
    assert "MariaDB within the pair" in {r["what"] for r in prod1["firewall"]}
    assert [h["name"] for h in result["store"]] == ["store"] and result["store"][0]["versions"] == {"restic": "0.14.0-1"}


def test_access_says_what_each_party_may_do_where():
    access = {a["party"]: a for a in docs()["access"]}
    assert access["operations"] == {"party": "operations", "accounts": ["anna", "otap"],
                                    "where": ["development", "test", "acceptance", "production", "store"],
                                    "login": "SSH with a key", "shell": True, "sudo": "full (root)", "reads": []}
    assert (access["developer"]["accounts"], access["developer"]["where"], access["developer"]["sudo"]) == \
        (["bram"], ["development", "test"], "as www-data")
    assert access["developer"]["reads"] == ["/srv/otap-store/laptop on the store (SFTP, read-only, jailed)"]
    assert (access["webmaster"]["login"], access["webmaster"]["shell"], access["webmaster"]["sudo"]) == \
        ("no SSH login", False, "none")


def test_schedules_read_in_words_and_contacts_say_who_is_called_first():
    assert [(s["name"], s["environment"], s["when"]) for s in docs()["schedules"]] == [
        ("Nightly backup", "every one", "every day at 02:00 UTC"),
        ("OS update of Test", "test", "every Tuesday at 06:00 UTC"),
        ("Status watch", "every one", "every 30 minutes")]
    assert [(c["party"], c["name"], c["called"]) for c in docs()["contacts"]] == [
        ("operations", "anna", "first"), ("operations", "olaf", "on escalation"), ("webmaster", "carla", "first")]


def test_the_environments_come_in_the_order_the_inventory_names_them():
    street = ["production", "acceptance", "test"]
    result = system_docs(HOSTS, PEOPLE, PARTIES, ACCOUNTS, SCHEDULES, "2026-12-05T03:00:00+00:00", "", street)
    assert [e["env"] for e in result["environments"]] == ["production", "test"]
    assert all(set(a["where"]) <= set(street) | {"store"} for a in result["access"])
