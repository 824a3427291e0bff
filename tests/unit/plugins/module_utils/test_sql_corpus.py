"""The release SQL allow-list against a corpus of scripts (tests/fixtures/sql-corpus).

Each script says what it expects in its first lines: `-- expect: accepted`, or
`-- expect: refused RULE [RULE ...]` (exactly the rules the policy must name), and
`-- declares: joomla-update` when its release declares a Joomla update.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.otap.street.plugins.module_utils.release_policy import DEFAULT_CONTENT_TABLES
from ansible_collections.otap.street.plugins.module_utils.migration import refusal
from ansible_collections.otap.street.plugins.module_utils.release_sql import split
from ansible_collections.otap.street.plugins.module_utils.sql_policy import script_violations

CORPUS = Path(__file__).resolve().parents[3] / "fixtures" / "sql-corpus"
SCRIPTS = sorted(CORPUS.glob("*.sql"))


def expectation(text: str) -> tuple[set[str] | None, bool]:
    expect = re.search(r"^-- expect: (accepted|refused (.+))$", text, re.M)
    assert expect, "a corpus script starts with '-- expect: ...'"
    rules = None if expect.group(1) == "accepted" else set(expect.group(2).split())
    return rules, bool(re.search(r"^-- declares: joomla-update$", text, re.M))


def judge(path: Path) -> tuple[set[str] | None, set[str], list]:
    text = path.read_text()
    expected, joomla_update = expectation(text)
    found = script_violations(path.name, text, DEFAULT_CONTENT_TABLES, joomla_update)
    return expected, {rule for _, rule, _ in found}, found


def test_the_corpus_is_large_enough_and_balanced():
    refused = [p for p in SCRIPTS if expectation(p.read_text())[0] is not None]
    accepted = [p for p in SCRIPTS if expectation(p.read_text())[0] is None]
    assert len(SCRIPTS) >= 40 and len(refused) >= 40 and len(accepted) >= 20


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_each_script_is_judged_as_expected_with_the_rule_named(path):
    expected, rules, found = judge(path)
    if expected is None:
        assert found == [], f"{path.name} should be accepted: {found}"
    else:
        assert rules == expected, f"{path.name}: expected {sorted(expected)}, found {found}"
        for where, _, message in found:
            assert re.match(rf"^{re.escape(path.name)}:\d+$", where) and message


def test_no_script_is_misjudged(capsys):
    counts = {"refused": 0, "accepted": 0, "misjudged": 0}
    for path in SCRIPTS:
        expected, rules, found = judge(path)
        if (expected is None and found) or (expected is not None and rules != expected):
            counts["misjudged"] += 1
        else:
            counts["refused" if expected else "accepted"] += 1
    with capsys.disabled():
        print(f"\nSQL corpus: {counts['refused']} refused, {counts['accepted']} accepted, "
              f"{counts['misjudged']} misjudged")
    assert counts["misjudged"] == 0


RELEASE_SQL = sorted((CORPUS.parents[2] / "examples" / "releases").glob("*/sql/*.sql")) + sorted(
    (CORPUS.parent / "releases").glob("*/sql/*.sql"))
ACCEPTED = [p for p in SCRIPTS if expectation(p.read_text())[0] is None] + [
    p for p in RELEASE_SQL if not script_violations(p.name, p.read_text(), DEFAULT_CONTENT_TABLES, True)]


def test_the_scripts_the_policy_accepts_include_every_release_of_the_street_but_the_hostile_one():
    assert len(ACCEPTED) >= 30 and [p.parent.parent.name for p in RELEASE_SQL if p not in ACCEPTED] == [
        "beyond-its-rights"]


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_what_the_policy_accepts_the_node_runs(path):
    """The node's own refusals (module_utils/migration) never stop a script the controller's policy
    accepts: they are a second line behind it, for what the database account and the copies would
    miss, not a second policy."""
    refused = [(s.line, why) for s in split(path.read_text()) if (why := refusal(s, "jos_"))]
    assert refused == []
