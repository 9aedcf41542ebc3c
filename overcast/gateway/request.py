"""What a gateway function receives and returns: ``Request`` (with ``to_dict()`` giving the API
Gateway HTTP API v2 proxy event) and ``Response``.

Before changing: a ``Request`` crosses into a worker process pickled, so it holds plain values
and bytes only.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from overcast.errors import ValidationError

_compact_json = json.JSONEncoder(separators=(",", ":")).encode  # made once, not per response
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded",
               "application/javascript")


@dataclass(frozen=True)
class Request:
    """An HTTP request routed to a function.

    ``path_params`` holds the ``{name}`` parts of the route; ``query`` maps each name to its
    last value (``query_all`` to every value); ``headers`` have lower-case names; ``body`` is
    the raw bytes (``json()``, ``text``, ``form()`` decode it). ``auth`` is what the route's
    authorizer established (JWT claims, the API key's name and plan, a custom context).
    """

    method: str
    path: str
    route: str
    path_params: dict[str, str] = field(default_factory=dict)
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    request_id: str = ""
    auth: dict[str, Any] = field(default_factory=dict)
    source_ip: str = ""
    time_epoch: float = 0.0
    stage: str = "$default"

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in self.query_all.items()}

    @property
    def query_all(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (``ValidationError`` if it is not)."""
        try:
            return json.loads(self.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(f"the request body is not valid JSON: {exc}") from None

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body as a dict (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.text, keep_blank_values=True).items()}

    def to_dict(self) -> dict[str, Any]:
        """The API Gateway HTTP API (payload format 2.0) proxy event for this request."""
        content_type = self.headers.get("content-type", "")
        is_text = not self.body or content_type.startswith(_TEXT_TYPES)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": f"{self.method} {self.route}",
            "rawPath": self.path,
            "rawQueryString": self.query_string,
            "headers": dict(self.headers),
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "overcast",
                "domainName": self.headers.get("host", "localhost"),
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": self.headers.get("user-agent", ""),
                },
                "requestId": self.request_id,
                "routeKey": f"{self.method} {self.route}",
                "stage": self.stage,
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.time_epoch)),
                "timeEpoch": int(self.time_epoch * 1000),
            },
            "isBase64Encoded": not is_text,
        }
        if self.query_string:
            event["queryStringParameters"] = {k: ",".join(v) for k, v in self.query_all.items()}
        if self.path_params:
            event["pathParameters"] = dict(self.path_params)
        if self.auth:
            event["requestContext"]["authorizer"] = dict(self.auth)
        if self.body:
            event["body"] = self.text if is_text else base64.b64encode(self.body).decode()
        if "cookie" in self.headers:
            event["cookies"] = [c.strip() for c in self.headers["cookie"].split(";") if c.strip()]
        return event


@dataclass(frozen=True)
class Response:
    """An HTTP response a handler returns: ``Response(201, {"id": 1}, headers={...})``.

    ``body`` may be a JSON value (sent as JSON), a str (text/plain) or bytes.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def to_http(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Turn what a handler returned into (status, headers, body).

    Accepts a ``Response``, API Gateway's ``{"statusCode", "headers", "body",
    "isBase64Encoded"}``, a dict or list (JSON), a str (text) or bytes, or None (204).
    """
    if isinstance(result, Response):
        status, headers, body = result.status, dict(result.headers), result.body
    elif isinstance(result, dict) and "statusCode" in result:
        status = int(result["statusCode"])
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body")
        if result.get("isBase64Encoded") and isinstance(body, str):
            body = base64.b64decode(body)
        elif isinstance(body, str):
            headers.setdefault("content-type", "application/json" if body[:1] in "{[" else "text/plain; charset=utf-8")
            return status, headers, body.encode()
    else:
        status, headers, body = (204 if result is None else 200), {}, result
    lower = {k.lower() for k in headers}
    if body is None:
        return status, headers, b""
    if isinstance(body, bytes | bytearray):
        if "content-type" not in lower:
            headers["content-type"] = "application/octet-stream"
        return status, headers, bytes(body)
    if isinstance(body, str):
        if "content-type" not in lower:
            headers["content-type"] = "text/plain; charset=utf-8"
        return status, headers, body.encode()
    if "content-type" not in lower:
        headers["content-type"] = "application/json"
    return status, headers, _compact_json(body).encode()
