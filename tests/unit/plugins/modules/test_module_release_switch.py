import os

import pytest

from ansible_collections.otap.street.plugins.module_utils.joomla import parse_config
from ansible_collections.otap.street.plugins.modules import release_switch

CONFIG = "<?php\nclass JConfig\n{\n    public $offline = 1;\n    public $password = 's3cret';\n}\n"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site on release 3 with release 4 staged; systemctl's calls noted, answering `reload_rc`."""
    for release in (3, 4):
        (tmp_path / "releases" / str(release)).mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "configuration.php").write_text(CONFIG)
    os.chmod(tmp_path / "shared" / "configuration.php", 0o640)
    os.symlink("releases/3", tmp_path / "current")
    calls = []

    def run_command(self, argv, **kwargs):
        calls.append(argv)
        return (site.reload_rc, "", "Job for php8.2-fpm.service failed" if site.reload_rc else "")

    monkeypatch.setattr(release_switch.AnsibleModule, "run_command", run_command)
    site.root, site.calls, site.reload_rc = tmp_path, calls, 0
    return site


def switch(run_module, site, **args):
    return run_module(release_switch, **({"root": str(site.root), "release": 4, "service": "php8.2-fpm"} | args))


def test_the_link_moves_php_fpm_reloads_then_the_site_comes_out_of_maintenance(run_module, site):
    result = switch(run_module, site, settings={"offline": False})
    assert result["changed"] and (result["previous"], result["moved"], result["reloaded"]) == (3, True, True)
    assert os.readlink(site.root / "current") == "releases/4"
    assert site.calls == [["systemctl", "reload", "php8.2-fpm"]]
    assert parse_config((site.root / "shared" / "configuration.php").read_text()) == {"offline": 0, "password": "s3cret"}
    assert os.stat(site.root / "shared" / "configuration.php").st_mode & 0o777 == 0o640
    assert sorted(os.listdir(site.root)) == ["current", "releases", "shared"], "nothing left beside them"


def test_a_second_run_changes_nothing_and_reloads_nothing(run_module, site):
    switch(run_module, site, settings={"offline": False})
    again = switch(run_module, site, settings={"offline": False})
    assert not again["changed"] and not again["reloaded"] and len(site.calls) == 1


def test_reload_asked_for_reloads_where_the_link_did_not_move(run_module, site):
    result = switch(run_module, site, release=3, reload=True)
    assert result["changed"] and not result["moved"] and result["reloaded"]
    assert site.calls == [["systemctl", "reload", "php8.2-fpm"]]


def test_check_mode_says_what_would_change_and_changes_nothing(run_module, site):
    result = switch(run_module, site, settings={"offline": False}, _ansible_check_mode=True)
    assert result["changed"] and result["moved"] and result["changed_settings"] == ["offline"]
    assert os.readlink(site.root / "current") == "releases/3" and site.calls == []
    assert (site.root / "shared" / "configuration.php").read_text() == CONFIG


def test_diff_mode_shows_the_link_and_the_settings_but_never_a_secret(run_module, site):
    shown = switch(run_module, site, settings={"offline": False}, _ansible_diff=True, _ansible_check_mode=True)
    link, config = shown["diff"]
    assert (link["before"], link["after"]) == ("releases/3\n", "releases/4\n")
    assert "$offline = 1;" in config["before"] and "$offline = 0;" in config["after"]
    secret = switch(run_module, site, release=3, settings={"password": "n3w"}, _ansible_diff=True)
    assert secret["changed"] and secret["diff"] == [] and "n3w" not in str(secret)


@pytest.mark.parametrize("release", [5, -1])
def test_a_release_not_staged_changes_nothing(run_module, site, release):
    result = switch(run_module, site, release=release, settings={"offline": False})
    assert result["failed"] and f"release {release} is not staged" in result["msg"]
    assert os.readlink(site.root / "current") == "releases/3" and site.calls == []


def test_a_current_that_is_a_folder_is_not_replaced(run_module, site):
    os.unlink(site.root / "current")
    (site.root / "current").mkdir()
    result = switch(run_module, site)
    assert result["failed"] and "is not a link" in result["msg"] and (site.root / "current").is_dir()


def test_a_reload_that_fails_stops_before_the_site_comes_out_of_maintenance(run_module, site):
    site.reload_rc = 1
    result = switch(run_module, site, settings={"offline": False})
    assert result["failed"] and "did not reload: Job for php8.2-fpm.service failed" in result["msg"]
    assert parse_config((site.root / "shared" / "configuration.php").read_text())["offline"] == 1


def test_a_first_release_or_a_link_elsewhere_counts_as_no_release(run_module, site):
    os.unlink(site.root / "current")
    assert switch(run_module, site)["previous"] is None
    os.unlink(site.root / "current")
    os.symlink("/srv/elsewhere", site.root / "current")
    result = switch(run_module, site)
    assert result["previous"] is None and result["moved"] and os.readlink(site.root / "current") == "releases/4"


def test_settings_that_cannot_be_read_change_nothing(run_module, site):
    (site.root / "shared" / "configuration.php").write_text("not php")
    result = switch(run_module, site, settings={"offline": False})
    assert result["failed"] and "configuration.php" in result["msg"]
    assert os.readlink(site.root / "current") == "releases/3"


def test_without_settings_the_configuration_is_not_needed(run_module, site):
    os.unlink(site.root / "shared" / "configuration.php")
    assert switch(run_module, site)["moved"]


def test_a_run_after_a_failed_reload_reloads_before_the_site_leaves_maintenance(run_module, site):
    site.reload_rc = 1
    assert switch(run_module, site, settings={"offline": False})["failed"]
    site.reload_rc = 0
    again = switch(run_module, site, settings={"offline": False})
    assert not again["moved"] and again["reloaded"] and again["changed_settings"] == ["offline"]
    assert site.calls == [["systemctl", "reload", "php8.2-fpm"]] * 2


def test_an_absolute_current_is_read_as_its_release(run_module, site):
    os.unlink(site.root / "current")
    os.symlink(site.root / "releases" / "4", site.root / "current")
    result = switch(run_module, site)
    assert result["previous"] == 4 and not result["moved"] and not result["changed"]
