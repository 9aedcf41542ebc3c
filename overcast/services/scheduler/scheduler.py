"""The scheduler: fires each schedule's target once per tick, however many runtime processes
run, and decides what to do with the ticks missed while none ran.

Exactly once per tick. One process leads (the engine lease ``overcast:scheduler:APP``); each
schedule has a durable record (kv ``overcast:schedules``, the last tick handled) that is read and
rewritten — conditionally on its version — in the same transaction that enqueues the target
deliveries and renews the lease. Two processes that both believe they lead cannot both commit a
tick: the second one's conditional write fails and its deliveries roll back with it.

Missed ticks (the runtime was down, or the machine asleep) follow the schedule's ``missed``
policy: ``"latest"`` (default) fires once, for the most recent missed tick; ``"all"`` fires
every missed tick in order (at most ``MAX_CATCH_UP`` per pass, the rest on the next passes);
``"skip"`` fires none of them and waits for the next tick. A tick is missed when it is more than
``GRACE`` seconds old when the scheduler gets to it. A schedule seen for the first time, or
whose expression changed, starts from now: ticks before that are never fired.

Before changing: time comes only from the engine's clock (``tx.now()``), so a ``ManualClock``
drives everything in tests; the role wakes when that clock is advanced, or at the next tick.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overcast.engine.base import ABSENT, Tx
from overcast.errors import ConditionFailed, ValidationError
from overcast.services.bus.delivery import Delivery, deliver_or_defer
from overcast.services.bus.events import iso_time
from overcast.services.bus.rules import target_arn
from overcast.services.bus.targets import Target
from overcast.services.bus.transform import NOT_SET
from overcast.services.queues import INTERNAL_PREFIX
from overcast.services.scheduler.expressions import At, Expression, parse, zone

if TYPE_CHECKING:
    from overcast.app import App

log = logging.getLogger("overcast.scheduler")

STATE = f"{INTERNAL_PREFIX}schedules"
LEASE_TTL = 30.0
RENEW = 10.0  # seconds between lease renewals while idle
GRACE = 60.0
MAX_CATCH_UP = 100
MISSED = ("latest", "all", "skip")


@dataclass(frozen=True)
class Schedule:
    """A schedule: ``expression`` ticks fire ``target`` with ``payload``.

    No payload: the target receives EventBridge's "Scheduled Event" (a ``@app.on_schedule``
    handler gets an ``EventBridgeEvent``). ``flexible_window`` (minutes, 1–1440) spreads each
    firing over that window after the tick; ``start``/``end`` bound the ticks (epochs).
    """

    name: str
    expression: Expression
    target: Target
    payload: Any = NOT_SET
    timezone: str = "UTC"
    flexible_window: int | None = None
    start: float | None = None
    end: float | None = None
    missed: str = "latest"
    enabled: bool = True
    description: str | None = None

    def arn(self, region: str, account: str) -> str:
        return f"arn:aws:scheduler:{region}:{account}:schedule/default/{self.name}"

    def next_after(self, moment: float) -> float | None:
        """The first tick after ``moment`` within ``start``/``end``."""
        if self.start is not None and moment < self.start:
            moment = self.start - 0.001
        tick = self.expression.next_after(moment, self.timezone)
        if tick is None or (self.end is not None and tick > self.end):
            return None
        return tick

    def latest_at(self, moment: float) -> float | None:
        if self.end is not None:
            moment = min(moment, self.end)
        tick = self.expression.latest_at(moment, self.timezone)
        if tick is None or (self.start is not None and tick < self.start):
            return None
        return tick

    def describe(self, region: str, account: str) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Arn": self.arn(region, account),
            "ScheduleExpression": str(self.expression),
            "ScheduleExpressionTimezone": self.timezone,
            "Target": self.target.describe(),
            "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": self.flexible_window}
            if self.flexible_window else {"Mode": "OFF"},
            "State": "ENABLED" if self.enabled else "DISABLED",
            "MissedTicks": self.missed,
        }


def make_schedule(
    name: str,
    expression: str | Expression,
    target: Target,
    *,
    payload: Any = NOT_SET,
    timezone: str = "UTC",
    flexible_window: int | None = None,
    start: float | None = None,
    end: float | None = None,
    missed: str = "latest",
    enabled: bool = True,
    description: str | None = None,
) -> Schedule:
    import re

    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9._-]{1,64}$", name):
        raise ValidationError(f"schedule name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    where = f"schedule {name!r}"
    try:
        parsed = parse(expression)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    zone(timezone)
    if not isinstance(target, Target):
        raise ValidationError(f"{where}: the target must be a Target (Target.function(...), Target.queue(...), ...)")
    if target.input is not NOT_SET or target.input_path or target.input_transformer or target.cloudevents:
        raise ValidationError(f"{where}: give the schedule a payload= instead of target input settings")
    if flexible_window is not None and (isinstance(flexible_window, bool) or not isinstance(flexible_window, int)
                                        or not 1 <= flexible_window <= 1440):
        raise ValidationError(f"{where}: flexible_window is a number of minutes between 1 and 1440")
    if missed not in MISSED:
        raise ValidationError(f"{where}: missed must be one of {', '.join(MISSED)}, not {missed!r}")
    if payload is not NOT_SET:
        try:
            json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{where}: the payload is not a JSON value: {exc}") from None
    return Schedule(name, parsed, target, payload, timezone, flexible_window, start, end, missed, enabled, description)


def tick_delivery(schedule: Schedule, tick: float, *, region: str, account: str, now: float) -> Delivery:
    """What the schedule's target receives for one tick."""
    arn = schedule.arn(region, account)
    target = schedule.target
    if schedule.payload is NOT_SET:
        event = {
            "version": "0",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}@{tick}")),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": iso_time(tick),
            "region": region,
            "resources": [arn],
            "detail": {},
        }
        body, is_json = json.dumps(event, separators=(",", ":")), True
    elif isinstance(schedule.payload, str):
        body, is_json = schedule.payload, False
    else:
        body, is_json = json.dumps(schedule.payload, separators=(",", ":")), True
    delay = 0.0
    if schedule.flexible_window:
        digest = hashlib.sha256(f"{schedule.name}@{tick}".encode()).hexdigest()
        delay = float(int(digest, 16) % (schedule.flexible_window * 60))
    return Delivery(
        kind=target.kind, dest=target.name, body=body, is_json=is_json,
        group_id=target.message_group_id, dedup_id=f"{schedule.name}-{int(tick)}" if target.message_group_id else None,
        delay=delay, method=target.method, headers=dict(target.headers), timeout=target.timeout,
        origin={"type": "schedule", "arn": arn, "target_arn": target_arn(target, region, account)},
        max_attempts=target.retry_policy.max_retries + 1, max_age=float(target.retry_policy.max_event_age),
        dead_letter=target.dead_letter, first_at=now,
    )


