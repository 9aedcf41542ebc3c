"""The clock every time-based rule reads: visibility timeouts, delays, retention, retries, leases.

Before changing: nothing in the engine or the services may call ``time.time()`` directly; they
ask the engine's clock, so that tests can drive time with ``ManualClock`` instead of sleeping.
Real waiting (a long poll's duration, a backoff sleep) uses ``Clock.wait``, which a manual clock
cuts short whenever it is advanced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock time in epoch seconds."""

    def now(self) -> float:
        """The current time, seconds since the epoch."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever time jumps (a manual clock is advanced)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def subscribe(self, callback: Callable[[], None]) -> None:
        # Real time never jumps; nothing to notify.
        return None


class ManualClock:
    """A clock that moves only when told to: ``advance(seconds)`` or ``set(epoch)``.

    Advancing notifies subscribers, so a long poll waiting for a delayed message or an expired
    visibility timeout re-checks at once.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], None]] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds
            now = self._now
        self._notify()
        return now

    def set(self, epoch: float) -> None:
        """Jump to ``epoch`` (never backwards)."""
        with self._lock:
            if epoch < self._now:
                raise ValueError("a clock only moves forward")
            self._now = float(epoch)
        self._notify()

    def subscribe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def _notify(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback()
