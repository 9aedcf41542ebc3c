"""The aggregator: several backend calls (app functions, upstream URLs) made concurrently under
one deadline, returned as one response that says which parts failed or timed out.

Before changing: a part that fails never fails the whole; the response always has every part
name, either in ``results`` or in ``errors``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from overcast.errors import FunctionError, FunctionTimeout

if TYPE_CHECKING:
    from overcast.app import App


@dataclass(frozen=True)
class Function:
    """Call app function ``name`` with ``event`` (the request's JSON body if None)."""

    name: str
    event: Any = None


@dataclass(frozen=True)
class Upstream:
    """GET (or ``method``) an upstream URL; a JSON answer is decoded."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)


async def aggregate(app: App, parts: dict[str, Function | Upstream], *, deadline: float,
                    event: Any = None, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """Run every part concurrently; return ``{"results": {...}, "errors": {...}, "elapsed": s}``."""
    started = time.monotonic()
    own_client = client is None
    http = client or httpx.AsyncClient()

    async def call(part: Function | Upstream) -> Any:
        if isinstance(part, Function):
            fn = app.functions.get(part.name)
            if fn is None:
                raise LookupError(f"no function {part.name!r}")
            payload = part.event if part.event is not None else event
            return await app.pool.invoke_async(fn, payload, timeout=min(fn.timeout, deadline))
        response = await http.request(part.method, part.url, headers=part.headers, timeout=deadline)
        response.raise_for_status()
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    tasks = {name: asyncio.ensure_future(call(part)) for name, part in parts.items()}
    done, pending = await asyncio.wait(tasks.values(), timeout=deadline)
    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, task in tasks.items():
        if task in pending:
            task.cancel()
            errors[name] = {"error": "Timeout", "message": f"no answer within {deadline:g}s", "timedOut": True}
            continue
        exc = task.exception()
        if exc is None:
            results[name] = task.result()
        elif isinstance(exc, FunctionTimeout | httpx.TimeoutException):
            errors[name] = {"error": "Timeout", "message": str(exc), "timedOut": True}
        elif isinstance(exc, FunctionError):
            errors[name] = {"error": exc.error_type, "message": exc.error_message, "timedOut": False}
        else:
            errors[name] = {"error": type(exc).__name__, "message": str(exc), "timedOut": False}
    if own_client:
        await http.aclose()
    return {"results": results, "errors": errors, "elapsed": round(time.monotonic() - started, 3)}