class Scheduler:
    """Runtime role: evaluates the app's schedules when the clock reaches a tick."""

    def __init__(self, app: App, schedules: dict[str, Schedule]) -> None:
        self.app = app
        self.schedules = schedules
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = f"{INTERNAL_PREFIX}scheduler:{app.name}"
        self.leader = False
        self.fired = 0
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"scheduler-{app.name}", daemon=True)

    def start(self) -> None:
        self.app.engine.clock.subscribe(self._wake.set)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if self.leader:
            with contextlib.suppress(Exception):  # the engine may be closing; the lease expires anyway
                self.app.engine.atomic(lambda tx: tx.lease_release(self.lease, self.owner))

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                next_due = self.run_once()
            except Exception:  # keep scheduling whatever happens; report it
                log.exception("scheduler failed")
                next_due = None
            if self.stopping.is_set():
                return
            now = self.app.engine.clock.now()
            wait = RENEW if next_due is None else min(max(0.0, next_due - now), RENEW)
            self._wake.wait(wait)
            self._wake.clear()

    def run_once(self) -> float | None:
        """Fire what is due now (if this process leads); return when to look again."""
        engine = self.app.engine
        next_due: float | None = None
        for schedule in list(self.schedules.values()):
            if not schedule.enabled:
                continue
            try:
                due = engine.atomic(lambda tx, s=schedule: self._evaluate(tx, s))  # type: ignore[misc]
            except ConditionFailed:
                continue  # another process handled this tick first
            if not self.leader:
                return engine.clock.now() + LEASE_TTL / 3
            if due is not None:
                next_due = due if next_due is None else min(next_due, due)
        return next_due

    def _evaluate(self, tx: Tx, schedule: Schedule) -> float | None:
        self.leader = tx.lease_acquire(self.lease, self.owner, LEASE_TTL)
        if not self.leader:
            return None
        now = tx.now()
        item = tx.kv_get(STATE, self.app.name, schedule.name)
        signature = f"{schedule.expression}|{schedule.timezone}"
        if item is None or item.value.get("signature") != signature:
            state: dict[str, Any] = {"signature": signature, "last": now, "since": now, "fired": 0, "skipped": 0, "last_fired": None}
            if isinstance(schedule.expression, At) and schedule.expression.moment(schedule.timezone) <= now and item is None:
                log.warning("schedule %s: %s is already past; it will not fire", schedule.name, schedule.expression)
            tx.kv_put(STATE, self.app.name, schedule.name, state, condition=ABSENT if item is None else item.version)
            return schedule.next_after(now)
        state = dict(item.value)
        first = schedule.next_after(state["last"])
        if first is None or first > now:
            return first
        if schedule.missed == "all":
            ticks = [first]
            while len(ticks) < MAX_CATCH_UP:
                following = schedule.next_after(ticks[-1])
                if following is None or following > now:
                    break
                ticks.append(following)
            fire, last = ticks, ticks[-1]
        else:
            latest = schedule.latest_at(now)
            last = latest if latest is not None and latest >= first else first
            on_time = now - last <= GRACE
            fire = [last] if schedule.missed == "latest" or on_time else []
            if last != first or not fire:
                state["skipped"] = state.get("skipped", 0) + (0 if fire and last == first else 1)
                log.warning("schedule %s: ticks missed while no runtime ran (since %s); policy %r fires %s",
                            schedule.name, iso_time(first), schedule.missed,
                            iso_time(last) if fire else "nothing")
        for tick in fire:
            deliver_or_defer(tx, tick_delivery(schedule, tick, region=self.app.region, account=self.app.account, now=now))
        state["last"] = last
        state["fired"] = state.get("fired", 0) + len(fire)
        if fire:
            state["last_fired"] = fire[-1]
        tx.kv_put(STATE, self.app.name, schedule.name, state, condition=item.version)
        self.fired += len(fire)
        return schedule.next_after(last)


def schedule_states(app: App) -> dict[str, dict[str, Any]]:
    """The durable records of the app's schedules, by name."""
    items = app.engine.read(lambda tx: tx.kv_query(STATE, app.name))
    return {item.sk: dict(item.value) for item in items}
