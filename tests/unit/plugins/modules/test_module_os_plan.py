from ansible.module_utils import basic

from ansible_collections.otap.street.plugins.modules import os_plan

SIMULATION = "Inst less [590-2] (590-2+otap1 localhost [amd64])\nInst mariadb-common [1:10.11.19-0] (1:10.11.19-0+otap1 x [all])\n"
DPKG = "less\t590-2\tinstalled\nmariadb-common\t1:10.11.19-0\tinstalled\n"
POLICY = {
    "less": "less:\n  Version table:\n     590-2+otap2 500\n        500 http://store ./ Packages\n"
            " *** 590-2 100\n        100 /var/lib/dpkg/status\n     590-2+otap1 500\n        500 http://store ./ Packages\n",
    "mariadb-common": "mariadb-common:\n  Version table:\n *** 1:10.11.19-0 500\n        500 http://deb Packages\n",
}


def fake_apt(monkeypatch, calls):
    def run_command(self, args, **kwargs):
        calls.append(args)
        if args[0] == "apt-get" and args[1] == "update":
            return 0, "", ""
        if args[0] == "apt-get":
            return 0, SIMULATION, ""
        if args[0] == "dpkg-query":
            return 0, DPKG, ""
        if args[:2] == ["apt-cache", "policy"]:
            return 0, POLICY[args[2]], ""
        raise AssertionError(args)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)


def test_pending_upgrades_are_planned_and_split(run_module, monkeypatch):
    calls = []
    fake_apt(monkeypatch, calls)
    result = run_module(os_plan, cache_valid_time=0)
    assert not result["changed"]
    assert set(result["ordinary"]) == {"less"} and set(result["deliberate"]) == {"mariadb-common"}
    assert ["apt-get", "update", "-q"] in calls
    assert any("--ignore-hold" in call for call in calls)


def test_production_plans_the_approved_version_not_the_newest(run_module, monkeypatch):
    fake_apt(monkeypatch, [])
    result = run_module(os_plan, approved={"less": "590-2+otap1", "mariadb-common": "1:10.11.19-0"},
                        cache_valid_time=0)
    assert result["plan"] == {"less": {"from": "590-2", "to": "590-2+otap1"}}


def test_a_withdrawn_approved_version_fails_by_name(run_module, monkeypatch):
    fake_apt(monkeypatch, [])
    result = run_module(os_plan, approved={"mariadb-common": "1:10.11.19-0+otap1"}, cache_valid_time=0)
    assert result["failed"] and "mariadb-common 1:10.11.19-0+otap1 (offered: 1:10.11.19-0)" in result["msg"]


def test_fresh_lists_are_not_refreshed_again(run_module, monkeypatch):
    calls = []
    fake_apt(monkeypatch, calls)
    run_module(os_plan, cache_valid_time=10**9)
    assert ["apt-get", "update", "-q"] not in calls
