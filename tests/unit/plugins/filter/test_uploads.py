import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.uploads import stranded_uploads

LEVEL = "/srv/images/a.png\t10\t1700000000.5\n/srv/images/b/c.pdf\t20\t1700000001.0\n"


def test_level_nodes_strand_nothing():
    assert stranded_uploads(LEVEL, LEVEL) == []


def test_a_file_only_the_node_has_is_stranded():
    node = LEVEL + "/srv/images/only here.png\t5\t1700000100.0\n"
    assert stranded_uploads(node, LEVEL) == ["/srv/images/only here.png"]


def test_a_file_the_node_changed_later_is_stranded_whatever_its_size():
    node = LEVEL.replace("a.png\t10\t1700000000.5", "a.png\t10\t1700000200.0")
    assert stranded_uploads(node, LEVEL) == ["/srv/images/a.png"]


def test_the_primarys_newer_copy_and_files_only_the_primary_has_strand_nothing():
    primary = LEVEL.replace("a.png\t10\t1700000000.5", "a.png\t99\t1700000300.0") + "/srv/images/new.png\t1\t1.0\n"
    assert stranded_uploads(LEVEL, primary) == []


def test_tabs_in_a_name_do_not_shift_the_fields():
    node = "/srv/images/odd\tname.png\t3\t1700000000.0\n"
    assert stranded_uploads(node, "") == ["/srv/images/odd\tname.png"]


@pytest.mark.parametrize("line", ["/srv/images/a.png", "/srv/images/a.png\tbig\t1.0", "/srv/images/a.png\t1\tnow"])
def test_a_line_that_is_not_a_listing_is_refused(line):
    with pytest.raises(AnsibleFilterError, match="not a listing line"):
        stranded_uploads(line, "")
