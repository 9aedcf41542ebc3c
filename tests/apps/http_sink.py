"""An HTTP endpoint for delivery tests: records what it receives and answers with the status
codes it is told to (a real socket on 127.0.0.1, a thread per request)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    method: str
    headers: dict[str, str]
    body: str
    started: float
    finished: float = 0.0


@dataclass
class Sink:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in turn; then 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200

    def bodies(self, path: str | None = None) -> list[str]:
        return [r.body for r in self.received if path is None or r.path == path]


@contextmanager
def http_sink(statuses: list[int] | None = None, delay: float = 0.0) -> Iterator[Sink]:
    sink: Sink | None = None

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            assert sink is not None
            started = time.monotonic()
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if sink.delay:
                time.sleep(sink.delay)
            status = sink.answer()
            record = Received(self.path, self.command, {k.lower(): v for k, v in self.headers.items()}, body, started,
                              time.monotonic())
            with sink.lock:
                sink.received.append(record)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        do_POST = do_PUT = do_GET = _handle

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink = Sink(f"http://127.0.0.1:{server.server_address[1]}", list(statuses or []), delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
