from datetime import datetime, timedelta

from ansible_collections.otap.street.plugins.module_utils.retention import keep

START = datetime(2026, 1, 1, 2, 0)  # a Thursday


def daily(days: int, per_day: int = 1) -> dict[str, datetime]:
    return {f"b{d:03d}-{n}": START + timedelta(days=d, hours=n) for d in range(days) for n in range(per_day)}


def test_seven_daily_four_weekly_six_monthly_out_of_a_year_of_nightly_backups():
    backups = daily(365)
    kept = keep(backups, daily=7, weekly=4, monthly=6)
    dates = sorted(backups[b] for b in kept)
    # The last 7 days, then the newest of each of the 4 weeks, then the newest of each of 6 months.
    assert [d.date().isoformat() for d in dates] == [
        "2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30",
        "2026-12-13", "2026-12-20",
        "2026-12-25", "2026-12-26", "2026-12-27", "2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31"]


def test_of_several_backups_a_day_the_newest_is_kept():
    backups = daily(2, per_day=3)
    assert keep(backups, daily=7, weekly=0, monthly=0) == {"b000-2", "b001-2"}


def test_the_newest_backup_is_kept_whatever_the_policy():
    assert keep(daily(3), daily=0, weekly=0, monthly=0) == {"b002-0"}


def test_nothing_to_keep_of_nothing():
    assert keep({}, daily=7, weekly=4, monthly=6) == set()


def test_gaps_do_not_count_as_days():
    backups = {"old": START, "older": START - timedelta(days=40), "new": START + timedelta(days=100)}
    assert keep(backups, daily=3, weekly=0, monthly=0) == {"old", "older", "new"}
