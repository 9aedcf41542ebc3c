"""HTTP proxy integration: forwards a request to an upstream and streams both bodies.

Before changing: bodies are streamed (request body from the client to the upstream, response
from the upstream to the client) and never held whole in memory; hop-by-hop headers are dropped
both ways. A refused connection is a 502, an upstream slower than the route's timeout a 504.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response, StreamingResponse

from overcast.gateway.routing import Route

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "host", "content-length"})


def upstream_url(route: Route, params: dict[str, str], path: str, query: str) -> str:
    """Where to forward: ``{name}`` placeholders in the upstream are filled from the path; else
    the greedy remainder (or the whole path, without a greedy parameter) is appended."""
    assert route.upstream is not None
    base = route.upstream
    if "{" in base:
        url = base
        for name, value in params.items():
            url = url.replace("{" + name + "+}", value).replace("{" + name + "}", value)
    else:
        greedy = [value for kind, value in route.segments if kind == "greedy"]
        tail = params[greedy[0]] if greedy else path.lstrip("/")
        url = base.rstrip("/") + "/" + tail
    return f"{url}?{query}" if query else url


async def forward(client: httpx.AsyncClient, request: HTTPRequest, route: Route, params: dict[str, str],
                  request_id: str) -> Response:
    url = upstream_url(route, params, request.url.path, request.url.query)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    headers["x-request-id"] = request_id
    if request.client:
        headers["x-forwarded-for"] = request.client.host

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            yield chunk

    has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or "content-length" in request.headers
    upstream_request = client.build_request(
        request.method, url, headers=headers, content=body() if has_body else None,
        timeout=httpx.Timeout(route.timeout),
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.TimeoutException:
        return JSONResponse({"message": "the upstream did not answer in time"}, status_code=504)
    except httpx.HTTPError as exc:
        return JSONResponse({"message": f"the upstream is unreachable: {type(exc).__name__}"}, status_code=502)
    out_headers: dict[str, Any] = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
    return StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code, headers=out_headers,
                             background=BackgroundTask(upstream.aclose))
