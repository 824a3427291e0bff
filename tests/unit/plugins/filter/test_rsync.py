import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.rsync import rsync_stats

# What rsync 3.2.7 (Debian 12) printed for a copy that created a folder and a file and deleted one.
FIRST = """
Number of files: 3 (reg: 1, dir: 2)
Number of created files: 2 (reg: 1, dir: 1)
Number of deleted files: 1 (reg: 1)
Number of regular files transferred: 1
Total file size: 3 bytes
Total transferred file size: 3 bytes
Literal data: 3 bytes
Matched data: 0 bytes
File list size: 0
File list generation time: 0.001 seconds
File list transfer time: 0.000 seconds
Total bytes sent: 151
Total bytes received: 54

sent 151 bytes  received 54 bytes  410.00 bytes/sec
total size is 3  speedup is 0.01
"""

# The same copy run again, and a large tree with nothing to send.
AGAIN = """
Number of files: 3,012 (reg: 3,000, dir: 12)
Number of created files: 0
Number of deleted files: 0
Number of regular files transferred: 0
Total file size: 1,234,567,890 bytes
Total transferred file size: 0 bytes
Total bytes sent: 98,304
"""


def test_a_copy_that_moved_files_is_a_change():
    assert rsync_stats(FIRST) == {"files": 3, "created": 2, "deleted": 1, "transferred": 1, "transferred_bytes": 3,
                                  "sent_bytes": 151, "changed": True}


def test_a_copy_with_nothing_to_send_changes_nothing():
    stats = rsync_stats(AGAIN)
    assert stats["files"] == 3012 and stats["sent_bytes"] == 98304 and stats["changed"] is False


@pytest.mark.parametrize("output", ["", "sent 151 bytes  received 54 bytes", None])
def test_output_without_stats_is_an_error(output):
    with pytest.raises(AnsibleFilterError, match="--stats"):
        rsync_stats(output)
