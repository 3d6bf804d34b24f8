"""Rotations: turns, layers, restrictions, overrides and swaps, and DST at fixed instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from batchwatch.oncall.schedule import (
    REACH,
    LayerSpec,
    PeriodSpec,
    RotationSpec,
    final_schedule,
    next_in_rotation,
    oncall_at,
    parse_restrictions,
    shifts_overlapping,
)

NY = ZoneInfo("America/New_York")
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


def daily_layer(start=datetime(2026, 3, 1, 9, 0), people=(ALICE, BOB), **extra) -> LayerSpec:
    return LayerSpec(
        position=0, start_local=start, turn=timedelta(days=1), participants=people, **extra
    )


def test_turns_follow_the_participants_in_order():
    spec = RotationSpec(zone=NY, layers=(daily_layer(people=(ALICE, BOB, CAROL)),))
    assert oncall_at(spec, ny(2026, 3, 1, 9, 0)).user_id == ALICE
    assert oncall_at(spec, ny(2026, 3, 2, 8, 59)).user_id == ALICE
    assert oncall_at(spec, ny(2026, 3, 2, 9, 0)).user_id == BOB
    assert oncall_at(spec, ny(2026, 3, 3, 12, 0)).user_id == CAROL
    assert oncall_at(spec, ny(2026, 3, 4, 12, 0)).user_id == ALICE
    assert oncall_at(spec, ny(2026, 2, 28, 12, 0)).user_id is None  # before the first handoff


def test_weekly_rotation_hands_off_at_nine_local_across_spring_forward():
    """2026-03-08 02:00 EST → 03:00 EDT. Monday 09:00 handoffs stay at 09:00 local."""
    layer = LayerSpec(
        position=0,
        start_local=datetime(2026, 3, 2, 9, 0),
        turn=timedelta(days=7),
        participants=(ALICE, BOB),
    )
    spec = RotationSpec(zone=NY, layers=(layer,))
    shifts = final_schedule(spec, ny(2026, 3, 2, 9, 0), ny(2026, 3, 23, 9, 0))
    assert [s.user_id for s in shifts] == [ALICE, BOB, ALICE]
    starts = [s.starts_at.astimezone(NY) for s in shifts]
    assert [(d.day, d.hour) for d in starts] == [(2, 9), (9, 9), (16, 9)]
    # Alice's turn across the change is one hour shorter in real time, not a shortened turn:
    assert shifts[0].ends_at - shifts[0].starts_at == timedelta(days=7, hours=-1)
    assert shifts[1].ends_at - shifts[1].starts_at == timedelta(days=7)


def test_daily_rotation_across_fall_back_has_no_doubled_or_skipped_turn():
    """2026-11-01 02:00 EDT → 01:00 EST; the 01:30 handoff exists twice and happens once."""
    spec = RotationSpec(
        zone=NY,
        layers=(daily_layer(start=datetime(2026, 10, 30, 1, 30), people=(ALICE, BOB, CAROL)),),
    )
    shifts = final_schedule(spec, ny(2026, 10, 30, 1, 30), ny(2026, 11, 3, 1, 30))
    assert [s.user_id for s in shifts] == [ALICE, BOB, CAROL, ALICE]
    assert [s.starts_at.astimezone(NY).strftime("%d %H:%M %Z") for s in shifts] == [
        "30 01:30 EDT",
        "31 01:30 EDT",
        "01 01:30 EDT",
        "02 01:30 EST",
    ]
    # During the repeated hour (01:15 EST comes after the 01:30 EDT handoff) it is Carol's.
    second_pass = datetime(2026, 11, 1, 1, 15, tzinfo=NY, fold=1).astimezone(UTC)
    assert oncall_at(spec, second_pass).user_id == CAROL


def test_handoff_inside_the_spring_gap_happens_right_after_it():
    spec = RotationSpec(
        zone=NY, layers=(daily_layer(start=datetime(2026, 3, 6, 2, 30), people=(ALICE, BOB)),)
    )
    shifts = final_schedule(spec, ny(2026, 3, 7, 12, 0), ny(2026, 3, 9, 12, 0))
    assert [s.starts_at.astimezone(NY).strftime("%d %H:%M") for s in shifts[1:]] == [
        "08 03:30",
        "09 02:30",
    ]


def test_a_later_layer_overrides_an_earlier_one_within_its_restrictions():
    base = daily_layer(people=(ALICE,))
    business_hours = LayerSpec(
        position=1,
        start_local=datetime(2026, 3, 2, 0, 0),
        turn=timedelta(days=7),
        participants=(BOB,),
        restrictions=parse_restrictions(
            [{"kind": "weekly", "start_day": 0, "start": "09:00", "end_day": 4, "end": "17:00"}]
        ),
    )
    spec = RotationSpec(zone=NY, layers=(base, business_hours))
    assert oncall_at(spec, ny(2026, 3, 3, 10, 0)).user_id == BOB  # Tuesday 10:00
    assert oncall_at(spec, ny(2026, 3, 3, 18, 0)).user_id == BOB  # weekly window spans days
    assert oncall_at(spec, ny(2026, 3, 6, 18, 0)).user_id == ALICE  # Friday after 17:00
    assert oncall_at(spec, ny(2026, 3, 7, 10, 0)).user_id == ALICE  # Saturday


def test_daily_restriction_wrapping_midnight():
    nights = daily_layer(
        people=(CAROL,),
        restrictions=parse_restrictions([{"kind": "daily", "start": "22:00", "end": "06:00"}]),
    )
    spec = RotationSpec(zone=NY, layers=(nights,))
    assert oncall_at(spec, ny(2026, 3, 3, 23, 0)).user_id == CAROL
    assert oncall_at(spec, ny(2026, 3, 4, 5, 59)).user_id == CAROL
    assert oncall_at(spec, ny(2026, 3, 4, 6, 0)).user_id is None


def test_override_and_swap():
    spec = RotationSpec(
        zone=NY,
        layers=(daily_layer(people=(ALICE, BOB)),),
        overrides=(PeriodSpec(DAVE, ny(2026, 3, 1, 12, 0), ny(2026, 3, 1, 14, 0)),),
        swaps=(PeriodSpec(CAROL, ny(2026, 3, 2, 0, 0), ny(2026, 3, 4, 0, 0), replaces=BOB),),
    )
    assert oncall_at(spec, ny(2026, 3, 1, 13, 0)).user_id == DAVE
    assert oncall_at(spec, ny(2026, 3, 1, 14, 0)).user_id == ALICE
    assert oncall_at(spec, ny(2026, 3, 2, 10, 0)).user_id == CAROL  # Bob's turn, swapped
    assert oncall_at(spec, ny(2026, 3, 3, 10, 0)).user_id == ALICE  # Alice's turn: untouched
    assert next_in_rotation(spec, ny(2026, 3, 1, 10, 0)) == BOB


def test_free_form_turn_length_of_twelve_hours():
    layer = LayerSpec(
        position=0,
        start_local=datetime(2026, 3, 1, 9, 0),
        turn=timedelta(hours=12),
        participants=(ALICE, BOB),
    )
    spec = RotationSpec(zone=NY, layers=(layer,))
    assert oncall_at(spec, ny(2026, 3, 1, 20, 59)).user_id == ALICE
    assert oncall_at(spec, ny(2026, 3, 1, 21, 0)).user_id == BOB
    assert oncall_at(spec, ny(2026, 3, 2, 9, 0)).user_id == ALICE


@pytest.mark.parametrize(
    "raw, message",
    [
        ([{"kind": "hourly"}], "kind"),
        ([{"kind": "daily", "start": "9am", "end": "17:00"}], "HH:MM"),
        (
            [{"kind": "weekly", "start": "09:00", "end": "17:00", "start_day": 9, "end_day": 1}],
            "start_day",
        ),
        ([{"kind": "daily", "start": "09:00", "end": "09:00"}], "same"),
    ],
)
def test_bad_restrictions_are_refused_with_a_sentence(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_restrictions(raw)


# --- Real bounds of the shifts at a window's edges (pages and feeds) ---------------------------


def test_shifts_overlapping_keeps_the_real_handoffs_at_the_windows_edges():
    layer = LayerSpec(
        position=0,
        start_local=datetime(2026, 10, 5, 9, 0),
        turn=timedelta(days=7),
        participants=(ALICE, BOB),
    )
    spec = RotationSpec(zone=NY, layers=(layer,))
    start, end = ny(2026, 10, 28, 0, 0), ny(2026, 11, 4, 0, 0)
    cut = final_schedule(spec, start, end)
    assert cut[0].starts_at == start and cut[0].open_start
    shifts = shifts_overlapping(spec, start, end)
    assert [s.user_id for s in shifts] == [BOB, ALICE]
    assert shifts[0].starts_at == ny(2026, 10, 26, 9, 0) and not shifts[0].open_start
    # Bob's week crosses the change back to EST on 11-01: 09:00 EDT to 09:00 EST, 7 days 1 h.
    assert shifts[0].starts_at == datetime(2026, 10, 26, 13, tzinfo=UTC)
    assert shifts[0].ends_at == datetime(2026, 11, 2, 14, tzinfo=UTC) == ny(2026, 11, 2, 9, 0)
    assert shifts[1].ends_at == ny(2026, 11, 9, 9, 0) and not shifts[1].open_end
    # The same shifts whatever the instant the window is taken at.
    later = shifts_overlapping(spec, start + timedelta(hours=7), end + timedelta(hours=7))
    assert [(s.starts_at, s.ends_at) for s in later] == [(s.starts_at, s.ends_at) for s in shifts]


def test_a_shift_longer_than_the_reach_says_it_began_earlier():
    layer = daily_layer(start=datetime(2025, 1, 1, 9), people=(ALICE,))
    spec = RotationSpec(zone=NY, layers=(layer,))
    start = ny(2026, 10, 28, 0, 0)
    (shift,) = shifts_overlapping(spec, start, start + timedelta(days=14))
    assert shift.user_id == ALICE and shift.open_start and shift.open_end
    assert shift.starts_at <= start - REACH
    hour = timedelta(hours=1)
    again = shifts_overlapping(spec, start + hour, start + timedelta(days=14) + hour)
    assert again[0].starts_at == shift.starts_at  # on the grid: the same edge an hour later
