import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.otap.street.plugins.filter.uploads_pending import uploads_pending

NOW = "2026-12-04T01:40:00Z"


def test_level_uploads_have_no_lag():
    assert uploads_pending([], NOW) == {"differences": 0, "lag_seconds": None}


def test_the_lag_is_the_age_of_the_oldest_file_not_yet_copied():
    lines = [
        ">f+++++++++ 2026/12/04-01:39:58 prod2:images/new.png",
        ">f.st...... 2026/12/04-01:38:20 prod2:images/dir with spaces/changed 2026/01/01-00:00:00.png",
        "cd+++++++++ 2026/12/04-01:00:00 prod2:images/new folder/",
        "*deleting   1970/01/01-00:00:00 prod2:images/gone.png",
    ]
    assert uploads_pending(lines, NOW) == {"differences": 4, "lag_seconds": 100}


def test_only_deletions_pending_count_but_have_no_age():
    assert uploads_pending(["*deleting   1970/01/01-00:00:00 prod2:images/gone.png"], NOW) == \
        {"differences": 1, "lag_seconds": None}


def test_a_file_from_a_clock_ahead_is_not_a_negative_lag():
    assert uploads_pending([">f+++++++++ 2026/12/04-01:40:09 prod2:images/a"], NOW)["lag_seconds"] == 0


@pytest.mark.parametrize("lines, now", [
    ([">f+++++++++ prod2:images/a"], NOW),
    ([">f+++++++++ 04-12-2026 prod2:images/a"], NOW),
    ([], "yesterday"),
])
def test_what_is_not_the_push_s_output_is_refused(lines, now):
    with pytest.raises(AnsibleFilterError):
        uploads_pending(lines, now)
