import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.uploads import stranded_uploads

LEVEL = "/srv/images/a.png\t10\t1700000000.5\0/srv/images/b/c.pdf\t20\t1700000001.0\0"


def test_level_nodes_strand_nothing():
    assert stranded_uploads(LEVEL, LEVEL) == []


def test_a_file_only_the_node_has_is_stranded():
    node = LEVEL + "/srv/images/only here.png\t5\t1700000100.0\0"
    assert stranded_uploads(node, LEVEL) == ["/srv/images/only here.png"]


def test_a_file_the_node_changed_later_is_stranded_whatever_its_size():
    node = LEVEL.replace("a.png\t10\t1700000000.5", "a.png\t10\t1700000200.0")
    assert stranded_uploads(node, LEVEL) == ["/srv/images/a.png"]


def test_the_primarys_newer_copy_and_files_only_the_primary_has_strand_nothing():
    primary = LEVEL.replace("a.png\t10\t1700000000.5", "a.png\t99\t1700000300.0") + "/srv/images/new.png\t1\t1.0\0"
    assert stranded_uploads(LEVEL, primary) == []


def test_tabs_and_newlines_in_a_name_do_not_shift_the_fields():
    node = "/srv/images/odd\tname.png\t3\t1700000000.0\0/srv/images/two\nlines.png\t4\t1.0\0"
    assert stranded_uploads(node, "") == ["/srv/images/odd\tname.png", "/srv/images/two\nlines.png"]


def test_a_name_crafted_as_two_records_is_one_file():
    crafted = "/srv/images/x\t1\t1\n/srv/images/a.png\t10\t1700000000.5\0"
    assert stranded_uploads(crafted, LEVEL) == ["/srv/images/x\t1\t1\n/srv/images/a.png"]


def test_another_size_at_the_same_time_is_the_nodes_own():
    node = LEVEL.replace("a.png\t10\t1700000000.5", "a.png\t11\t1700000000.5")
    assert stranded_uploads(node, LEVEL) == ["/srv/images/a.png"]


@pytest.mark.parametrize("line", ["/srv/images/a.png", "/srv/images/a.png\tbig\t1.0", "/srv/images/a.png\t1\tnow"])
def test_a_line_that_is_not_a_listing_is_refused(line):
    with pytest.raises(AnsibleFilterError, match="not a listing line"):
        stranded_uploads(line, "")


def test_for_archive_a_name_with_a_wildcard_stands_for_itself():
    import fnmatch

    names = ["/srv/images/x[1]*.jpg", "/srv/images/q?.png", "/srv/images/[draft].png", "/srv/images/plain.png"]
    node = "".join(f"{name}\t1\t1.0\0" for name in names)
    escaped = stranded_uploads(node, "", for_archive=True)
    assert escaped == ["/srv/images/[draft].png", "/srv/images/plain.png", "/srv/images/q[?].png",
                       "/srv/images/x[[]1][*].jpg"]
    # As glob reads them: each matches its own name and no other.
    for pattern, name in zip(escaped, sorted(names)):
        if "*" in name or "?" in name:
            assert fnmatch.filter(names + ["/srv/images/x[1]-other.jpg", "/srv/images/qq.png"], pattern) == [name]
        else:
            assert pattern == name
