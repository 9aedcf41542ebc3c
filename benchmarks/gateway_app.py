"""The app the gateway benchmark serves (a module, so worker processes can import it).

``/hello`` and ``/keyed`` are ``async def`` handlers, like the bare Starlette endpoint they are
compared with: by default they run on the gateway's event loop. ``/hello-sync`` is a ``def``
handler: by default it runs in a worker process."""

from __future__ import annotations

from typing import Any

from overcast import App
from overcast.gateway import APIKeyAuth

app = App("gwbench")
app.queue("inbox")
app.authorizer("key", APIKeyAuth())


@app.route("GET", "/hello")
async def hello(request: Any) -> dict[str, str]:
    return {"hello": "world"}


@app.route("GET", "/keyed", auth="key")
async def keyed(request: Any) -> dict[str, str]:
    return {"hello": "world"}


@app.route("GET", "/hello-sync")
def hello_sync(request: Any) -> dict[str, str]:
    return {"hello": "world"}


app.route("POST", "/enqueue", to_queue="inbox")
