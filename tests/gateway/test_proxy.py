"""Proxy routes (strangler) and the aggregator."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import httpx

from tests.apps import web


def test_proxy_forwards_method_path_query_headers_body(client: httpx.Client) -> None:
    r = client.put("/legacy/things/9?x=1", content=b"hello", headers={"x-tenant": "acme", "x-request-id": "p-1"})
    assert r.status_code == 200
    assert r.json() == {"served_by": "legacy", "method": "PUT", "path": "/things/9", "query": "x=1",
                        "tenant": "acme", "request_id": "p-1", "body": "hello"}


def test_function_route_wins_over_the_proxy(client: httpx.Client) -> None:
    assert client.get("/legacy/orders/5").json() == {"served_by": "overcast", "order": "5"}
    # other methods and paths on the same prefix still reach the legacy system
    assert client.post("/legacy/orders/5").json()["served_by"] == "legacy"
    assert client.get("/legacy/customers/5").json()["served_by"] == "legacy"


def test_proxy_streams_large_bodies(client: httpx.Client) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = 0
    with client.stream("GET", "/legacy/download?mb=64") as r:
        for chunk in r.iter_raw():
            size += len(chunk)
    assert size == 64 * 1024 * 1024

    def upload() -> Iterator[bytes]:
        for _ in range(1024):
            yield b"y" * 65536

    up = client.post("/legacy/upload", content=upload())
    assert up.json() == {"received": 64 * 1024 * 1024}
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 48, f"the proxy held {grown_mb:.0f} MB"


def test_upstream_errors(client: httpx.Client, gateway: str) -> None:
    proxy = next(r for r in web.app.routes if r.upstream is not None)
    slow = client.get("/legacy/slow", timeout=30)
    assert slow.status_code == 200 or slow.status_code == 504  # default route timeout is 29 s
    saved = proxy.upstream, proxy.timeout
    try:
        proxy.timeout = 0.5
        assert client.get("/legacy/slow").status_code == 504
        proxy.upstream = "http://127.0.0.1:9"  # nothing listens there
        refused = client.get("/legacy/anything")
        assert refused.status_code == 502 and "unreachable" in refused.json()["message"]
    finally:
        proxy.upstream, proxy.timeout = saved


def test_aggregator_reports_each_part(client: httpx.Client) -> None:
    r = client.get("/dashboard")
    assert r.status_code == 200
    body = r.json()
    assert body["results"] == {"a": {"a": "fine"}, "legacy": {"legacy": "up"}}
    assert body["errors"]["slow"]["timedOut"] is True
    assert body["errors"]["boom"] == {"error": "RuntimeError", "message": "part failed", "timedOut": False}
    assert body["elapsed"] < 2.5
