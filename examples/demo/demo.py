"""Run the demo: a producer, a consumer with partial failures, and the dead-letter path.

    python examples/demo/demo.py

Uses an SQLite engine in a temporary folder (set OVERCAST_ENGINE to keep it elsewhere).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
workdir = tempfile.mkdtemp(prefix="overcast-demo-")
os.environ.setdefault("OVERCAST_ENGINE", f"sqlite:///{workdir}/demo.db")

from shop import app, orders, shipped  # noqa: E402

from overcast import FunctionError, Runtime  # noqa: E402


def main() -> None:
    print(f"engine: {app.engine_url}")
    amounts = [12, 30, -1, 8, 0, 25, 14, -5, 9, 40]
    for i, amount in enumerate(amounts, 1):
        orders.send({"id": i, "amount": amount}, attributes={"kind": "new"})
    print(f"producer: sent {len(amounts)} orders, 3 of them poison (amount <= 0)")

    print("invoke charge(id=1):", app.invoke("charge", {"id": 1, "amount": 12}))
    try:
        app.invoke("charge", {"id": 3, "amount": -1})
    except FunctionError as exc:
        print(f"invoke charge(id=3): {exc.error_type}: {exc.error_message}")

    runtime = Runtime(app)
    runtime.start()
    dlq = app.get_queue("orders-dlq")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if dlq.stats()["visible"] == 3 and shipped.stats()["visible"] == 7:
            break
        time.sleep(0.1)
    runtime.stop()

    print(f"consumer: shipped {shipped.stats()['visible']} orders; orders queue now {orders.stats()}")
    dead = dlq.receive(10, visibility_timeout=0)
    print(f"dead-letter queue: {len(dead)} poison orders, ids {sorted(m.body['id'] for m in dead)}, "
          f"each moved there after {orders.spec.max_receive_count} failed receives")
    ok = dlq.stats()["visible"] == 3 and shipped.stats()["visible"] == 7
    print("demo", "OK" if ok else "FAILED")
    app.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
