import os

from ansible_collections.otap.street.plugins.module_utils.joomla import parse_config
from ansible_collections.otap.street.plugins.modules import joomla_config

CONFIG = "<?php\nclass JConfig\n{\n    public $offline = 0;\n    public $password = 's3cret';\n}\n"


def test_offline_is_set_and_the_rest_kept(run_module, tmp_path):
    path = tmp_path / "configuration.php"
    path.write_text(CONFIG)
    os.chmod(path, 0o640)
    result = run_module(joomla_config, path=str(path), settings={"offline": True})
    assert result["changed"] and result["changed_settings"] == ["offline"]
    assert parse_config(path.read_text()) == {"offline": 1, "password": "s3cret"}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert not run_module(joomla_config, path=str(path), settings={"offline": True})["changed"]


def test_a_secret_never_shows_in_the_diff(run_module, tmp_path):
    path = tmp_path / "configuration.php"
    path.write_text(CONFIG)
    result = run_module(joomla_config, path=str(path), settings={"password": "new"}, _ansible_diff=True)
    assert result["changed"] and "diff" not in result


def test_check_mode_leaves_the_file(run_module, tmp_path):
    path = tmp_path / "configuration.php"
    path.write_text(CONFIG)
    assert run_module(joomla_config, path=str(path), settings={"offline": 1}, _ansible_check_mode=True)["changed"]
    assert path.read_text() == CONFIG


def test_a_missing_file_says_which(run_module, tmp_path):
    result = run_module(joomla_config, path=str(tmp_path / "nope.php"), settings={"offline": 1})
    assert result["failed"] and "nope.php" in result["msg"]


def test_a_changed_setting_reloads_the_service_named_and_an_unchanged_one_does_not(run_module, tmp_path, monkeypatch):
    from ansible.module_utils import basic

    calls = []
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: calls.append(argv) or (0, "", ""))
    path = tmp_path / "configuration.php"
    path.write_text(CONFIG)
    result = run_module(joomla_config, path=str(path), settings={"offline": True}, reload="php8.2-fpm")
    assert result["changed"] and result["reloaded"] and calls == [["systemctl", "reload", "php8.2-fpm"]]
    again = run_module(joomla_config, path=str(path), settings={"offline": True}, reload="php8.2-fpm")
    assert not again["changed"] and not again["reloaded"] and len(calls) == 1
    checked = run_module(joomla_config, path=str(path), settings={"offline": False}, reload="php8.2-fpm",
                         _ansible_check_mode=True)
    assert checked["changed"] and checked["reloaded"] and len(calls) == 1, "check mode reloads nothing"


def test_a_reload_that_fails_fails_the_call_saying_the_file_changed(run_module, tmp_path, monkeypatch):
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: (1, "", "Unit not found"))
    path = tmp_path / "configuration.php"
    path.write_text(CONFIG)
    failed = run_module(joomla_config, path=str(path), settings={"offline": True}, reload="php8.2-fpm")
    assert failed["failed"] and "did not reload" in failed["msg"] and "Unit not found" in failed["msg"]
    assert parse_config(path.read_text())["offline"] == 1
