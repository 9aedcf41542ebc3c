"""The scheduler with three `overcast worker` processes on one PostgreSQL: each tick fires once."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

from overcast.engine import open_engine
from tests.acceptance.test_workers import Workers, pg_url, wait_for  # noqa: F401


def test_each_tick_fires_once_with_three_workers(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    base = int(time.time()) + 6  # leave the workers time to start
    os.environ["TICKS_BASE"] = str(base)
    try:
        workers = Workers("ticks.py", pg_url, tmp_path / "ticks.log")
        workers.start(3)
        engine = open_engine(pg_url)
        try:
            wait_for(lambda: engine.read(lambda tx: tx.queue_get("ticks")) is not None
                     and engine.read(lambda tx: tx.queue_stats("ticks")).visible >= 5,
                     60, "five ticks", tmp_path / "ticks.log")
            time.sleep(2)  # a duplicate firing would have arrived by now
            taken = engine.atomic(lambda tx: tx.queue_receive("ticks", 100, 0))
            counts = Counter(json.loads(m.body)["tick"] for m in taken)
        finally:
            engine.close()
        assert workers.stop() == [0, 0, 0]
    finally:
        os.environ.pop("TICKS_BASE", None)
    assert counts == Counter({0: 1, 1: 1, 2: 1, 3: 1, 4: 1})
