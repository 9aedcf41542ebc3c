"""The app the gateway benchmark serves (a module, so worker processes can import it)."""

from __future__ import annotations

from typing import Any

from overcast import App
from overcast.gateway import APIKeyAuth

app = App("gwbench")
app.queue("inbox")
app.authorizer("key", APIKeyAuth())


@app.route("GET", "/hello")
def hello(request: Any) -> dict[str, str]:
    return {"hello": "world"}


@app.route("GET", "/keyed", auth="key")
def keyed(request: Any) -> dict[str, str]:
    return {"hello": "world"}


app.route("POST", "/enqueue", to_queue="inbox")
