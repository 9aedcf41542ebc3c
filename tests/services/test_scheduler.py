"""The scheduler: AWS expressions, firing on a driven clock (no sleeping), the missed-ticks
policies, and exactly one firing per tick with two runtimes on one engine."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from overcast import App, ManualClock, Runtime, ValidationError
from overcast.services.bus import Target
from overcast.services.scheduler import At, Cron, Rate, parse
from overcast.services.scheduler.scheduler import schedule_states
from tests.apps.events_drive import Drive, bodies

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday: ManualClock's start


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M")


def ticks(expression: str, count: int, tz: str = "UTC", start: float = T0) -> list[str | None]:
    parsed = parse(expression)
    out: list[str | None] = []
    moment: float | None = start
    for _ in range(count):
        moment = parsed.next_after(moment, tz) if moment is not None else None
        out.append(iso(moment))
    return out


# -- expressions ---------------------------------------------------------------------------------


def test_rate_and_at() -> None:
    assert ticks("rate(5 minutes)", 2) == ["2026-01-01T00:05", "2026-01-01T00:10"]
    assert ticks("rate(1 day)", 1) == ["2026-01-02T00:00"]
    assert str(Rate(minutes=5)) == "rate(5 minutes)" and str(Rate(1, "hours")) == "rate(1 hour)"
    assert ticks("at(2026-12-01T09:00:00)", 2) == ["2026-12-01T09:00", None]
    assert ticks("at(2026-12-01T09:00:00)", 1, tz="Europe/Paris") == ["2026-12-01T08:00"]
    assert str(At(dt.datetime(2026, 12, 1, 9))) == "at(2026-12-01T09:00:00)"
    assert parse("rate(5 minutes)").latest_at(T0 + 299) == T0


def test_cron_in_the_aws_form() -> None:
    assert ticks("cron(0 9 ? * MON-FRI *)", 3) == ["2026-01-01T09:00", "2026-01-02T09:00", "2026-01-05T09:00"]
    assert ticks("cron(0 9 ? * 2-6 *)", 3) == ticks("cron(0 9 ? * MON-FRI *)", 3)  # 1 is Sunday, as in AWS
    assert ticks("cron(0 12 ? * 1 *)", 1) == ["2026-01-04T12:00"]  # Sunday
    assert ticks("cron(15 10 ? * 6L 2026)", 2) == ["2026-01-30T10:15", "2026-02-27T10:15"]  # last Friday
    assert ticks("cron(0 9 ? * L *)", 1) == ["2026-01-03T09:00"]  # L alone: Saturday
    assert ticks("cron(0 9 3W * ? *)", 2) == ["2026-01-02T09:00", "2026-02-03T09:00"]  # Jan 3 is a Saturday
    assert ticks("cron(0 0 L * ? *)", 2) == ["2026-01-31T00:00", "2026-02-28T00:00"]
    assert ticks("cron(0 9 ? * 3#2 *)", 1) == ["2026-01-13T09:00"]  # second Tuesday
    assert ticks("cron(0/20 8-9 * JAN,MAR ? *)", 2) == ["2026-01-01T08:00", "2026-01-01T08:20"]
    assert ticks("cron(0 0 1 1 ? 2030,2150)", 3) == ["2030-01-01T00:00", "2150-01-01T00:00", None]
    assert ticks("cron(0 9 ? * MON-FRI *)", 1, tz="America/New_York") == ["2026-01-01T14:00"]
    # 02:30 does not exist in Paris on 2026-03-29: the job runs at the first valid time after it
    assert ticks("cron(30 2 * * ? *)", 2, tz="Europe/Paris", start=1_774_656_000.0) == ["2026-03-28T01:30", "2026-03-29T01:00"]
    assert str(Cron(minutes="0", hours="9", day_of_week="MON-FRI")) == "cron(0 9 ? * MON-FRI *)"
    assert str(Cron(minutes="0", hours="0", day_of_month="1")) == "cron(0 0 1 * ? *)"


@pytest.mark.parametrize(("expression", "message"), [
    ("rate(1 minutes)", "write rate(1 minute)"),
    ("rate(5 minute)", "write rate(5 minutes)"),
    ("rate(0 minutes)", "positive"),
    ("rate(5 weeks)", "minute(s), hour(s) or day(s)"),
    ("cron(0 9 * * *)", "six fields"),
    ("cron(0 9 * * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
    ("cron(0 9 ? * ? *)", "exactly one"),
    ("cron(60 9 * * ? *)", "minutes: '60' is not in 0-59"),
    ("cron(0 9 ? * 8 *)", "1-7 (1 = SUN)"),
    ("cron(0 9 ? * 1/2 *)", "does not take '/'"),
    ("cron(0 9 ? * 3#1,5#3 *)", "'#' expression must be the only one"),
    ("cron(0 9 LW * ? *)", "use L (last day) or NW"),
    ("cron(0 9 1 1 ? 2200)", "within 1970-2199"),
    ("at(2026-12-01)", "not a schedule expression"),
    ("every monday", "not a schedule expression"),
])
def test_invalid_expressions_say_what_to_write(expression: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse(expression)
    assert message in str(err.value)


# -- firing ----------------------------------------------------------------------------------------


@pytest.fixture
def app(engine_url: str, clock: ManualClock) -> Iterator[App]:
    app = App("sched", engine=engine_url, clock=clock)
    yield app
    app.close()


def test_fires_once_per_tick_on_a_driven_clock(app: App, clock: ManualClock) -> None:
    app.queue("ticks")
    app.queue("events")
    app.schedule("five", "rate(5 minutes)", Target.queue("ticks"), payload={"job": "sweep"})
    app.schedule("nine", "cron(0 9 ? * MON-FRI *)", Target.queue("events"))
    drive = Drive(app)
    drive.tick()  # first sight: ticks before now never fire
    assert bodies(app, "ticks") == []
    clock.advance(299)
    drive.tick()
    assert bodies(app, "ticks") == []
    clock.advance(1)
    drive.tick()
    drive.tick()  # evaluated again at the same instant: nothing more
    assert bodies(app, "ticks") == [{"job": "sweep"}]
    clock.set(T0 + 9 * 3600)
    drive.tick()
    [event] = bodies(app, "events")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == "2026-01-01T09:00:00Z"
    assert event["resources"] == ["arn:aws:scheduler:us-east-1:000000000000:schedule/default/nine"]
    state = schedule_states(app)["five"]
    assert state["fired"] == 2 and iso(state["last_fired"]) == "2026-01-01T09:00"  # the 09:00 tick, the latest missed


@pytest.mark.parametrize(("policy", "expected"), [("latest", 1), ("all", 12), ("skip", 0)])
def test_missed_ticks_policy(app: App, clock: ManualClock, policy: str, expected: int) -> None:
    app.queue("ticks")
    app.schedule("five", "rate(5 minutes)", Target.queue("ticks"), payload="tick", missed=policy)
    drive = Drive(app)
    drive.tick()
    clock.advance(3600 + 90)  # an hour with nothing running: 12 ticks missed, the last 90 s ago
    drive.tick()
    assert len(bodies(app, "ticks")) == expected
    clock.advance(210)  # the next tick is on time whatever the policy
    drive.tick()
    assert bodies(app, "ticks") == ["tick"]


def test_one_time_bounded_and_flexible_schedules(app: App, clock: ManualClock) -> None:
    app.queue("once")
    app.queue("bounded")
    app.queue("flexible")
    app.schedule("once", "at(2026-01-01T00:10:00)", Target.queue("once"), payload="now")
    app.schedule("bounded", "rate(1 minute)", Target.queue("bounded"), payload="b",
                 start=dt.datetime(2026, 1, 1, 0, 2), end=dt.datetime(2026, 1, 1, 0, 4))
    app.schedule("flexible", "rate(1 hour)", Target.queue("flexible"), payload="f", flexible_window=15)
    drive = Drive(app)
    drive.tick()
    fired = 0
    for _ in range(12):
        clock.advance(60)
        drive.tick()
        fired += len(bodies(app, "bounded"))
    assert bodies(app, "once") == ["now"]
    assert fired == 3  # 00:02, 00:03, 00:04
    clock.set(T0 + 3600)
    drive.tick()
    stats = app.get_queue("flexible").stats()
    assert stats["delayed"] == 1  # spread over the window after the tick
    clock.advance(15 * 60)
    assert bodies(app, "flexible") == ["f"]


def test_schedules_are_validated(app: App) -> None:
    with pytest.raises(ValidationError, match="schedule 'x': 'rate"):
        app.schedule("x", "rate(5 minute)", Target.queue("q"))
    with pytest.raises(ValidationError, match="unknown time zone"):
        app.schedule("x", "rate(5 minutes)", Target.queue("q"), timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="missed must be one of"):
        app.schedule("x", "rate(5 minutes)", Target.queue("q"), missed="sometimes")
    with pytest.raises(ValidationError, match="payload= instead"):
        app.schedule("x", "rate(5 minutes)", Target.queue("q", input_path="$.detail"))
    with pytest.raises(ValidationError, match="flexible_window"):
        app.schedule("x", "rate(5 minutes)", Target.queue("q"), flexible_window=2000)


def _twin(engine_url: str, clock: ManualClock) -> App:
    app = App("twins", engine=engine_url, clock=clock)
    app.queue("ticks")
    app.schedule("minute", "rate(1 minute)", Target.queue("ticks"), payload="tick")
    return app


def test_two_schedulers_on_one_engine_fire_each_tick_once(engine_url: str, clock: ManualClock) -> None:
    first, second = _twin(engine_url, clock), _twin(engine_url, clock)
    one, two = Drive(first), Drive(second)
    try:
        one.tick()
        for minute in range(10):
            clock.advance(60)
            # whoever comes first fires; the other finds the tick done (or is not the leader)
            for drive in (two, one) if minute % 2 else (one, two):
                drive.tick()
        fired = bodies(first, "ticks")
        assert fired == ["tick"] * 10
        assert sum(s.fired for s in one.schedulers + two.schedulers) == 10
    finally:
        first.close()
        second.close()


def test_two_runtimes_fire_each_tick_once(engine_url: str, clock: ManualClock) -> None:
    first, second = _twin(engine_url, clock), _twin(engine_url, clock)
    runtimes = [Runtime(first), Runtime(second)]
    for runtime in runtimes:
        runtime.start()
    try:
        deadline = time.monotonic() + 10
        while "minute" not in schedule_states(first) and time.monotonic() < deadline:
            time.sleep(0.01)  # the scheduler has seen the schedule (first sight)
        queue = first.get_queue("ticks")
        for expected in range(1, 6):
            clock.advance(60)  # wakes both schedulers at once
            deadline = time.monotonic() + 10
            while queue.stats()["visible"] < expected and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)  # time for a second firing to show, if there were one
            assert queue.stats()["visible"] == expected
    finally:
        for runtime in runtimes:
            runtime.stop()
