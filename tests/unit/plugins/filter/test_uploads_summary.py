from ansible_collections.otap.street.plugins.filter.uploads_summary import uploads_summary


def test_level_uploads_say_so():
    assert uploads_summary({"differences": 0, "lag_seconds": None, "error": ""}) == "level on the standby"


def test_pending_uploads_say_how_many_and_how_old_the_oldest_is():
    assert uploads_summary({"differences": 3, "lag_seconds": 12, "error": ""}) == \
        "3 differences not yet on the standby, the oldest saved 12 s ago"
    assert uploads_summary({"differences": 1, "lag_seconds": None}) == "1 differences not yet on the standby", \
        "a pending deletion has no age"


def test_a_comparison_that_failed_says_why_or_that_it_did_not_say():
    assert uploads_summary({"differences": None, "lag_seconds": None, "error": "refused: prod2 follows nobody"}) == \
        "the standby's uploads cannot be compared with the primary's: refused: prod2 follows nobody"
    assert uploads_summary({"differences": None, "lag_seconds": None, "error": ""}).endswith(
        "the comparison failed without a word")


def test_uploads_not_read_say_nothing():
    assert uploads_summary(None) == "" and uploads_summary({}) == ""
