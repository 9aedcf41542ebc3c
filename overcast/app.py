"""The ``App``: the decorator API that declares resources and handlers, and the handle that uses
them from any process (a script, a test, a handler, the runtime).

Before changing: declaring does no I/O. The engine is opened, and declared queues are created or
updated to match the code (reconciled), the first time something needs it; worker processes find
the same app again through its ``AppLocator``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

from overcast.clock import Clock
from overcast.config import resolve_engine_url
from overcast.engine import open_engine
from overcast.engine.base import Engine, NewMessage, QueueSpec
from overcast.errors import ConfigError, FunctionNotFound, ValidationError
from overcast.events import DEFAULT_ACCOUNT, DEFAULT_REGION
from overcast.runtime.registry import DEFAULT_RETRIES, DEFAULT_TIMEOUT, FunctionDef, QueueSourceDef
from overcast.runtime.worker import AppLocator
from overcast.services.events_api import EventsAPI
from overcast.services.gateway_api import GatewayAPI
from overcast.services.queues import INTERNAL_PREFIX, Queue, make_spec
from overcast.services.workflows_api import WorkflowsAPI

P = ParamSpec("P")
R = TypeVar("R")

_APP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def invoke_queue_name(function: str) -> str:
    """The internal queue that holds a function's asynchronous invocations."""
    return f"{INTERNAL_PREFIX}invoke:{function}"


