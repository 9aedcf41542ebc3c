"""The bus router: the runtime role that takes accepted events off a bus's ingress queue,
archives them and fans them out to the targets of every matching rule.

One transaction per batch receives nothing new; it appends the archive records, writes every
direct delivery (or defers it to the deliverer) and deletes the ingress messages, so an event is
archived and routed exactly once or not at all. If the process dies before it commits, the batch
comes back after the ingress visibility timeout and is routed then (at-least-once overall).

Before changing: matching and payload building happen before the transaction (pure work, no
lock held); a batch whose transaction fails is retried one event at a time so that one bad event
cannot hold the others back, and a message that is not an event record at all is logged and
dropped rather than retried forever.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, cast

from overcast.engine.base import StoredMessage, Tx
from overcast.services.bus.archive import Archive, BusArchives, append_in_tx, trim
from overcast.services.bus.bus import ingress_queue
from overcast.services.bus.delivery import BufferedTx, Delivery, deliver_or_defer
from overcast.services.bus.rules import BusRules, rule_deliveries

if TYPE_CHECKING:
    from overcast.app import App

log = logging.getLogger("overcast.bus")

BATCH = 100
VISIBILITY = 30.0  # seconds before a batch a crashed router had received is routed again
POLL_WAIT = 1.0
TRIM_EVERY = 300.0  # seconds between archive retention sweeps


class Router:
    """Base of the bus and topic routers: a thread receiving batches from one ingress queue."""

    name = "router"

    def __init__(self, app: App, queue: str) -> None:
        self.app = app
        self.queue = queue
        self.stopping = threading.Event()
        self.routed = 0
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-{queue}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.run_once(wait=POLL_WAIT)
                self.housekeeping()
            except Exception:  # keep routing whatever happens; report it
                if self.stopping.is_set():
                    return
                log.exception("%s %s failed", self.name, self.queue)
                self.stopping.wait(1.0)

    def housekeeping(self) -> None:
        """Periodic work between batches (archive retention)."""

    def run_once(self, wait: float = 0.0) -> int:
        """Route one batch (waiting up to ``wait`` seconds for one); return how many events."""
        engine = self.app.engine
        watch = engine.watch(self.queue) if wait else None
        messages = engine.atomic(lambda tx: tx.queue_receive(self.queue, BATCH, VISIBILITY))
        if not messages:
            if watch is not None:
                watch.wait(wait)
            return 0
        now = engine.clock.now()
        plans = []
        for message in messages:
            try:
                plans.append((message, self.plan(json.loads(message.body), now)))
            except Exception:  # not an event record, or one no rule can build a payload for
                log.exception("%s %s: dropping message %s, which cannot be routed: %.200s", self.name, self.queue,
                              message.id, message.body)
                plans.append((message, None))
        try:
            engine.atomic(lambda tx: self._apply(tx, plans))
        except Exception as exc:
            log.warning("%s %s: batch failed (%s); routing its events one by one", self.name, self.queue, exc)
            for plan in list(plans):
                try:
                    engine.atomic(lambda tx, plan=plan: self._apply(tx, [plan]))  # type: ignore[misc]
                except Exception:
                    log.exception("%s %s: cannot route message %s; it will be retried", self.name, self.queue, plan[0].id)
                    plans.remove(plan)
        self.routed += len(plans)
        return len(plans)

    def _apply(self, tx: Tx, plans: list[tuple[StoredMessage, Any]]) -> None:
        buffered = BufferedTx(tx)
        for message, plan in plans:
            if plan is not None:
                self.apply(cast(Tx, buffered), plan)
            tx.queue_delete_message(self.queue, message.receipt)
        buffered.flush()

    def plan(self, record: dict[str, Any], now: float) -> Any:
        raise NotImplementedError

    def apply(self, tx: Tx, plan: Any) -> None:
        raise NotImplementedError


class BusRouter(Router):
    """Routes one bus: archives, then the targets of the matching rules."""

    name = "bus-router"

    def __init__(self, app: App, bus: str, rules: BusRules, archives: BusArchives) -> None:
        super().__init__(app, ingress_queue(bus))
        self.bus = bus
        self.rules = rules
        self.archives = archives
        self._trimmed = 0.0

    def plan(self, record: dict[str, Any], now: float) -> tuple[list[str], list[Delivery], dict[str, Any]]:
        event = record["event"]
        replay = record.get("replay")
        archives = [] if replay else self.archives.match(event)
        only = replay.get("rules") if replay else None
        deliveries: list[Delivery] = []
        for rule in self.rules.match(event, only):
            deliveries += rule_deliveries(rule, record, region=self.app.region, account=self.app.account, now=now)
        return archives, deliveries, record

    def apply(self, tx: Tx, plan: tuple[list[str], list[Delivery], dict[str, Any]]) -> None:
        archives, deliveries, record = plan
        for archive in archives:
            append_in_tx(tx, archive, record)
        for delivery in deliveries:
            deliver_or_defer(tx, delivery)

    def housekeeping(self) -> None:
        if time.monotonic() - self._trimmed < TRIM_EVERY:
            return
        self._trimmed = time.monotonic()
        archive: Archive
        for archive in list(self.archives.archives.values()):
            removed = trim(self.app.engine, archive)
            if removed:
                log.info("archive %s: %d event(s) past retention removed", archive.name, removed)
