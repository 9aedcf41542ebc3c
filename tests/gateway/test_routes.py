"""Routing, bodies, responses, integrations and errors, over real sockets."""

from __future__ import annotations

import logging
import os
import time

import httpx
import pytest

from tests.apps import web


def test_path_params_query_headers_and_request_id(client: httpx.Client) -> None:
    r = client.get("/orders/42?x=1&x=2&y=z", headers={"user-agent": "tester", "x-request-id": "req-1"})
    assert r.status_code == 200
    assert r.json() == {"order": "42", "query": {"x": "2", "y": "z"}, "request_id": "req-1", "agent": "tester"}
    assert r.headers["x-request-id"] == "req-1"
    generated = client.get("/orders/1")
    assert len(generated.headers["x-request-id"]) == 36
    assert generated.json()["request_id"] == generated.headers["x-request-id"]


def test_bodies_json_form_binary(client: httpx.Client) -> None:
    assert client.post("/echo", json={"a": [1, 2]}).json() == {"json": {"a": [1, 2]}}
    assert client.post("/echo", data={"k": "v", "n": "1"}).json() == {"form": {"k": "v", "n": "1"}}
    binary = client.post("/echo", content=b"\x89PNG" + bytes(100), headers={"content-type": "image/png"})
    assert binary.json() == {"bytes": 104, "first": "89504e47"}


def test_response_kinds(client: httpx.Client) -> None:
    text = client.get("/text")
    assert text.text == "plain words" and text.headers["content-type"].startswith("text/plain")
    raw = client.get("/bytes")
    assert raw.content == b"\x00\x01\x02" and raw.headers["content-type"] == "application/octet-stream"
    made = client.post("/created")
    assert made.status_code == 201 and made.json() == {"id": 7} and made.headers["location"] == "/things/7"
    shaped = client.get("/apigw")
    assert shaped.headers["x-shape"] == "v2"
    assert shaped.json() == {"routeKey": "GET /apigw", "rawPath": "/apigw"}
    mock = client.get("/health")
    assert mock.json() == {"ok": True} and mock.headers["x-mock"] == "1"


