"""Several ``overcast worker`` processes on one PostgreSQL: they share the work, lose nothing when
one is killed or the server restarts, and exactly one holds a lease at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast import App
from overcast.engine import open_engine
from overcast.engine.base import Engine, NewMessage
from overcast.errors import OvercastError
from overcast.testing.postgres import PostgresServer

APPS = Path(__file__).resolve().parents[1] / "apps"
BATCH, POLLERS = 10, 2  # tests/apps/workers.py: batch_size and concurrency of its on_queue

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    return postgres_server.fresh_schema_url("w")


class Workers:
    """``overcast worker`` processes started for one test, stopped (or killed) at its end."""

    def __init__(self, app: str, url: str, log: Path) -> None:
        self.app, self.url, self.log = APPS / app, url, log
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> list[subprocess.Popen[bytes]]:
        with self.log.open("ab") as out:  # each child keeps its own copy of the descriptor
            started = [
                subprocess.Popen([sys.executable, "-m", "overcast", "worker", str(self.app), "--engine", self.url],
                                 stdout=out, stderr=subprocess.STDOUT)
                for _ in range(count)
            ]
        self.procs += started
        return started

    def stop(self, procs: list[subprocess.Popen[bytes]] | None = None) -> list[int]:
        """Stop gracefully (SIGINT); return the exit codes."""
        procs = self.procs if procs is None else procs
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        return [p.wait(60) for p in procs]

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[str, str], Workers]]:
    made: list[Workers] = []

    def make(app: str, url: str) -> Workers:
        made.append(Workers(app, url, tmp_path / f"{app}.log"))
        return made[-1]

    yield make
    for w in made:
        w.kill_all()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text(errors='replace')[-4000:]}")


def seed(engine: Engine, ids: range) -> None:
    """Enqueue ``{"i": n}`` messages in one transaction, encoded as the queues service does."""
    messages = [NewMessage(id=str(uuid.uuid4()), body=json.dumps({"i": i}), attributes={"$json": True})
                for i in ids]
    engine.atomic(lambda tx: tx.queue_send("work", messages))


def handled(engine: Engine) -> list[dict[str, Any]]:
    rows = engine.atomic(lambda tx: tx.queue_receive("done", 1_000_000, 0))
    return [json.loads(r.body) for r in rows]


def drained(app: App) -> bool:
    return app.get_queue("work").stats() == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_three_workers_share_5000_messages_and_lose_nothing_to_a_kill_9(
    pg_url: str, workers: Callable[[str, str], Workers]
) -> None:
    total = 5000
    app = App("workers", engine=pg_url)
    app.queue("work", visibility_timeout=6)
    app.queue("done")
    seed(app.engine, range(total))
    crew = workers("workers.py", pg_url)
    procs = crew.start(3)
    done = app.get_queue("done")
    wait_for(lambda: done.stats()["visible"] >= total // 2, 90, "half of the messages", crew.log)
    victim = procs[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    assert done.stats()["visible"] < total, "the kill came too late to test anything"
    wait_for(lambda: drained(app) and done.stats()["visible"] >= total, 120, "the rest", crew.log)
    assert crew.stop(procs[1:]) == [0, 0], crew.log.read_text(errors="replace")[-4000:]

    records = handled(app.engine)
    app.close()
    counts = Counter(r["i"] for r in records)
    assert set(counts) == set(range(total))  # every message handled at least once: none lost
    by_worker = Counter(r["worker"] for r in records)
    assert set(by_worker) <= {p.pid for p in procs}
    assert all(by_worker[p.pid] > 0 for p in procs[1:]), by_worker  # the survivors shared it
    assert by_worker[victim.pid] > 0, by_worker
    # a duplicate is a message the killed worker held when it died, handled again after its
    # visibility timeout: one copy by the victim, the next ones received again
    copies: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        copies[r["i"]].append(r)
    duplicated = {i: rs for i, rs in copies.items() if len(rs) > 1}
    for i, rs in duplicated.items():
        assert any(r["worker"] == victim.pid and r["count"] == 1 for r in rs), (i, rs)
        assert all(r["count"] > 1 for r in rs if r["worker"] != victim.pid), (i, rs)
    assert len(duplicated) <= BATCH * POLLERS  # at most the victim's in-flight batches


def test_workers_carry_on_through_a_postgres_restart(
    pg_url: str, postgres_server: PostgresServer, workers: Callable[[str, str], Workers]
) -> None:
    seeded = 3000
    app = App("workers", engine=pg_url)
    app.queue("work", visibility_timeout=6)
    app.queue("done")
    seed(app.engine, range(seeded))
    crew = workers("workers.py", pg_url)
    crew.start(3)
    done = app.get_queue("done")
    work = app.get_queue("work")
    accepted: list[int] = []
    stop_sending = threading.Event()

    def produce() -> None:  # a client that keeps sending through the restart
        n = 100_000
        while not stop_sending.is_set():
            batch = list(range(n, n + 10))
            try:
                work.send_batch([{"i": i} for i in batch])
                accepted.extend(batch)
            except OvercastError:
                pass  # refused while the server was down: not accepted, nothing to find later
            n += 10
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: done.stats()["visible"] >= 500, 90, "work to start", crew.log)
        postgres_server.restart()
        before = len(accepted)
        wait_for(lambda: len(accepted) > before + 200, 60, "sends to succeed again", crew.log)
    finally:
        stop_sending.set()
        producer.join(30)
    expected = set(range(seeded)) | set(accepted)
    wait_for(lambda: drained(app) and done.stats()["visible"] >= len(expected), 120, "the rest", crew.log)
    assert crew.stop() == [0, 0, 0], crew.log.read_text(errors="replace")[-4000:]
    got = {r["i"] for r in handled(app.engine)}
    app.close()
    assert expected <= got  # every accepted message handled, before or after the restart
    assert got <= set(range(seeded)) | set(range(100_000, 100_000 + 10 * (len(accepted) + 10_000)))


def test_one_worker_leads_at_a_time_and_leadership_passes_on_a_kill_9(
    pg_url: str, workers: Callable[[str, str], Workers]
) -> None:
    from tests.apps.leader import LEASE, TTL

    engine = open_engine(pg_url)
    crew = workers("leader.py", pg_url)
    procs = crew.start(3)
    pids = {p.pid for p in procs}

    def holder() -> int | None:
        lease = engine.read(lambda tx: tx.lease_get(LEASE))
        return None if lease is None else int(lease.owner.rsplit(":", 1)[1])

    wait_for(lambda: holder() is not None, 60, "a leader", crew.log)
    time.sleep(1.5)  # let all three start and compete
    first = holder()
    assert first in pids
    victim = next(p for p in procs if p.pid == first)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    killed_at = time.time()
    wait_for(lambda: holder() not in (None, first), TTL + 10, "a new leader", crew.log)
    second = holder()
    assert second in pids - {first}
    assert time.time() - killed_at < TTL + 5
    time.sleep(1.0)
    assert crew.stop([p for p in procs if p is not victim]) == [0, 0], crew.log.read_text()[-4000:]

    terms = [json.loads(r.data) for r in engine.read(lambda tx: tx.log_read("terms", "0", limit=100_000))]
    engine.close()
    owners = [t["owner"] for t in terms if "from" in t]
    assert {int(o.rsplit(":", 1)[1]) for o in owners} >= {first, second}
    # no two owners' terms overlap: a term lasts until its end or its owner's release
    released = defaultdict(list)
    for t in terms:
        if "released" in t:
            released[t["owner"]].append(t["released"])
    spans = []
    for t in terms:
        if "from" in t:
            end = min([t["until"], *[r for r in released[t["owner"]] if r >= t["from"]]])
            spans.append((t["from"], end, t["owner"]))
    spans.sort()
    for i, (start, _end, owner) in enumerate(spans):
        for other_start, other_end, other in spans[:i]:
            if other != owner:
                assert start >= other_end or start < other_start, (owner, start, other, other_end)
