"""What a socket test cannot send: HTTP/2-style requests without a length, raw UTF-8 query
strings; and what handlers get wrong in their answers. Driven through the ASGI interface."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast import App
from overcast.errors import FunctionTimeout
from overcast.gateway import Response
from overcast.gateway.asgi import Gateway


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    app = App("edges", engine=f"sqlite:///{tmp_path / 'edges.db'}")
    app.queue("inbox").stats()
    app.route("POST", "/q", to_queue="inbox")

    @app.route("GET", "/own-timeout")
    async def own_timeout(request: Any) -> None:
        await asyncio.wait_for(asyncio.sleep(1), 0.01)  # its dependency is slow, not the route

    @app.route("GET", "/own-request-id")
    async def own_request_id(request: Any) -> Response:
        return Response(200, "x", headers={"X-Request-Id": "mine", "X-Other": "kept"})

    @app.route("GET", "/bad-header")
    async def bad_header(request: Any) -> Response:
        return Response(200, "x", headers={"x-name": "\u540d"})

    @app.route("GET", "/query")
    async def query(request: Any) -> dict[str, Any]:
        return {"q": request.query}

    yield app
    app.close()


def call(app: App, method: str, path: str, *, body: bytes = b"", query: bytes = b"",
         headers: list[tuple[bytes, bytes]] | None = None, http_version: str = "1.1") -> tuple[int, dict[str, list[str]], bytes]:
    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers or [],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000), "scheme": "http", "root_path": "",
             "http_version": http_version}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app.asgi()(scope, receive, send))
    found: dict[str, list[str]] = {}
    for k, v in sent[0]["headers"]:
        found.setdefault(k.decode(), []).append(v.decode())
    return sent[0]["status"], found, b"".join(m.get("body", b"") for m in sent[1:])


def test_a_body_without_a_length_is_read_on_http2(app: App) -> None:
    status, _, _ = call(app, "POST", "/q", body=b'{"order": 1}', http_version="2",
                        headers=[(b"content-type", b"application/json")])
    assert status == 202
    [message] = app.get_queue("inbox").receive(1)
    assert message.body == {"order": 1}


def test_a_handlers_own_timeout_is_its_failure_not_the_routes(app: App) -> None:
    status, _, body = call(app, "GET", "/own-timeout")
    assert status == 502 and b'"errorType":"TimeoutError"' in body


def test_the_request_id_header_is_the_gateways_whatever_the_case(app: App) -> None:
    status, headers, _ = call(app, "GET", "/own-request-id", headers=[(b"x-request-id", b"req-7")])
    assert status == 200 and headers["x-request-id"] == ["req-7"] and headers["x-other"] == ["kept"]


def test_a_header_that_is_not_latin1_is_a_502_with_the_request_id(app: App) -> None:
    status, headers, body = call(app, "GET", "/bad-header", headers=[(b"x-request-id", b"req-8")])
    assert status == 502 and b"x-name" in body and headers["x-request-id"] == ["req-8"]


def test_a_raw_utf8_query_string_is_decoded_as_utf8(app: App) -> None:
    _, _, body = call(app, "GET", "/query", query="name=José".encode())
    assert json.loads(body) == {"q": {"name": "José"}}


def test_an_inline_def_keeps_its_concurrency_slot_until_its_thread_ends(app: App) -> None:
    running, peak, lock = [0], [0], threading.Lock()

    @app.function(timeout=0.1, concurrency=1)
    def single(event: Any) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1

    gateway = Gateway(app)

    async def five() -> list[Any]:
        return list(await asyncio.gather(*[gateway._inline(app.functions["single"], {}, 0.1) for _ in range(5)],
                                         return_exceptions=True))

    results = asyncio.run(five())
    assert all(isinstance(r, FunctionTimeout) for r in results)
    time.sleep(0.4)
    assert peak[0] == 1
