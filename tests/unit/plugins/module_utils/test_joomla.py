from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.module_utils.joomla import (
    JoomlaFileError,
    parse_config,
    parse_version,
    set_config,
    without_secrets,
)

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "joomla-site" / "site"

CONFIG = r"""<?php
class JConfig
{
    public $offline = 0;
    public $offline_message = 'Back soon, it\'s maintenance';
    public $sitename = "Hospital portal";
    public $password = 'p\\w\'d';
    public $secret = 'abc';
    public $list_limit = 20;
    public $debug = false;
    public $proxy_enable = null;
    public $tags = array('a');
}
"""


def test_config_is_read_like_php_reads_it():
    settings = parse_config(CONFIG)
    assert settings["offline"] == 0
    assert settings["offline_message"] == "Back soon, it's maintenance"
    assert settings["sitename"] == "Hospital portal"
    assert settings["password"] == "p\\w'd"
    assert settings["list_limit"] == 20 and settings["debug"] is False and settings["proxy_enable"] is None
    assert "tags" not in settings


def test_secrets_are_left_out():
    settings = without_secrets(parse_config(CONFIG))
    assert "password" not in settings and "secret" not in settings and settings["sitename"]


def test_set_config_changes_only_what_differs_and_round_trips():
    text, changed = set_config(CONFIG, {"offline": True, "sitename": "Hospital portal", "mailonline": False})
    assert changed == ["offline", "mailonline"]
    settings = parse_config(text)
    assert settings["offline"] == 1 and settings["mailonline"] == 0
    assert settings["password"] == "p\\w'd", "untouched values keep their exact source"
    again, changed_again = set_config(text, {"offline": True})
    assert again == text and changed_again == []


def test_a_file_without_jconfig_is_refused():
    with pytest.raises(JoomlaFileError, match="no class JConfig"):
        parse_config("<?php echo 1;")


def test_the_fixture_version_is_read():
    version = parse_version((FIXTURE / "libraries" / "src" / "Version.php").read_text())
    assert version["version"] == "5.2.1"
    assert version["major_version"] == 5 and version["dev_status"] == "Stable"