class App(GatewayAPI, EventsAPI, WorkflowsAPI):
    """An Overcast application.

    ``App("shop")`` uses the engine named by ``OVERCAST_ENGINE``, else ``overcast.toml``, else an
    SQLite file in ``./.overcast/``. Pass ``engine="sqlite:///path.db"`` to fix it in code and
    ``clock=`` to drive time in tests.
    """

    def __init__(
        self,
        name: str = "app",
        *,
        engine: str | None = None,
        clock: Clock | None = None,
        durability: str | None = None,
        max_workers: int = 16,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        if not isinstance(name, str) or not _APP_NAME.match(name):
            raise ConfigError(f"invalid app name {name!r}: use 1-64 letters, digits, '-' or '_'")
        self.name = name
        self.region = region
        self.account = account
        self.max_workers = max_workers
        self._engine_arg = engine
        self._clock = clock
        self._durability = durability
        self._engine: Engine | None = None
        self._lock = threading.RLock()
        self._declared: dict[str, QueueSpec] = {}
        self._queues: dict[str, Queue] = {}
        self.functions: dict[str, FunctionDef] = {}
        self.queue_sources: list[QueueSourceDef] = []
        # extension points for the services built on the foundation (bus, topics, workflows...):
        # queues they keep for themselves, work done inside the reconcile transaction, and the
        # roles (objects with start/stop/join) the runtime runs for them
        self._internal_queues: dict[str, QueueSpec] = {}
        self._reconcile_hooks: list[Callable[[Any], None]] = []
        self.runtime_roles: list[Callable[[App], list[Any]]] = []
        self._pool: Any = None
        self._init_gateway()
        caller = sys._getframe(1).f_globals
        self._module: str | None = caller.get("__name__")
        file = caller.get("__file__")
        self._file: str | None = str(Path(file).resolve()) if file else None

    def __repr__(self) -> str:
        return f"App({self.name!r})"

    # -- engine --------------------------------------------------------------------------------

    @property
    def engine_url(self) -> str:
        return resolve_engine_url(self._engine_arg)

    @property
    def engine(self) -> Engine:
        """The app's engine, opened and reconciled with the declared resources on first use."""
        engine = self._engine
        if engine is not None:
            return engine
        _stop_if_importing()
        with self._lock:
            if self._engine is None:
                engine = open_engine(self.engine_url, clock=self._clock, durability=self._durability)
                try:
                    self._reconcile(engine)
                except BaseException:
                    engine.close()
                    raise
                self._engine = engine
            return self._engine

    def plan(self) -> list[tuple[str, str, QueueSpec]]:
        """What reconciling would do: (action, queue, spec) with action create|update|keep."""
        engine = self._engine or open_engine(self.engine_url, clock=self._clock)
        try:
            return engine.read(lambda tx: self._plan(tx))
        finally:
            if engine is not self._engine:
                engine.close()

    def declare_internal_queue(self, spec: QueueSpec) -> Queue:
        """Declare a queue a service keeps for itself (names start with ``overcast:``)."""
        if not spec.name.startswith(INTERNAL_PREFIX):
            raise ConfigError(f"internal queue names start with {INTERNAL_PREFIX!r}, not {spec.name!r}")
        with self._lock:
            self._internal_queues[spec.name] = spec
            if self._engine is not None:
                self._reconcile(self._engine)
            return self.get_queue(spec.name)

    def _all_declared(self) -> list[QueueSpec]:
        specs = {**self._internal_queues, **self._declared}
        for fn in self.functions.values():
            name = invoke_queue_name(fn.name)
            specs[name] = make_spec(
                name, visibility_timeout=fn.timeout + 30, retention=1_209_600, internal=True
            )
        # dead-letter queues first, so a source's redrive target always exists
        return sorted(specs.values(), key=lambda s: (s.dead_letter is not None, s.name))

    def _plan(self, tx: Any) -> list[tuple[str, str, QueueSpec]]:
        actions = []
        for spec in self._all_declared():
            current = tx.queue_get(spec.name)
            if current is None:
                actions.append(("create", spec.name, spec))
            elif current.settings() != spec.settings():
                actions.append(("update", spec.name, spec))
            else:
                actions.append(("keep", spec.name, spec))
        return actions

    def _reconcile(self, engine: Engine) -> None:
        self._validate()

        def apply(tx: Any) -> None:
            for action, _name, spec in self._plan(tx):
                if action == "create":
                    tx.queue_create(spec)
                elif action == "update":
                    tx.queue_update(spec)
            for hook in self._reconcile_hooks:
                hook(tx)

        engine.atomic(apply)

    def _validate(self) -> None:
        for source in self.queue_sources:
            if source.queue not in self._declared:
                raise ConfigError(
                    f"on_queue({source.queue!r}) in app {self.name!r}: no queue named "
                    f"{source.queue!r} is declared; add app.queue({source.queue!r})"
                )
        for fn in self.functions.values():
            if fn.on_failure is not None and fn.on_failure not in self._declared:
                raise ConfigError(
                    f"function {fn.name!r}: on_failure queue {fn.on_failure!r} is not declared; "
                    f"add app.queue({fn.on_failure!r})"
                )

    def use_engine(self, engine: Engine) -> None:
        """Use an already-open engine (tests, embedding). Reconciles at once."""
        with self._lock:
            self._reconcile(engine)
            self._engine = engine

    # -- queues --------------------------------------------------------------------------------

    def queue(
        self,
        name: str,
        *,
        visibility_timeout: float = 30,
        delay: float = 0,
        retention: float = 345_600,
        max_message_size: int = 262_144,
        max_receive_count: int | None = None,
        dead_letter: str | None = None,
        content_based_dedup: bool = False,
    ) -> Queue:
        """Declare a queue (FIFO if the name ends ``.fifo``) and return its handle.

        ``dead_letter`` names the queue that receives messages after ``max_receive_count``
        receives; it is declared with default settings unless declared itself.
        """
        if dead_letter is not None and max_receive_count is None:
            max_receive_count = 3 if name not in self._declared else self._declared[name].max_receive_count
        spec = make_spec(
            name,
            visibility_timeout=visibility_timeout,
            delay=delay,
            retention=retention,
            max_message_size=max_message_size,
            max_receive_count=max_receive_count,
            dead_letter=dead_letter,
            content_based_dedup=content_based_dedup,
        )
        with self._lock:
            self._declared[name] = spec
            if dead_letter is not None and dead_letter not in self._declared:
                self._declared[dead_letter] = make_spec(dead_letter, retention=1_209_600)
            if self._engine is not None:  # declared after first use: reconcile it now
                self._reconcile(self._engine)
            return self.get_queue(name)

    def get_queue(self, name: str) -> Queue:
        """A handle on a queue by name, declared or not (``QueueNotFound`` on use if absent)."""
        with self._lock:
            queue = self._queues.get(name)
            if queue is None:
                queue = self._queues[name] = Queue(name, lambda: self.engine, self._declared.get(name))
            return queue

    # -- functions -----------------------------------------------------------------------------

    @overload
    def function(self, handler: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def function(
        self,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = 1.0,
        concurrency: int | None = None,
        on_failure: str | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def function(  # type: ignore[misc]  # mypy cannot match a ParamSpec across the two forms
        self,
        handler: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = 1.0,
        concurrency: int | None = None,
        on_failure: str | None = None,
    ) -> Any:
        """Register a function: ``handler(event, context)`` or ``handler(event)``, def or async.

        ``timeout`` (seconds) is enforced by stopping the worker; ``retries`` (0–2) and
        ``retry_delay`` (doubling each time) apply to asynchronous invocations, after which the
        event and the error go to the ``on_failure`` queue; ``concurrency`` caps parallel runs.
        """

        def register(fn: Callable[P, R]) -> Callable[P, R]:
            self._register_function(
                FunctionDef(
                    name=name or fn.__name__,
                    handler=fn,
                    timeout=timeout,
                    retries=retries,
                    retry_delay=retry_delay,
                    concurrency=concurrency,
                    on_failure=on_failure,
                )
            )
            return fn

        return register(handler) if handler is not None else register

    def _register_function(self, fn: FunctionDef) -> None:
        if not _FUNCTION_NAME.match(fn.name):
            raise ConfigError(f"invalid function name {fn.name!r}: use 1-64 letters, digits, '-' or '_'")
        with self._lock:
            existing = self.functions.get(fn.name)
            if existing is not None and existing.handler is not fn.handler:
                raise ConfigError(f"app {self.name!r} already has a function named {fn.name!r}")
            self.functions[fn.name] = fn

    def on_queue(
        self,
        queue: str,
        *,
        batch_size: int = 10,
        max_batching_window: float = 0,
        concurrency: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
        name: str | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Run the decorated handler on batches from ``queue`` (up to ``batch_size`` messages,
        gathered for up to ``max_batching_window`` seconds, ``concurrency`` batches at once).

        The handler gets an ``SQSEvent``. Raising fails the whole batch; returning the ids of
        failed messages (or ``{"batchItemFailures": [{"itemIdentifier": id}]}``) fails only
        those. Failed messages come back after the visibility timeout and go to the
        dead-letter queue after the queue's max receive count.
        """

        def register(fn: Callable[P, R]) -> Callable[P, R]:
            fn_name = name or fn.__name__
            self._register_function(
                FunctionDef(name=fn_name, handler=fn, timeout=timeout, retries=0, concurrency=None)
            )
            self.queue_sources.append(
                QueueSourceDef(
                    queue=queue,
                    function=fn_name,
                    batch_size=batch_size,
                    max_batching_window=max_batching_window,
                    concurrency=concurrency,
                )
            )
            return fn

        return register

    # -- invocation ----------------------------------------------------------------------------

    def locator(self) -> AppLocator:
        """How a worker process finds this app again."""
        from overcast.runtime.worker import bootstrap_path

        url = self.engine_url
        return AppLocator(
            app_name=self.name,
            module=self._module,
            file=self._file,
            sys_path=tuple([bootstrap_path(), *[p or os.getcwd() for p in sys.path]]),
            engine_url=url if self._engine_arg is None else None,
            cwd=os.getcwd(),
        )

    @property
    def pool(self) -> Any:
        """The app's worker pool, started on first use."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    from overcast.runtime.invoker import WorkerPool

                    self._pool = WorkerPool(self.locator(), max_workers=self.max_workers)
        return self._pool

    def _function(self, name: str) -> FunctionDef:
        fn = self.functions.get(name)
        if fn is None:
            known = ", ".join(sorted(self.functions)) or "none"
            raise FunctionNotFound(f"app {self.name!r} has no function {name!r} (functions: {known})")
        return fn

    def invoke(self, name: str, event: Any = None, *, timeout: float | None = None) -> Any:
        """Invoke a function synchronously in a worker process and return its result.

        Raises ``FunctionError`` with the remote error type, message and traceback text;
        ``FunctionTimeout`` when it ran too long (it is stopped), ``FunctionCrashed`` when its
        process died.
        """
        fn = self._function(name)
        _check_json(event, f"the event for {name!r}")
        _stop_if_importing()
        return self.pool.invoke(fn, event, timeout=timeout)

    def invoke_async(self, name: str, event: Any = None) -> str:
        """Queue an asynchronous (event) invocation and return its id at once.

        It is durable: the runtime (``overcast run``) runs it, retrying on failure, and sends
        the event and the error to the function's ``on_failure`` queue after the last retry.
        """
        fn = self._function(name)
        invocation_id = str(uuid.uuid4())
        body = json.dumps(
            {"invocation_id": invocation_id, "event": _check_json(event, f"the event for {name!r}"),
             "queued_at": time.time()}
        )
        message = NewMessage(id=invocation_id, body=body, attributes={"$json": True})
        self.engine.atomic(lambda tx: tx.queue_send(invoke_queue_name(fn.name), [message]))
        return invocation_id

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker pool and close the engine."""
        with self._lock:
            pool, self._pool = self._pool, None
            engine, self._engine = self._engine, None
        if pool is not None:
            pool.close()
        if engine is not None:
            engine.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def declared_queues(self) -> dict[str, QueueSpec]:
        return dict(self._declared)


def _stop_if_importing() -> None:
    """In a worker importing the app's module, using the app means the module's own top-level
    code is running (a script): stop importing there rather than send or invoke a second time."""
    from overcast.runtime import worker

    if worker.LOADING:
        raise worker.StopImport


def _check_json(value: Any, what: str) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is not a JSON value: {exc}") from None
    return value

