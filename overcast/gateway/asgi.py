"""The gateway's ASGI application: request id and access log, routing, authorizers, size limits
and validation, then the route's integration (function, queue, bus, workflow, proxy, mock,
aggregate).

Before changing: a storage-first route answers 202 only after the engine committed the message,
so a 202 is a promise the runtime keeps even if this process dies right after; and every
response carries the ``x-request-id`` the function also sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import time
import traceback
import types
from collections.abc import Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import httpx
import jsonschema  # type: ignore[import-untyped]
from anyio import to_thread
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from overcast.engine.base import NewMessage
from overcast.errors import FunctionError, FunctionTimeout, OvercastError
from overcast.events import message_id
from overcast.gateway.aggregate import aggregate
from overcast.gateway.auth import APIKeyAuth, Denied
from overcast.gateway.proxy import forward
from overcast.gateway.request import Request, to_http
from overcast.gateway.routing import Route, Router
from overcast.runtime.context import Context
from overcast.runtime.registry import FunctionDef

if TYPE_CHECKING:
    from overcast.app import App
    from overcast.services.queues import Queue

access_log = logging.getLogger("overcast.gateway.access")
log = logging.getLogger("overcast.gateway")


class _TooLarge(Exception):
    pass


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": message, **extra}, status_code=status)


class Gateway:
    """The ASGI callable for one app's routes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.router = Router(list(app.routes))
        self.client: httpx.AsyncClient | None = None
        self._limits: dict[str, asyncio.Semaphore] = {}  # inline functions with a concurrency
        self.sends = SendBatcher(app)

    @staticmethod
    def in_engine(fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a short engine transaction (a key check, a storage-first send) on the event loop.

        Measured: handing it to a thread costs more than the commit itself (tens of
        microseconds on SQLite), because the busy loop thread holds the GIL; inline it is."""
        return fn(*args, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request = HTTPRequest(scope, receive)
        # ASGI header names are lower case; read from the scope once, not through a Headers view
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or message_id()
        method, path = scope["method"], scope["path"]
        try:
            response = await self.dispatch(request, request_id, method, path, headers)
        except Exception:  # a bug of ours: answer 500, never a dropped connection
            log.exception("gateway error on %s %s", method, path)
            response = error(500, "internal error")
        if isinstance(response, RawResponse):
            response.set("x-request-id", request_id)
        else:
            response.headers["x-request-id"] = request_id
        await response(scope, receive, send)
        access_log.info(
            "%s %s %d %.1fms %s", method, path, response.status_code,
            (time.perf_counter() - started) * 1000, request_id,
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def dispatch(
        self, request: HTTPRequest, request_id: str, method: str, path: str, headers: dict[str, str]
    ) -> Response | RawResponse:
        route, found = self.router.match(method, path)
        if route is None:
            if found:
                return error(405, "method not allowed", allowed=sorted(set(found)))
            return error(404, "not found")
        params: dict[str, str] = found  # type: ignore[assignment]
        identity: dict[str, Any] = {}
        if route.auth is not None:
            authorizer = self.app.authorizers[route.auth]
            try:
                if isinstance(authorizer, APIKeyAuth):
                    identity = self.in_engine(authorizer.authorize, self.app, headers, route.scopes)
                else:
                    identity = await to_thread.run_sync(authorizer.authorize, self.app, request.headers, route.scopes)
            except Denied as denied:
                headers = {}
                if denied.retry_after:
                    headers["retry-after"] = str(max(1, math.ceil(denied.retry_after)))
                if denied.status == 401:
                    headers["www-authenticate"] = "Bearer" if route.auth and "jwt" in type(authorizer).__name__.lower() else "ApiKey"
                return JSONResponse({"message": denied.message}, status_code=denied.status, headers=headers)
        if route.upstream is not None:
            if self.client is None:
                self.client = httpx.AsyncClient()
            return await forward(self.client, request, route, params, request_id)
        try:
            body = await _read_body(request, headers, route.max_body)
        except _TooLarge:
            return error(413, f"the request body is over this route's limit of {route.max_body} bytes")
        query_string = request.scope["query_string"].decode("utf-8", "replace")
        if route.query_schema is not None:
            query = dict(parse_qsl(query_string, keep_blank_values=True))
            problem = _validate(route.query_schema, query, "query")
            if problem:
                return error(400, problem[0], path=problem[1])
        payload: Any = None
        if route.body_schema is not None:
            try:
                payload = json.loads(body or b"null")
            except ValueError:
                return error(400, "the request body is not valid JSON", path="body")
            problem = _validate(route.body_schema, payload, "body")
            if problem:
                return error(400, problem[0], path=problem[1])
        client = request.scope.get("client")
        req = Request(
            method=method, path=path, route=route.path, path_params=params,
            query_string=query_string, headers=headers,
            body=body, request_id=request_id, auth=identity,
            source_ip=client[0] if client else "", time_epoch=time.time(),
        )
        try:
            return await self.integrate(route, req)
        except FunctionTimeout:
            return error(504, "the function did not answer in time")
        except FunctionError as exc:
            log.warning("route %s: function failed: %s: %s", route.key, exc.error_type, exc.error_message)
            return error(502, "the function failed", errorType=exc.error_type)
        except OvercastError as exc:
            return error(exc.status_code, str(exc))

    async def integrate(self, route: Route, req: Request) -> Response | RawResponse:
        app = self.app
        kind = route.kind
        if kind == "function":
            fn = app.functions[route.function]  # type: ignore[index]
            event: Any = req.to_dict() if route.payload == "v2" else req
            timeout = min(fn.timeout, route.timeout)
            if route.runs_inline(fn.is_async):
                result = await self._inline(fn, event, timeout)
            else:
                result = await app.pool.invoke_async(fn, event, timeout=timeout)
            status, headers, body = to_http(result)
            try:
                return RawResponse(status, headers, body)
            except UnicodeEncodeError:
                bad = next(k for k, v in headers.items() if not _latin1(k + v))
                return error(502, f"the function answered a header that is not latin-1 text: {bad!r}")
        if kind == "mock":
            status, headers, body = to_http(_mock_response(route.mock or {}))
            return Response(body, status_code=status, headers=headers)
        if kind == "queue":
            message, attributes = _message_from(req, route.forward_headers)
            queue = app.get_queue(route.queue)  # type: ignore[arg-type]
            sent = await self.sends.send(queue, message, attributes or None)
            return JSONResponse({"messageId": sent, "requestId": req.request_id}, status_code=202)
        if kind == "aggregate":
            event = None
            if req.body:
                try:
                    event = req.json()
                except OvercastError:
                    event = req.text
            result = await aggregate(app, route.parts or {}, deadline=route.timeout, event=event, client=self.client)
            return JSONResponse(result, status_code=200)
        if kind == "bus":
            return await self._bus(route, req)
        if kind == "workflow":
            return await self._workflow(route, req)
        if kind == "execution-status":
            result = await to_thread.run_sync(functools.partial(
                app.execution_status_for_http, req.path_params["workflow"], req.path_params["name"]))
            status, headers, body = to_http(result)
            return Response(body, status_code=status, headers=headers)
        return error(500, f"route {route.key} has no integration")

    async def _inline(self, fn: FunctionDef, event: Any, timeout: float) -> Any:
        """Run a route's handler in this process: an ``async def`` on the event loop (the
        timeout cancels it), a ``def`` in a thread (the timeout answers 504; the thread runs
        on, as nothing can stop a thread); errors become ``FunctionError`` as from a worker."""
        context = Context(
            invocation_id=message_id(), function_name=fn.name, timeout=timeout,
            deadline=time.monotonic() + timeout, logger=_function_logger(fn.name),
        )
        args: tuple[Any, ...] = (event, context) if fn.takes_context else (event,)
        limit = self._limits.get(fn.name)
        if limit is None and fn.concurrency is not None:
            limit = self._limits[fn.name] = asyncio.Semaphore(fn.concurrency)
        deadline = asyncio.timeout(timeout)
        try:
            if fn.is_async and limit is None:
                # run it at once, up to where it first waits: most handlers never wait, and
                # those are done without a task switch or a timer
                coro = fn.handler(*args)
                try:
                    waiting = coro.send(None)
                except StopIteration as done:
                    return done.value
                async with deadline:
                    return await _resumed(coro, waiting)
            if fn.is_async:
                assert limit is not None  # (the branch above took the async handlers without one)
                async with deadline, limit:
                    return await fn.handler(*args)
            loop = asyncio.get_running_loop()
            if limit is not None:
                async with deadline:
                    await limit.acquire()

            def run() -> Any:
                try:
                    return fn.handler(*args)
                finally:  # the slot is free when the thread is done, not when we stop waiting
                    if limit is not None:
                        with contextlib.suppress(RuntimeError):  # the loop has ended meanwhile
                            loop.call_soon_threadsafe(limit.release)

            deadline = asyncio.timeout(max(0.0, context.deadline - time.monotonic()))
            async with deadline:
                return await to_thread.run_sync(run, abandon_on_cancel=True)
        except TimeoutError as exc:
            if not deadline.expired():  # the handler's own TimeoutError: its failure
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                raise FunctionError(function=fn.name, error_type="TimeoutError", error_message=str(exc),
                                    traceback=tb) from None
            raise FunctionTimeout(f"function {fn.name!r} timed out after {timeout:g}s", function=fn.name,
                                  error_type="TimeoutError", error_message=f"timed out after {timeout:g}s") from None
        except (Exception, SystemExit) as exc:  # a handler's failure, reported as a worker would
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            raise FunctionError(function=fn.name, error_type=type(exc).__name__, error_message=str(exc),
                                traceback=tb) from None

    async def _bus(self, route: Route, req: Request) -> Response:
        result = await to_thread.run_sync(functools.partial(self.app.put_events_from_http, route.bus or "default", req))
        status, headers, body = to_http(result)
        return Response(body, status_code=status, headers=headers)

    async def _workflow(self, route: Route, req: Request) -> Response:
        result = await to_thread.run_sync(
            functools.partial(self.app.start_execution_from_http, route.workflow or "", req, route.sync))
        status, headers, body = to_http(result)
        return Response(body, status_code=status, headers=headers)


class SendBatcher:
    """Storage-first sends that arrive together share one engine transaction.

    A request's message is validated at once; then it waits for the next turn of the event
    loop, where every message queued meanwhile commits in one transaction, and each request
    gets its id only after that commit (so a 202 still means stored). If the shared
    transaction fails, each message is sent on its own, so every request gets its own answer.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self._pending: list[tuple[str, NewMessage, asyncio.Future[str]]] = []
        self.commits = 0  # transactions committed (for tests)

    async def send(self, queue: Queue, body: Any, attributes: dict[str, Any] | None) -> str:
        message = queue.prepare(body, attributes=attributes)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((queue.name, message, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        engine = self.app.engine
        try:
            ids = engine.atomic(lambda tx: [tx.queue_send(name, [m])[0] for name, m, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][2], error=exc)
                return
            for name, message, future in batch:
                try:
                    _settle(future, engine.atomic(functools.partial(_send_one, name, message)))
                except Exception as each:
                    _settle(future, error=each)
                else:
                    self.commits += 1
            return
        self.commits += 1
        for (_, _, future), sent in zip(batch, ids, strict=True):
            _settle(future, sent)


@types.coroutine
def _resumed(coro: Any, waiting: Any) -> Generator[Any, Any, Any]:
    """Await a coroutine that was started by hand and is waiting on ``waiting``: hand that to
    the task running us (as the coroutine itself would have), pass a cancellation on to the
    coroutine, then drive it to its end."""
    while True:
        try:
            yield waiting
        except BaseException as exc:  # a cancellation (a timeout): the coroutine decides
            try:
                waiting = coro.throw(exc)
            except StopIteration as done:
                return done.value
            continue
        return (yield from coro)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def _function_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"overcast.function.{name}")


def _send_one(queue: str, message: NewMessage, tx: Any) -> str:
    sent: str = tx.queue_send(queue, [message])[0]
    return sent


def _settle(future: asyncio.Future[str], result: str = "", *, error: BaseException | None = None) -> None:
    if future.done():  # the request went away meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class RawResponse:
    """A response sent as two ASGI messages, without a Starlette ``Response``'s header
    machinery (a function route's answer). Headers are encoded when it is made, so a header a
    handler got wrong (not latin-1) fails inside the gateway's error handling."""

    __slots__ = ("body", "raw", "status_code")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if not (status < 200 or status in (204, 304)) and b"content-length" not in {k for k, _ in self.raw}:
            self.raw.append((b"content-length", str(len(body)).encode()))

    def set(self, name: str, value: str) -> None:
        """Set a header, replacing any of that name (whatever its case was)."""
        key = name.lower().encode("latin-1")
        self.raw = [(k, v) for k, v in self.raw if k != key]
        self.raw.append((key, value.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw})
        await send({"type": "http.response.body", "body": self.body})


def _mock_response(mock: dict[str, Any]) -> Any:
    from overcast.gateway.request import Response as Reply

    return Reply(int(mock.get("status", 200)), mock.get("body"), dict(mock.get("headers") or {}))


def _message_from(req: Request, forward_headers: tuple[str, ...]) -> tuple[Any, dict[str, str]]:
    content_type = req.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        message: Any = req.json()
    else:
        message = req.text
    attributes = {name: req.headers[name] for name in forward_headers if req.headers.get(name)}
    attributes["request_id"] = req.request_id
    return message, attributes


async def _read_body(request: HTTPRequest, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared == "0" or (declared is None and "transfer-encoding" not in headers
                           and request.scope.get("http_version", "1.1") in ("1.0", "1.1")):
        return b""  # HTTP/1.x: a request with neither header has no body (HTTP/2 may stream one)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _validate(schema: dict[str, Any], value: Any, where: str) -> tuple[str, str] | None:
    validator = jsonschema.Draft202012Validator(schema)
    failure = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if failure is None:
        return None
    path = ".".join([where, *[str(p) for p in failure.absolute_path]])
    return f"{path}: {failure.message}", path


def build_asgi(app: App) -> Any:
    """The app's gateway as an ASGI application (with CORS when the app configured it)."""
    gateway: Any = Gateway(app)
    if app.cors_settings is not None:
        gateway = CORSMiddleware(gateway, **app.cors_settings)
    return gateway
