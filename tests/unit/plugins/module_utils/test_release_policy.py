import pytest

from ansible_collections.otap.street.plugins.module_utils.release_policy import check_path, is_content_table


@pytest.mark.parametrize("path", [
    "index.php",
    "templates/cassiopeia/index.php",
    "administrator/components/com_content/src/Model.php",
    "libraries/src/Version.php",
    "images.php",
    "cachebuster.js",
])
def test_code_paths_are_allowed(path):
    assert check_path(path) is None


@pytest.mark.parametrize(("path", "rule"), [
    ("/etc/passwd", "absolute path"),
    ("C:/site/index.php", "absolute path"),
    ("../outside.php", "path escape"),
    ("templates/../../x.php", "path escape"),
    ("./index.php", "normal form"),
    ("templates//index.php", "normal form"),
    ("templates\\index.php", "backslash"),
    ("", "empty path"),
    (" index.php", "whitespace"),
    ("images/portal/new.png", "content path"),
    ("images", "content path"),
    ("configuration.php", "content path"),
    ("cache/page.html", "content path"),
    ("tmp/upload.zip", "content path"),
    ("administrator/logs/error.php", "content path"),
    ("administrator/cache/x", "content path"),
])
def test_bad_paths_name_their_rule(path, rule):
    violation = check_path(path)
    assert violation is not None and rule in violation.rule


def test_inventory_can_add_content_paths():
    assert check_path("media/uploads/a.pdf", content_paths=("media/uploads/",)).rule.startswith("content path")
    assert check_path("media/uploads/a.pdf") is None


@pytest.mark.parametrize(("table", "expected"), [
    ("content", True), ("menu_types", True), ("fields_values", True), ("Content", True),
    ("workflow_associations", True), ("users", True), ("user_profiles", True), ("schemaorg", True),
    ("otap_news", False), ("extensions", False), ("session", False), ("contentx", False),
])
def test_content_tables(table, expected):
    assert is_content_table(table) is expected


def test_inventory_can_add_content_tables():
    assert is_content_table("rsform_submissions", ("rsform_*",))
    assert not is_content_table("rsform_submissions")
