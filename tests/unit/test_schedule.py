"""Job schedules: words in the job file → a cron expression and a time zone, and back."""

import datetime as dt

import pytest

from etl_bigquery.service.schedule import ScheduleError, from_cron, parse_schedule


@pytest.mark.parametrize(
    ("value", "timezone", "cron", "words"),
    [
        ("manual", None, None, "Manual"),
        (None, None, None, "Manual"),
        ({"hourly": {"minute": 15}}, None, "15 * * * *", "Hourly at minute 15 UTC"),
        ({"daily": {"at": "09:00"}}, "Europe/Warsaw", "0 9 * * *", "Daily at 09:00 Europe/Warsaw"),
        (
            {"weekly": {"on": "mon", "at": "7:05"}},
            None,
            "5 7 * * 1",
            "Weekly on Monday at 07:05 UTC",
        ),
        (
            {"weekly": {"on": ["fri", "Monday"], "at": "18:30"}},
            "America/New_York",
            "30 18 * * 1,5",
            "Weekly on Monday and Friday at 18:30 America/New_York",
        ),
        (
            {"monthly": {"day": 1, "at": "06:00"}},
            None,
            "0 6 1 * *",
            "Monthly on day 1 at 06:00 UTC",
        ),
        ({"cron": "0  9 * * 1-5"}, None, "0 9 * * 1-5", "Cron 0 9 * * 1-5 UTC"),
    ],
)
def test_schedules_become_cron_and_words_and_read_back(value, timezone, cron, words):
    schedule = parse_schedule(value, timezone)
    assert schedule.cron == cron
    assert schedule.describe() == words
    assert from_cron(schedule.cron, schedule.timezone) == schedule
    assert parse_schedule(schedule.to_file(), timezone) == schedule


@pytest.mark.parametrize(
    ("value", "timezone", "sentence"),
    [
        ({"hourly": {"minute": 61}}, None, "minute 61 is not a minute of the hour; use 0 to 59."),
        ({"daily": {"at": "25:00"}}, None, "at '25:00' is not a time of day"),
        ({"daily": {"at": "09:00"}}, "Mars/Olympus", "timezone 'Mars/Olympus' is not a known"),
        ({"weekly": {"on": 1, "at": "09:00"}}, None, "on 1 is a number; write the day's name"),
        ({"weekly": {"on": "7", "at": "09:00"}}, None, "on '7' is a number"),
        ({"daily": {"at": 630}}, None, 'must be a time in quotes, such as at: "10:30"'),
        ({"cron": "61 * * * *"}, None, "is not a five-field cron expression"),
        ({"cron": "0 9 * *"}, None, "is not a five-field cron expression"),
        ("daily", None, "'daily' is not a schedule"),
        ({"yearly": {}}, None, "'yearly' is not a schedule"),
        ({"monthly": {"day": 32, "at": "06:00"}}, None, "day 32 is not a day of the month"),
        ({"daily": {"at": "09:00", "on": "mon"}}, None, "has unknown settings ['on']"),
    ],
)
def test_wrong_schedules_are_refused_with_one_sentence(value, timezone, sentence):
    with pytest.raises(ScheduleError) as refused:
        parse_schedule(value, timezone)
    message = refused.value.message
    assert sentence in message
    assert message.endswith(".") and "\n" not in message


@pytest.mark.parametrize(("day", "skipped"), [(29, "leap"), (30, "February"), (31, "April")])
def test_a_monthly_day_past_28_is_accepted_with_a_warning(day, skipped):
    schedule = parse_schedule({"monthly": {"day": day, "at": "06:00"}})
    assert schedule.cron == f"0 6 {day} * *"
    (warning,) = schedule.warnings
    assert f"day {day}" in warning and skipped in warning


def test_next_runs_are_in_the_jobs_time_zone_across_a_clock_change():
    schedule = parse_schedule({"daily": {"at": "09:00"}}, "Europe/Warsaw")
    after = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)
    first, second = schedule.next_runs(after, 2)
    assert (first.isoformat(), second.isoformat()) == (
        "2026-03-29T09:00:00+02:00",
        "2026-03-30T09:00:00+02:00",
    )
    assert parse_schedule("manual").next_runs(after) == []


def test_an_unrecognised_cron_stays_a_raw_cron():
    assert from_cron("*/5 * * * *").kind == "cron"
    assert from_cron("0 9 1 * 1").kind == "cron"


def test_weekly_on_read_by_pyyaml_as_true_still_means_on():
    import yaml

    value = yaml.safe_load('weekly: {on: mon, at: "09:00"}')
    assert True in value["weekly"]
    assert parse_schedule(value).cron == "0 9 * * 1"
