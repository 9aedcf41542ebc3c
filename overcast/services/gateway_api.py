"""The App's methods for the HTTP gateway: routes, proxies, aggregates, authorizers, CORS.

Mixed into ``App``; everything here only registers. The runtime serves the routes (see
``overcast.gateway.server``) on ``gateway_host:gateway_port`` (``overcast run --host --port``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from overcast.errors import ConfigError
from overcast.gateway.routing import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, Route

if TYPE_CHECKING:
    from overcast.gateway.auth import Authorizer


class GatewayAPI:
    """``@app.route``, ``app.proxy``, ``app.aggregate``, ``app.authorizer``, ``app.cors``."""

    routes: list[Route]
    authorizers: dict[str, Authorizer]
    cors_settings: dict[str, Any] | None
    serve_gateway: bool
    gateway_host: str
    gateway_port: int
    gateway_server: Any

    def _init_gateway(self) -> None:
        self.routes = []
        self.authorizers = {}
        self.cors_settings = None
        self.serve_gateway = True
        self.gateway_host = "127.0.0.1"
        self.gateway_port = 8000
        self.gateway_server = None

    def _add_route(self, route: Route) -> Route:
        from overcast.gateway.routing import Router

        if route.auth is not None and route.auth not in self.authorizers:
            raise ConfigError(
                f"route {route.key}: no authorizer named {route.auth!r}; declare it first with "
                f"app.authorizer({route.auth!r}, ...)"
            )
        Router([*self.routes, route])  # refuses duplicates with a clear error
        self.routes.append(route)
        if len(self.routes) == 1:
            from overcast.gateway.server import gateway_roles

            self.runtime_roles.append(gateway_roles)  # type: ignore[attr-defined]
        return route

    def route(
        self,
        method: str,
        path: str,
        *,
        to_queue: str | None = None,
        to_bus: str | None = None,
        to_workflow: str | None = None,
        sync: bool = False,
        mock: dict[str, Any] | None = None,
        auth: str | None = None,
        scopes: list[str] | tuple[str, ...] = (),
        timeout: float = DEFAULT_TIMEOUT,
        max_body: int = DEFAULT_MAX_BODY,
        body_schema: dict[str, Any] | None = None,
        query_schema: dict[str, Any] | None = None,
        forward_headers: list[str] | tuple[str, ...] = (),
        payload: str = "request",
        version: str | None = None,
        name: str | None = None,
        function_timeout: float | None = None,
        isolation: str | None = None,
    ) -> Any:
        """Declare a route. With ``to_queue`` (storage-first: 202 once stored), ``to_bus``,
        ``to_workflow`` (202 + Location; ``sync=True`` for Express: the output) or ``mock``, the
        route is declared at once; otherwise decorate the function that handles it: it gets a
        ``Request`` (or, with ``payload="v2"``, the API Gateway v2 event) and returns a dict,
        str, bytes, ``Response`` or an API Gateway response dict. ``version="v2"`` prefixes the
        path with ``/v2``.

        ``isolation`` says where the handler runs: ``"process"`` (a worker process: a crash, a
        CPU-bound loop or a timeout cannot touch the gateway) or ``"inline"`` (the gateway's
        process: no process crossing). By default an ``async def`` handler runs inline, on the
        gateway's event loop as in any ASGI app (its timeout cancels it), and a ``def``
        handler in a worker process."""
        if version:
            path = f"/{version.strip('/')}{path}"
        common = dict(auth=auth, scopes=tuple(scopes), timeout=timeout, max_body=max_body,
                      body_schema=body_schema, query_schema=query_schema,
                      forward_headers=tuple(h.lower() for h in forward_headers), payload=payload, sync=sync)
        if to_workflow is not None and not any(r.status for r in self.routes):
            # where a started execution's Location points
            self._add_route(Route("GET", "/executions/{workflow}/{name}", status=True))
        if to_queue is not None or to_bus is not None or to_workflow is not None or mock is not None:
            return self._add_route(Route(method, path, queue=to_queue, bus=to_bus, workflow=to_workflow,
                                         mock=mock, isolation=isolation, **common))  # type: ignore[arg-type]

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            fn_name = name or handler.__name__
            existing = self.functions.get(fn_name)  # type: ignore[attr-defined]
            if existing is None or existing.handler is not handler:
                self.function(name=fn_name, timeout=function_timeout or min(timeout, 900))(handler)  # type: ignore[attr-defined]
                self.functions[fn_name].json_result = False  # type: ignore[attr-defined]
            self._add_route(Route(method, path, function=fn_name, isolation=isolation, **common))  # type: ignore[arg-type]
            return handler

        return register

    def proxy(self, path: str, *, upstream: str, method: str = "ANY", auth: str | None = None,
              timeout: float = DEFAULT_TIMEOUT) -> Route:
        """Forward requests on ``path`` (e.g. ``/legacy/{path+}``) to ``upstream``, streaming
        bodies. Function routes on the same paths win (the strangler pattern)."""
        return self._add_route(Route(method, path, upstream=upstream, auth=auth, timeout=timeout))

    def aggregate(self, method: str, path: str, *, parts: dict[str, Any], deadline: float = 3.0,
                  auth: str | None = None) -> Route:
        """A route that calls several functions (``Function(name)``) or upstream URLs
        (``Upstream(url)``) concurrently within ``deadline`` seconds and answers with every
        result, naming the parts that failed or timed out."""
        if not parts:
            raise ConfigError(f"aggregate route {path!r} needs at least one part")
        return self._add_route(Route(method, path, parts=dict(parts), auth=auth, timeout=deadline))

    def authorizer(self, name: str, authorizer: Authorizer) -> None:
        """Declare a named authorizer (``JWTAuth``, ``APIKeyAuth``, ``FunctionAuth``) for routes."""
        from overcast.gateway.auth import Authorizer as Base

        if not isinstance(authorizer, Base):
            raise ConfigError(f"authorizer {name!r} must be a JWTAuth, APIKeyAuth or FunctionAuth")
        self.authorizers[name] = authorizer

    def cors(self, *, allow_origins: list[str] | tuple[str, ...] = ("*",),
             allow_methods: list[str] | tuple[str, ...] = ("*",),
             allow_headers: list[str] | tuple[str, ...] = ("*",), allow_credentials: bool = False,
             expose_headers: list[str] | tuple[str, ...] = ("x-request-id",), max_age: int = 600) -> None:
        """Answer CORS preflights and add CORS headers to every response."""
        self.cors_settings = dict(allow_origins=list(allow_origins), allow_methods=list(allow_methods),
                                  allow_headers=list(allow_headers), allow_credentials=allow_credentials,
                                  expose_headers=list(expose_headers), max_age=max_age)

    def put_events_from_http(self, bus: str, request: Any) -> Any:
        """A ``to_bus`` route: the body is one PutEvents entry, a list of them, ``{"Entries":
        [...]}`` or a CloudEvent; the answer is PutEvents' (200, ``FailedEntryCount``, ``Entries``),
        400 when every entry failed."""
        from overcast.gateway.request import Response

        body = request.json()
        if isinstance(body, dict) and "Entries" in body:
            entries = body["Entries"]
        else:
            entries = body if isinstance(body, list) else [body]
        result = self.bus(bus).put_events(entries)  # type: ignore[attr-defined]
        failed_all = result.failed_entry_count == len(result.entries)
        return Response(400 if failed_all else 200, result.to_dict())

    def start_execution_from_http(self, workflow: str, request: Any, sync: bool) -> Any:
        """A ``to_workflow`` route: the JSON body is the input. Standard (or not ``sync``): 202
        with ``Location: /executions/WORKFLOW/NAME``; Express with ``sync``: 200 with the output
        (or 500 with the error) as StartSyncExecution answers."""
        from overcast.gateway.request import Response

        body = request.json() if request.body else {}
        if sync:
            done = self.start_sync_execution(workflow, body)  # type: ignore[attr-defined]
            described = done.to_dict()
            return Response(200 if done.status == "SUCCEEDED" else 500, described)
        handle = self.start_execution(workflow, body)  # type: ignore[attr-defined]
        location = f"/executions/{handle.workflow}/{handle.name}"
        return Response(202, {"executionArn": handle.arn, "location": location,
                              "requestId": request.request_id}, {"location": location})

    def execution_status_for_http(self, workflow: str, name: str) -> Any:
        """``GET /executions/WORKFLOW/NAME``: the execution's status and, once done, its output."""
        from overcast.gateway.request import Response

        if workflow not in {r.workflow for r in self.routes if r.workflow}:
            return Response(404, {"message": f"no workflow route starts {workflow!r}"})
        described = self.describe_execution(f"{workflow}/{name}")  # type: ignore[attr-defined]
        return Response(200, described.to_dict())

    def asgi(self) -> Any:
        """The gateway as an ASGI app (to serve it under another server, or test it)."""
        from overcast.gateway.asgi import build_asgi

        return build_asgi(self)  # type: ignore[arg-type]
