"""Routes and the router: path templates with ``{name}`` and greedy ``{name+}`` parameters.

Before changing: when several routes match a path, the most specific wins — more literal
segments first, then fewer parameters, greedy last — and a function or integration route always
beats a proxy route. That order is what lets a new function route take over one path of a legacy
system behind a proxy (the strangler pattern) without clients changing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from overcast.errors import ConfigError

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")
DEFAULT_TIMEOUT = 29.0
DEFAULT_MAX_BODY = 10 * 1024 * 1024


@dataclass
class Route:
    """One route: a method and path template, and what it integrates with.

    Exactly one of ``function``, ``queue``, ``bus``, ``workflow``, ``upstream``, ``mock`` is set.
    """

    method: str
    path: str
    function: str | None = None
    queue: str | None = None
    bus: str | None = None
    workflow: str | None = None
    upstream: str | None = None
    mock: dict[str, Any] | None = None
    parts: dict[str, Any] | None = None  # aggregate: name -> Function | Upstream
    status: bool = False  # GET /executions/{workflow}/{name}: an execution's status
    payload: str = "request"  # what a function gets: "request" (Request) or "v2" (API Gateway event)
    auth: str | None = None
    scopes: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    max_body: int = DEFAULT_MAX_BODY
    body_schema: dict[str, Any] | None = None
    query_schema: dict[str, Any] | None = None
    forward_headers: tuple[str, ...] = ()
    sync: bool = False
    # where a function route's handler runs: "process" (a worker process: isolated, stoppable),
    # "inline" (the gateway's own process), or None: inline for async def, process for def
    isolation: str | None = None
    segments: list[tuple[str, str]] = field(default_factory=list)  # (kind, value): lit|param|greedy

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.method not in METHODS:
            raise ConfigError(f"route {self.path!r}: unknown method {self.method!r} (use {', '.join(sorted(METHODS))})")
        if not self.path.startswith("/"):
            raise ConfigError(f"route path {self.path!r} must start with '/'")
        targets = [t for t in (self.function, self.queue, self.bus, self.workflow, self.upstream,
                               self.mock, self.parts, self.status or None) if t is not None]
        if len(targets) != 1:
            raise ConfigError(f"route {self.method} {self.path}: give exactly one integration")
        if self.payload not in ("request", "v2"):
            raise ConfigError(f"route {self.method} {self.path}: payload must be 'request' or 'v2'")
        if self.isolation not in (None, "process", "inline"):
            raise ConfigError(f"route {self.method} {self.path}: isolation must be 'process' or 'inline', "
                              f"not {self.isolation!r}")
        if self.isolation is not None and self.function is None:
            raise ConfigError(f"route {self.method} {self.path}: isolation applies to function routes only")
        if not isinstance(self.timeout, int | float) or not 0 < self.timeout <= 900:
            raise ConfigError(f"route {self.method} {self.path}: timeout must be between 0 and 900 seconds")
        self.segments = _parse(self.path)

    @property
    def kind(self) -> str:
        if self.status:
            return "execution-status"
        for name in ("function", "queue", "bus", "workflow", "upstream", "mock", "parts"):
            if getattr(self, name) is not None:
                return {"upstream": "proxy", "parts": "aggregate"}.get(name, name)
        raise AssertionError("unreachable")

    def runs_inline(self, is_async: bool) -> bool:
        """Whether this function route's handler runs in the gateway's process (``isolation``)."""
        return self.isolation == "inline" or (self.isolation is None and is_async)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def specificity(self) -> tuple[int, int, int, int]:
        literal = sum(1 for kind, _ in self.segments if kind == "lit")
        params = sum(1 for kind, _ in self.segments if kind == "param")
        greedy = sum(1 for kind, _ in self.segments if kind == "greedy")
        # higher sorts first: non-proxy, more literals, no greedy, fewer params; a method beats ANY
        return (int(self.upstream is None), literal, -greedy, -params)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, (kind, value) in enumerate(self.segments):
            if kind == "greedy":
                rest = parts[i:]
                if not rest or rest == [""]:
                    return None
                params[value] = "/".join(rest)
                return params
            if i >= len(parts):
                return None
            if kind == "lit":
                if parts[i] != value:
                    return None
            else:
                if parts[i] == "":
                    return None
                params[value] = parts[i]
        return params if len(parts) == len(self.segments) else None


def _parse(path: str) -> list[tuple[str, str]]:
    parts = path.strip("/").split("/") if path.strip("/") else []
    segments: list[tuple[str, str]] = []
    for i, part in enumerate(parts):
        m = _PARAM.match(part)
        if m:
            if m.group(2):
                if i != len(parts) - 1:
                    raise ConfigError(f"route path {path!r}: a greedy {{{m.group(1)}+}} must be the last segment")
                segments.append(("greedy", m.group(1)))
            else:
                segments.append(("param", m.group(1)))
        elif "{" in part or "}" in part:
            raise ConfigError(f"route path {path!r}: segment {part!r} is not a literal or {{name}}")
        else:
            segments.append(("lit", part))
    return segments


class Router:
    """Finds the route for a method and path."""

    def __init__(self, routes: list[Route] | None = None) -> None:
        self.routes: list[Route] = []
        for route in routes or []:
            self.add(route)

    def add(self, route: Route) -> None:
        for existing in self.routes:
            if existing.key == route.key and (existing.upstream is None) == (route.upstream is None):
                raise ConfigError(f"route {route.key} is declared twice")
        self.routes.append(route)
        self.routes.sort(key=lambda r: (r.specificity(), r.method != "ANY"), reverse=True)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | tuple[None, list[str]]:
        """The best route and its path parameters, or (None, allowed methods) when the path
        matches only under other methods (an empty list means no route at all)."""
        parts = path.strip("/").split("/") if path.strip("/") else []
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.method in (method, "ANY") or (method == "HEAD" and route.method == "GET"):
                return route, params
            allowed.append(route.method)
        return None, allowed
