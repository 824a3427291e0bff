"""scrub_digest: a sync copies again when the scrub it would make differs from the one it made."""

import pytest

from ansible_collections.otap.street.plugins.filter import scrub_digest as plugin
from ansible_collections.otap.street.plugins.module_utils import scrub

SETTINGS = {"prefix": "jos_", "rules": [], "skip": [], "public": [], "password": "$2y$10$x"}


def test_the_same_scrub_has_the_same_digest():
    assert plugin.scrub_digest(dict(SETTINGS)) == plugin.scrub_digest(dict(reversed(SETTINGS.items())))


@pytest.mark.parametrize("key, value", [
    ("rules", [{"table": "rsform_submissions", "action": "delete"}]),
    ("prefix", "hsp_"),
    ("skip", ["content.introtext"]),
    ("public", ["info@hospital.example"]),
    ("password", "$2y$10$y"),
])
def test_a_rule_or_setting_changed_changes_the_digest(key, value):
    assert plugin.scrub_digest({**SETTINGS, key: value}) != plugin.scrub_digest(SETTINGS)


def test_the_collections_own_rules_or_sweep_changed_change_the_digest(monkeypatch):
    before = plugin.scrub_digest(SETTINGS)
    original = plugin.inspect.getsource
    monkeypatch.setattr(plugin.inspect, "getsource",
                        lambda code: original(code) + ("\n# a rule more" if code is scrub else ""))
    assert plugin.scrub_digest(SETTINGS) != before
