"""An app with every kind of gateway route, for the gateway tests."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from overcast import App
from overcast.gateway import (
    APIKeyAuth,
    Function,
    FunctionAuth,
    JWTAuth,
    Request,
    Response,
    Upstream,
)

SECRET = "test-secret-that-is-long-enough-for-hs256"

app = App("web")
payments = app.queue("payments")
calls = app.queue("authorizer-calls")

app.authorizer("jwt", JWTAuth(secret=SECRET, algorithms=["HS256"], issuer="https://id.example", audience="shop"))
app.authorizer("key", APIKeyAuth())
app.authorizer("gold", APIKeyAuth(plans=["gold"]))
app.authorizer("custom", FunctionAuth("check_token", ttl=60))
app.cors(allow_origins=["https://shop.example"])


@app.route("GET", "/orders/{order_id}")
def get_order(request: Request) -> dict[str, Any]:
    return {"order": request.path_params["order_id"], "query": request.query,
            "request_id": request.request_id, "agent": request.headers.get("user-agent")}


@app.route("POST", "/echo")
def echo(request: Request) -> dict[str, Any]:
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return {"json": request.json()}
    if kind.startswith("application/x-www-form-urlencoded"):
        return {"form": request.form()}
    return {"bytes": len(request.body), "first": request.body[:4].hex()}


@app.route("GET", "/text")
def text(request: Request) -> str:
    return "plain words"


@app.route("GET", "/bytes")
def raw(request: Request) -> bytes:
    return b"\x00\x01\x02"


@app.route("POST", "/created")
def created(request: Request) -> Response:
    return Response(201, {"id": 7}, headers={"location": "/things/7"})


@app.route("GET", "/apigw", payload="v2")
def apigw(event: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"x-shape": "v2"},
            "body": '{{"routeKey": "{}", "rawPath": "{}"}}'.format(event["routeKey"], event["rawPath"])}


@app.route("ANY", "/anything")
def anything(request: Request) -> dict[str, str]:
    return {"method": request.method}


@app.route("GET", "/hello", version="v1")
def hello_v1(request: Request) -> dict[str, int]:
    return {"version": 1}


@app.route("GET", "/hello", version="v2")
def hello_v2(request: Request) -> dict[str, int]:
    return {"version": 2}


@app.route("GET", "/files/{path+}")
def files(request: Request) -> dict[str, str]:
    return {"path": request.path_params["path"]}


@app.route("GET", "/slow", timeout=1)
def slow(request: Request) -> str:
    time.sleep(5)
    return "late"


@app.route("GET", "/boom")
def boom(request: Request) -> None:
    raise ValueError("kaput")


@app.route("GET", "/private", auth="jwt", scopes=["orders:read"])
def private(request: Request) -> dict[str, Any]:
    return {"sub": request.auth["jwt"]["claims"]["sub"]}


@app.route("POST", "/validated", body_schema={
    "type": "object", "required": ["amount"],
    "properties": {"amount": {"type": "number", "minimum": 1}, "items": {"type": "array", "items": {"type": "string"}}},
}, query_schema={"type": "object", "properties": {"dry": {"enum": ["yes", "no"]}}}, max_body=1024)
def validated(request: Request) -> dict[str, Any]:
    return {"ok": request.json()["amount"]}


@app.function
def check_token(event: dict[str, Any]) -> dict[str, Any]:
    calls.send({"token": event["identitySource"][0]})
    return {"isAuthorized": event["identitySource"][0] == "let-me-in", "context": {"user": "alice"}}


@app.route("GET", "/custom", auth="custom")
def custom(request: Request) -> dict[str, Any]:
    return {"auth": request.auth}


app.route("GET", "/keyed", mock={"status": 200, "body": {"keyed": True}}, auth="key")
app.route("GET", "/gold", mock={"status": 200, "body": {"gold": True}}, auth="gold")
app.route("GET", "/health", mock={"status": 200, "body": {"ok": True}, "headers": {"x-mock": "1"}})
app.route("POST", "/payments", to_queue="payments", forward_headers=["x-tenant"])
app.route("POST", "/events", to_bus="default")
app.workflow("order-flow", {"StartAt": "Price", "States": {"Price": {
    "Type": "Pass", "Parameters": {"total.$": "States.MathAdd($.amount, 5)"}, "End": True}}})
app.workflow("quote", {"StartAt": "Q", "States": {"Q": {
    "Type": "Pass", "Parameters": {"quote.$": "$.item"}, "End": True}}}, type="EXPRESS")
app.route("POST", "/orders", to_workflow="order-flow")
app.route("POST", "/quote", to_workflow="quote", sync=True)

# strangler: the legacy system answers everything under /legacy except what we took over
app.proxy("/legacy/{path+}", upstream="http://127.0.0.1:9")


@app.route("GET", "/legacy/orders/{order_id}")
def new_orders(request: Request) -> dict[str, str]:
    return {"served_by": "overcast", "order": request.path_params["order_id"]}


@app.function
def part_a(event: Any) -> dict[str, str]:
    return {"a": "fine"}


@app.function(timeout=10)
def part_slow(event: Any) -> str:
    time.sleep(3)
    return "too late"


@app.function
def part_boom(event: Any) -> None:
    raise RuntimeError("part failed")


app.aggregate("GET", "/dashboard", deadline=1.0, parts={
    "a": Function("part_a"), "slow": Function("part_slow"), "boom": Function("part_boom"),
    "legacy": Upstream("http://127.0.0.1:9/status"),
})


# where handlers run: async def inline on the gateway's loop, def in a worker process, unless told
cancelled: list[str] = []


@app.route("GET", "/where/async")
async def where_async(request: Request) -> dict[str, Any]:
    return {"pid": os.getpid(), "thread": threading.current_thread().name}


@app.route("GET", "/where/sync")
def where_sync(request: Request) -> dict[str, Any]:
    return {"pid": os.getpid()}


@app.route("GET", "/where/async-isolated", isolation="process")
async def where_async_isolated(request: Request) -> dict[str, Any]:
    return {"pid": os.getpid()}


@app.route("GET", "/where/sync-inline", isolation="inline")
def where_sync_inline(request: Request, context: Any) -> dict[str, Any]:
    return {"pid": os.getpid(), "thread": threading.current_thread().name, "function": context.function_name}


@app.route("GET", "/inline/slow", timeout=0.5)
async def inline_slow(request: Request) -> str:
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        cancelled.append(request.request_id)
        raise
    return "late"


@app.route("GET", "/inline/boom")
async def inline_boom(request: Request) -> None:
    raise KeyError("inline kaput")


@app.route("GET", "/inline/keyed", auth="key")
async def inline_keyed(request: Request) -> dict[str, Any]:
    return {"auth": request.auth}


@app.route("GET", "/inline/waits")
async def inline_waits(request: Request) -> dict[str, Any]:
    await asyncio.sleep(0)  # a bare yield to the loop
    await asyncio.sleep(0.01)  # a timer
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(done.set_result, 7)
    return {"waited": await done}
