import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.php import php_literal


def php_single_quoted(source: str) -> str:
    """Decode a PHP single-quoted string literal the way PHP's parser does."""
    match = re.fullmatch(r"'((?:[^'\\]|\\.)*)'", source, re.S)
    assert match, f"not one single-quoted literal: {source!r}"
    return re.sub(r"\\([\\'])", r"\1", match.group(1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "1"), (False, "0"), (0, "0"), (15, "15"), (None, "''"), ("portal", "'portal'"),
     ("it's", r"'it\'s'"), ("C:\\tmp", r"'C:\\tmp'")],
)
def test_scalars_become_php_literals(value, expected):
    assert php_literal(value) == expected


@pytest.mark.parametrize(
    "text",
    ["", "plain", "quote ' inside", "ends with backslash \\", "\\'; system('id'); //",
     "multi\nline", "unicode: zoë ✓", "\\\\'\\"],
)
def test_strings_round_trip_through_php_parsing(text):
    assert php_single_quoted(php_literal(text)) == text


@pytest.mark.parametrize("value", [["a"], {"a": 1}])
def test_non_scalars_are_refused_with_a_message(value):
    with pytest.raises(AnsibleFilterError, match="cannot write a .* as a PHP scalar"):
        php_literal(value)
