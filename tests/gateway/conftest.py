"""Gateway tests run over real sockets: the app served by uvicorn on a free loopback port, a
legacy upstream served the same way, and httpx as the client."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from overcast.gateway import Upstream
from overcast.gateway.server import GatewayServer
from tests.apps import web

CHUNK = b"x" * 65536


async def legacy_echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"served_by": "legacy", "method": request.method, "path": request.url.path,
                         "query": request.url.query, "tenant": request.headers.get("x-tenant"),
                         "request_id": request.headers.get("x-request-id"), "body": body.decode()})


async def legacy_upload(request: Request) -> JSONResponse:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return JSONResponse({"received": total})


async def legacy_download(request: Request) -> StreamingResponse:
    size = int(request.query_params["mb"]) * 1024 * 1024

    async def chunks() -> Any:
        sent = 0
        while sent < size:
            yield CHUNK
            sent += len(CHUNK)

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def legacy_slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(5)
    return PlainTextResponse("late")


async def legacy_status(request: Request) -> JSONResponse:
    return JSONResponse({"legacy": "up"})


legacy_app = Starlette(routes=[
    Route("/upload", legacy_upload, methods=["POST"]),
    Route("/download", legacy_download),
    Route("/slow", legacy_slow),
    Route("/status", legacy_status),
    Route("/{path:path}", legacy_echo, methods=["GET", "POST", "PUT", "DELETE"]),
])


class ThreadServer:
    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def legacy() -> Iterator[str]:
    with ThreadServer(legacy_app) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, legacy: str) -> Iterator[str]:
    db = tmp_path_factory.mktemp("gateway") / "gateway.db"
    previous = os.environ.get("OVERCAST_ENGINE")
    os.environ["OVERCAST_ENGINE"] = f"sqlite:///{db}"
    app = web.app
    saved = [(r, r.upstream, r.parts) for r in app.routes]
    for route in app.routes:
        if route.upstream is not None:
            route.upstream = legacy
        if route.parts is not None:
            route.parts = {k: replace(v, url=legacy + "/status") if isinstance(v, Upstream) else v
                           for k, v in route.parts.items()}
    server = GatewayServer(app, port=0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.bound_port}"
    finally:
        server.stop()
        server.join(10)
        for route, upstream, parts in saved:
            route.upstream, route.parts = upstream, parts
        app.close()
        if previous is None:
            os.environ.pop("OVERCAST_ENGINE", None)
        else:
            os.environ["OVERCAST_ENGINE"] = previous


@pytest.fixture
def client(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=30) as c:
        yield c


