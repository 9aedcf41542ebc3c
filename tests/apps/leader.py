"""An app for the leadership test: a runtime role that keeps a named lease while its worker
lives, and writes down every term it believes it holds (owner, from, until) in a log."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from typing import Any

from overcast import App

LEASE = "leader"
TTL = 2.0
RENEW = 0.25

app = App("leader")


class LeaderRole:
    """Takes the lease when it is free, renews it while held, records each term."""

    def __init__(self, owner: App) -> None:
        self.app = owner
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        engine = self.app.engine

        def release(tx: Any) -> None:
            if tx.lease_release(LEASE, self.me):
                tx.log_append("terms", "0", json.dumps({"owner": self.me, "released": tx.now()}))

        engine.atomic(release)

    def _run(self) -> None:
        engine = self.app.engine

        def term(tx: Any) -> bool:
            if not tx.lease_acquire(LEASE, self.me, TTL):
                return False
            # the term is written in the transaction that took it: no term without the lease
            now = tx.now()
            tx.log_append("terms", "0", json.dumps({"owner": self.me, "from": now, "until": now + TTL}))
            return True

        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a failed renewal is retried; the lease decides
                engine.atomic(term)
            self._stop.wait(RENEW)


app.runtime_roles.append(lambda owner: [LeaderRole(owner)])