def test_any_method_versions_greedy_404_405(client: httpx.Client) -> None:
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH"]:
        assert client.request(method, "/anything").json() == {"method": method}
    assert client.get("/v1/hello").json() == {"version": 1}
    assert client.get("/v2/hello").json() == {"version": 2}
    assert client.get("/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json() == {"message": "not found"}
    wrong = client.delete("/orders/1")
    assert wrong.status_code == 405 and wrong.json()["allowed"] == ["GET"]


def test_function_errors_and_route_timeout(client: httpx.Client) -> None:
    failed = client.get("/boom")
    assert failed.status_code == 502 and failed.json()["errorType"] == "ValueError"
    slow = client.get("/slow")
    assert slow.status_code == 504


def test_validation_and_size_limits(client: httpx.Client) -> None:
    assert client.post("/validated", json={"amount": 5}).json() == {"ok": 5}
    bad = client.post("/validated", json={"amount": 0})
    assert bad.status_code == 400 and bad.json()["path"] == "body.amount"
    nested = client.post("/validated", json={"amount": 2, "items": ["a", 3]})
    assert nested.status_code == 400 and nested.json()["path"] == "body.items.1"
    missing = client.post("/validated", json={})
    assert missing.status_code == 400 and "amount" in missing.json()["message"]
    query = client.post("/validated?dry=maybe", json={"amount": 2})
    assert query.status_code == 400 and query.json()["path"] == "query.dry"
    not_json = client.post("/validated", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    big = client.post("/validated", content=b"x" * 2000, headers={"content-type": "application/json"})
    assert big.status_code == 413


def test_storage_first_queue_route(client: httpx.Client) -> None:
    r = client.post("/payments", json={"amount": 12}, headers={"x-tenant": "acme", "x-request-id": "pay-1"})
    assert r.status_code == 202
    message_id = r.json()["messageId"]
    [message] = web.payments.receive(1)
    assert message.id == message_id and message.body == {"amount": 12}
    assert message.attributes == {"x-tenant": "acme", "request_id": "pay-1"}
    web.payments.delete(message)


def test_cors_preflight(client: httpx.Client) -> None:
    r = client.options("/orders/1", headers={"origin": "https://shop.example",
                                             "access-control-request-method": "GET"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    plain = client.get("/health", headers={"origin": "https://shop.example"})
    assert plain.headers["access-control-allow-origin"] == "https://shop.example"


def test_access_log_line(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    def logged() -> bool:
        lines = [r.getMessage() for r in caplog.records if r.name == "overcast.gateway.access"]
        return any(line.startswith("GET /health 200 ") and line.endswith("log-me") for line in lines)

    with caplog.at_level(logging.INFO, logger="overcast.gateway.access"):
        client.get("/health", headers={"x-request-id": "log-me"})
        # the server thread writes the line once the response is sent: it may trail the client
        deadline = time.monotonic() + 5
        while not logged() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert logged()


def test_bus_route_puts_events(client: httpx.Client) -> None:
    entry = {"Source": "shop.web", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'}
    r = client.post("/events", json=entry)
    assert r.status_code == 200
    body = r.json()
    assert body["FailedEntryCount"] == 0 and len(body["Entries"][0]["EventId"]) == 36
    batch = client.post("/events", json={"Entries": [entry, {"Source": "x"}]}).json()
    assert batch["FailedEntryCount"] == 1 and "ErrorCode" in batch["Entries"][1]
    assert client.post("/events", json={"Source": "only"}).status_code == 400
    accepted = web.app.get_queue("overcast:bus:default").stats()
    assert accepted["visible"] + accepted["in_flight"] == 2  # durable until the runtime routes them


def test_workflow_routes(client: httpx.Client) -> None:
    import json

    started = client.post("/orders", json={"amount": 10})
    assert started.status_code == 202
    location = started.headers["location"]
    assert location.startswith("/executions/order-flow/") and started.json()["location"] == location
    running = client.get(location).json()
    assert running["status"] == "RUNNING"
    web.app.process_workflows()  # what the runtime's executor does
    done = client.get(location).json()
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"total": 15}
    assert client.get("/executions/order-flow/no-such-execution").status_code == 404
    assert client.get("/executions/other/x").status_code == 404
    quote = client.post("/quote", json={"item": "lamp"})
    assert quote.status_code == 200 and json.loads(quote.json()["output"]) == {"quote": "lamp"}


def test_async_handlers_run_inline_and_def_handlers_in_a_worker(client: httpx.Client) -> None:
    inline = client.get("/where/async").json()
    assert inline["pid"] == os.getpid() and inline["thread"] == "gateway"  # on the server's loop
    assert client.get("/where/sync").json()["pid"] != os.getpid()
    assert client.get("/where/async-isolated").json()["pid"] != os.getpid()
    threaded = client.get("/where/sync-inline").json()
    assert threaded["pid"] == os.getpid() and threaded["thread"] != "gateway"
    assert threaded["function"] == "where_sync_inline"


def test_inline_timeout_cancels_the_handler_and_errors_are_502(client: httpx.Client) -> None:
    started = time.monotonic()
    r = client.get("/inline/slow", headers={"x-request-id": "slow-1"})
    assert r.status_code == 504 and time.monotonic() - started < 3
    deadline = time.monotonic() + 5
    while "slow-1" not in web.cancelled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "slow-1" in web.cancelled
    boom = client.get("/inline/boom")
    assert boom.status_code == 502 and boom.json()["errorType"] == "KeyError"
    # the gateway goes on serving, and a handler that waits several times gets its answers
    assert client.get("/where/async").status_code == 200
    assert client.get("/inline/waits").json() == {"waited": 7}


def test_isolation_must_be_process_or_inline() -> None:
    from overcast import App
    from overcast.errors import ConfigError

    with pytest.raises(ConfigError, match="isolation must be 'process' or 'inline'"):
        def handler(request: object) -> None: ...

        App("bad").route("GET", "/x", isolation="thread")(handler)
    with pytest.raises(ConfigError, match="isolation applies to function routes only"):
        App("bad").route("POST", "/x", to_queue="q", isolation="inline")
    from overcast.gateway import APIKeyAuth

    with pytest.raises(ConfigError, match="lease_seconds must be between 0 and 60"):
        APIKeyAuth(lease_seconds=-1)
