"""Journey planning without a database (SPEC §4 "Interviewing"): quiet hours in the
business's time zone, one wave a day, expiry, cooldown and conditional follow-ups."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from surveys.conditions import Given
from surveys.loader import load_survey
from surveys.model import Survey, Wave
from surveys.planner import PlannedWave, first_question, in_cooldown, next_question, plan_journey
from surveys.timing import QuietHours, SendingRules

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = QuietHours(time(21), time(9))


def survey(*waves: tuple[str, str, str]) -> Survey:
    """A one-stage survey with waves given as (id, after, expire_after)."""
    return Survey.model_validate({
        "id": "plan", "title": {"en": "Plan"}, "cooldown": "14d",
        "stages": [{"id": "purchase", "name": {"en": "Purchase"}}],
        "waves": [
            {"id": wave_id, "after": after, "expire_after": expire,
             "questions": [{"id": f"{wave_id}_q", "stage": "purchase", "kind": "rating",
                            "text": {"en": "?"}}]}
            for wave_id, after, expire in waves
        ],
    })  # fmt: skip


ONE_WAVE = survey(("soon", "2h", "3d"))


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MOSCOW)  # type: ignore[misc]


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)  # type: ignore[misc]


def due(plan: list[PlannedWave]) -> list[datetime | None]:
    return [p.due_at for p in plan]


# -- quiet hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purchased", "expected"),
    [
        (msk(2026, 11, 23, 20, 30), msk(2026, 11, 24, 9, 0)),  # due 22:30 → next morning
        (msk(2026, 11, 23, 6, 59), msk(2026, 11, 23, 9, 0)),  # due 08:59 → same morning
        (msk(2026, 11, 23, 19, 0), msk(2026, 11, 24, 9, 0)),  # due 21:00: quiet begins
        (msk(2026, 11, 23, 18, 59), msk(2026, 11, 23, 20, 59)),  # due 20:59: still fine
        (msk(2026, 11, 23, 7, 0), msk(2026, 11, 23, 9, 0)),  # due 09:00: quiet is over
        (msk(2026, 11, 23, 22, 0), msk(2026, 11, 24, 9, 0)),  # due at midnight
        (msk(2026, 11, 24, 0, 30), msk(2026, 11, 24, 9, 0)),  # due 02:30
    ],
)
def test_quiet_hours_move_a_wave_to_the_morning(purchased: datetime, expected: datetime) -> None:
    rules = SendingRules(MOSCOW, NIGHT)

    [planned] = plan_journey(ONE_WAVE, purchased, purchased, rules)

    assert planned == PlannedWave("soon", expected)
    assert planned.due_at is not None and planned.due_at.astimezone(MOSCOW) == expected


def test_quiet_hours_are_local_time_not_utc() -> None:
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 20:00 in Moscow; due 22:00 MSK

    [planned] = plan_journey(ONE_WAVE, purchased, purchased, rules)

    assert planned.due_at == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 09:00 MSK


def test_quiet_hours_off_sends_at_night() -> None:
    rules = SendingRules(MOSCOW, QuietHours.parse("off"))
    purchased = msk(2026, 11, 23, 20, 30)

    assert due(plan_journey(ONE_WAVE, purchased, purchased, rules)) == [msk(2026, 11, 23, 22, 30)]


@pytest.mark.parametrize(
    ("due_local", "expected"),
    [
        ((13, 30), (14, 0)),  # inside the lunch break → its end, same day
        ((13, 0), (14, 0)),
        ((12, 59), (12, 59)),
        ((14, 0), (14, 0)),
        ((22, 30), (22, 30)),  # a window that does not wrap leaves the night alone
        ((3, 0), (3, 0)),
    ],
)
def test_window_within_one_day(due_local: tuple[int, int], expected: tuple[int, int]) -> None:
    quiet = QuietHours.parse("13:00-14:00")
    assert quiet == QuietHours(time(13), time(14))
    rules = SendingRules(MOSCOW, quiet)
    purchased = msk(2026, 11, 23, *due_local) - timedelta(hours=2)

    assert due(plan_journey(ONE_WAVE, purchased, purchased, rules)) == [
        msk(2026, 11, 23, *expected)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:00-09:00", QuietHours(time(21), time(9))),
        (" 22:30 - 7:15 ", QuietHours(time(22, 30), time(7, 15))),
        ("off", None),
        ("OFF", None),
        ("none", None),
    ],
)
def test_quiet_hours_parse(text: str, expected: QuietHours | None) -> None:
    assert QuietHours.parse(text) == expected


@pytest.mark.parametrize("text", ["21-09", "25:00-09:00", "21:00-09:60", "09:00-09:00", "x"])
def test_quiet_hours_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"time window|HH:MM"):
        QuietHours.parse(text)


# -- one wave a day ----------------------------------------------------------------------


def test_a_busy_day_pushes_the_wave_to_the_next_morning() -> None:
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = msk(2026, 11, 23, 10, 0)  # due 12:00, but a wave goes out that day already

    plan = plan_journey(ONE_WAVE, purchased, purchased, rules, [date(2026, 11, 23)])

    assert due(plan) == [msk(2026, 11, 24, 9, 0)]


def test_several_busy_days_in_a_row_are_all_skipped() -> None:
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = msk(2026, 11, 23, 10, 0)
    busy = [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]

    assert due(plan_journey(ONE_WAVE, purchased, purchased, rules, busy)) == [
        msk(2026, 11, 26, 9, 0)
    ]


def test_a_busy_day_is_a_local_day() -> None:
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # due 02:30 MSK on the 24th

    plan = plan_journey(ONE_WAVE, purchased, purchased, rules, [date(2026, 11, 24)])

    assert due(plan) == [msk(2026, 11, 25, 9, 0)]


def test_waves_of_one_journey_never_share_a_day() -> None:
    three = survey(("first", "2h", "3d"), ("second", "4h", "3d"), ("third", "1d", "3d"))
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = msk(2026, 11, 23, 10, 0)

    plan = plan_journey(three, purchased, purchased, rules)

    assert plan == [
        PlannedWave("first", msk(2026, 11, 23, 12, 0)),
        PlannedWave("second", msk(2026, 11, 24, 9, 0)),  # 14:00 the same day is taken
        PlannedWave("third", msk(2026, 11, 25, 9, 0)),  # 10:00 on the 24th is taken
    ]


# -- late orders -------------------------------------------------------------------------


def test_a_wave_whose_moment_passed_long_ago_is_skipped() -> None:
    waves = survey(("early", "2h", "3d"), ("late", "21d", "7d"))
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = msk(2026, 11, 1, 12, 0)
    now = msk(2026, 11, 10, 12, 0)  # 2h + 3d passed long ago; 21 days not yet

    plan = plan_journey(waves, purchased, now, rules)

    assert plan == [
        PlannedWave(
            "early", None, "too late when the order arrived: asked 2h to 3d2h after the purchase"
        ),
        PlannedWave("late", msk(2026, 11, 22, 12, 0)),
    ]


def test_a_late_wave_still_within_its_expiry_goes_out_now() -> None:
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = msk(2026, 11, 20, 12, 0)
    now = msk(2026, 11, 23, 14, 0)  # exactly 2h + 3d after the purchase: still in time

    assert due(plan_journey(ONE_WAVE, purchased, now, rules)) == [now]
    too_late = now + timedelta(seconds=1)
    assert due(plan_journey(ONE_WAVE, purchased, too_late, rules)) == [None]


def test_a_late_wave_at_night_waits_for_the_morning() -> None:
    rules = SendingRules(MOSCOW, NIGHT)
    purchased = msk(2026, 11, 22, 12, 0)
    now = msk(2026, 11, 23, 23, 0)

    assert due(plan_journey(ONE_WAVE, purchased, now, rules)) == [msk(2026, 11, 24, 9, 0)]


# -- daylight saving time ------------------------------------------------------------------


def test_morning_after_the_november_clock_change_in_new_york() -> None:
    rules = SendingRules(NEW_YORK, NIGHT)
    purchased = ny(2026, 10, 31, 20, 30)  # EDT, UTC-4; due 22:30 → quiet

    [planned] = plan_journey(ONE_WAVE, purchased, purchased, rules)

    # Clocks go back at 02:00 on 1 November: 09:00 is now EST, UTC-5.
    assert planned.due_at == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert planned.due_at.astimezone(NEW_YORK).time() == time(9, 0)


def test_the_repeated_hour_of_the_clock_change_is_still_night() -> None:
    rules = SendingRules(NEW_YORK, NIGHT)
    # 05:30 UTC and 06:30 UTC are both 01:30 local on 1 November (EDT, then EST).
    for moment in (
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    ):
        purchased = moment - timedelta(hours=2)
        assert due(plan_journey(ONE_WAVE, purchased, purchased, rules)) == [
            datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
        ]


def test_a_busy_day_across_the_clock_change_in_new_york() -> None:
    rules = SendingRules(NEW_YORK, NIGHT)
    purchased = ny(2026, 10, 31, 10, 0)  # due 12:00 EDT on the 31st, which is taken

    plan = plan_journey(ONE_WAVE, purchased, purchased, rules, [date(2026, 10, 31)])

    assert due(plan) == [datetime(2026, 11, 1, 14, 0, tzinfo=UTC)]  # 09:00 EST


def test_morning_after_the_march_clock_change_in_new_york() -> None:
    rules = SendingRules(NEW_YORK, NIGHT)
    purchased = ny(2026, 3, 7, 20, 30)  # EST; clocks go forward at 02:00 on 8 March

    [planned] = plan_journey(ONE_WAVE, purchased, purchased, rules)

    assert planned.due_at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 09:00 EDT


# -- cooldown --------------------------------------------------------------------------------


def test_in_cooldown() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert not in_cooldown(ONE_WAVE, None, now)
    assert in_cooldown(ONE_WAVE, now - timedelta(days=2), now)
    assert in_cooldown(ONE_WAVE, now - timedelta(days=14) + timedelta(seconds=1), now)
    assert not in_cooldown(ONE_WAVE, now - timedelta(days=14), now)
    assert not in_cooldown(ONE_WAVE, now - timedelta(days=30), now)


# -- the next question ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cafe_wave() -> Wave:
    wave = load_survey("cafe").wave("after_purchase")
    assert wave is not None
    return wave


def test_first_question(cafe_wave: Wave) -> None:
    assert first_question(cafe_wave).id == "heard_from"


def test_follow_up_asked_when_its_condition_holds(cafe_wave: Wave) -> None:
    answers = {"heard_from": Given(option="friends")}
    following = next_question(cafe_wave, "heard_from", answers)
    assert following is not None and following.id == "find_rating"  # heard_from != regular


def test_follow_up_skipped_when_its_condition_fails(cafe_wave: Wave) -> None:
    answers = {"heard_from": Given(option="regular")}
    following = next_question(cafe_wave, "heard_from", answers)
    assert following is not None and following.id == "chose_because"


@pytest.mark.parametrize(("rating", "expected"), [(1, "visit_pain"), (3, "visit_pain"), (4, None)])
def test_pain_point_only_after_a_low_rating(
    cafe_wave: Wave, rating: int, expected: str | None
) -> None:
    answers = {
        "heard_from": Given(option="regular"),
        "chose_because": Given(option="menu"),
        "visit_rating": Given(number=rating),
        "visit_emotion": Given(option="joy", valence=1),
    }
    following = next_question(cafe_wave, "visit_emotion", answers)
    assert (following.id if following else None) == expected


def test_a_skipped_rating_does_not_trigger_its_follow_up(cafe_wave: Wave) -> None:
    answers = {"visit_rating": Given(), "visit_emotion": Given(option="joy", valence=1)}
    assert next_question(cafe_wave, "visit_emotion", answers) is None


def test_the_last_question_ends_the_wave(cafe_wave: Wave) -> None:
    assert next_question(cafe_wave, "visit_pain", {"visit_rating": Given(number=1)}) is None


def test_or_condition_in_the_second_wave() -> None:
    wave = load_survey("cafe").wave("first_use")
    assert wave is not None
    for choice, expected in [("unlikely", "come_back_pain"), ("not_sure", "come_back_pain"),
                             ("definitely", None)]:  # fmt: skip
        following = next_question(wave, "come_back", {"come_back": Given(option=choice)})
        assert (following.id if following else None) == expected, choice
