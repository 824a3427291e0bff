import pytest

from ansible_collections.otap.street.plugins.module_utils import os_plan

SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
The following packages will be upgraded:
   less mariadb-common
Inst less [590-2] (590-2+otap1 localhost:./ [amd64])
Inst mariadb-common [1:10.11.19-0+deb12u1] (1:10.11.19-0+deb12u1+otap1 localhost:./ [all])
Inst fresh-dependency (2.0 Debian:12/stable [all])
Conf less (590-2+otap1 localhost:./ [amd64])
"""

POLICY = """\
less:
  Installed: 590-2+otap1
  Candidate: 590-2+otap2
  Version table:
     590-2+otap2 500
        500 http://10.242.42.10:8080 ./ Packages
 *** 590-2+otap1 100
        100 /var/lib/dpkg/status
     590-2 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
"""


def test_the_simulation_lists_each_upgrade_with_its_versions():
    assert os_plan.pending_upgrades(SIMULATION) == {
        "less": {"from": "590-2", "to": "590-2+otap1"},
        "mariadb-common": {"from": "1:10.11.19-0+deb12u1", "to": "1:10.11.19-0+deb12u1+otap1"},
        "fresh-dependency": {"from": None, "to": "2.0"},
    }


def test_nothing_pending_is_an_empty_plan():
    assert os_plan.pending_upgrades("Reading package lists...\n0 upgraded, 0 newly installed\n") == {}


def test_installed_versions_skip_removed_packages_and_architecture_suffixes():
    out = "less\t590-2\tinstalled\nold\t1.0\tconfig-files\nlibc6:amd64\t2.36-9\tinstalled\n"
    assert os_plan.installed_versions(out) == {"less": "590-2", "libc6": "2.36-9"}


def test_available_versions_are_those_a_repository_offers():
    assert os_plan.available_versions(POLICY) == ["590-2+otap2", "590-2"]


def test_the_plan_to_approved_versions_names_only_what_differs():
    approved = {"less": "590-2+otap1", "mariadb-common": "1:10.11.19-0+deb12u1+otap1", "new": "1.0"}
    installed = {"less": "590-2+otap1", "mariadb-common": "1:10.11.19-0+deb12u1"}
    assert os_plan.plan_to_approved(approved, installed) == {
        "mariadb-common": {"from": "1:10.11.19-0+deb12u1", "to": "1:10.11.19-0+deb12u1+otap1"},
        "new": {"from": None, "to": "1.0"},
    }


def test_newer_versions_in_the_repository_are_not_what_production_gets():
    plan = os_plan.plan_to_approved({"less": "590-2+otap1"}, {"less": "590-2"})
    os_plan.check_available(plan, {"less": ["590-2+otap2", "590-2+otap1", "590-2"]})
    assert plan["less"]["to"] == "590-2+otap1"


def test_an_approved_version_no_longer_offered_is_refused_by_name():
    plan = os_plan.plan_to_approved({"less": "590-2+otap1", "sed": "4.9-1"}, {"less": "590-2", "sed": "4.8"})
    with pytest.raises(os_plan.PlanError) as refused:
        os_plan.check_available(plan, {"less": ["590-2+otap2", "590-2"], "sed": ["4.9-1"]})
    assert "less 590-2+otap1 (offered: 590-2+otap2, 590-2)" in str(refused.value)
    assert "sed" not in str(refused.value)


def test_mariadb_packages_are_upgraded_deliberately():
    plan = {"less": {}, "mariadb-server": {}, "libmariadb3": {}, "mysql-common": {}, "mariadb-common": {}}
    ordinary, deliberate = os_plan.split(plan, "^(mariadb-|libmariadb|galera-|mysql-common$)")
    assert set(ordinary) == {"less"}
    assert set(deliberate) == {"mariadb-server", "libmariadb3", "mysql-common", "mariadb-common"}
