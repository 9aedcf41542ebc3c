"""Runs handlers in worker processes: enforced timeouts, crash isolation, concurrency limits.

Before changing: a worker runs one invocation at a time and is checked out of the pool for it;
the calling thread talks to it directly over its pipe (no dispatcher thread in between), which
is what keeps a warm invocation close to a bare process-pool call. A worker that times out is
killed, one that dies is replaced; neither ever returns to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import sys
import threading
import time
import types
import uuid
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any, NoReturn

from overcast.errors import ConfigError, FunctionCrashed, FunctionError, FunctionTimeout
from overcast.runtime.registry import FunctionDef
from overcast.runtime.worker import AppLocator, worker_main

STARTUP_TIMEOUT = 120.0


class _Worker:
    def __init__(self, ctx: Any, locator: AppLocator) -> None:
        parent, child = ctx.Pipe()
        self.process: SpawnProcess = ctx.Process(
            target=worker_main, args=(child, locator), daemon=True, name="overcast-worker"
        )
        # Multiprocessing's spawn would import the parent's __main__ in the child (running a
        # script's top level again); the worker loads the app itself, so hide __main__ meanwhile.
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            self.process.start()
        finally:
            sys.modules["__main__"] = main
        child.close()
        self.conn: Connection = parent
        self.ready = False

    def wait_ready(self) -> None:
        if self.ready:
            return
        if not self.conn.poll(STARTUP_TIMEOUT):
            self.kill()
            raise ConfigError(f"a worker process did not load the app within {STARTUP_TIMEOUT:g}s")
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise ConfigError(
                f"a worker process died while loading the app (exit code {self.process.exitcode})"
            ) from None
        if message[0] == "startup_error":
            self.kill()
            raise ConfigError(f"a worker process could not load the app: {message[1]}: {message[2]}")
        self.ready = True

    def call(
        self,
        fn: FunctionDef,
        event: Any,
        invocation_id: str,
        timeout: float,
        attempt: int,
        idempotency_key: str | None = None,
    ) -> Any:
        self.send(fn, event, invocation_id, timeout, attempt, idempotency_key)
        if not self.conn.poll(timeout):
            self.timed_out(fn, timeout)
        return self.result(fn)

    def send(
        self,
        fn: FunctionDef,
        event: Any,
        invocation_id: str,
        timeout: float,
        attempt: int,
        idempotency_key: str | None = None,
    ) -> None:
        message: tuple[Any, ...] = ("invoke", invocation_id, fn.name, event, timeout, attempt)
        if idempotency_key is not None:
            message += (idempotency_key,)
        try:
            self.conn.send(message)
        except (OSError, ValueError) as exc:
            self.kill()
            raise FunctionCrashed(
                function=fn.name, error_type="FunctionCrashed", error_message=f"worker unavailable: {exc}"
            ) from None

    def timed_out(self, fn: FunctionDef, timeout: float) -> NoReturn:
        self.kill()
        raise FunctionTimeout(
            f"function {fn.name!r} timed out after {timeout:g} s and was stopped",
            function=fn.name,
            error_type="FunctionTimeout",
            error_message=f"Task timed out after {timeout:g} seconds",
        )

    def result(self, fn: FunctionDef) -> Any:
        """Read the answer of the invocation in progress (the pipe is readable)."""
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(1)
            code = self.process.exitcode
            self.kill()
            raise FunctionCrashed(
                f"function {fn.name!r} crashed: its worker process exited with code {code}",
                function=fn.name,
                error_type="FunctionCrashed",
                error_message=f"worker process exited with code {code}",
            ) from None
        if message[0] == "ok":
            return message[1]
        _, error_type, error_message, tb = message
        raise FunctionError(
            function=fn.name, error_type=error_type, error_message=error_message, traceback=tb
        )

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("stop",))
        self.process.join(2)
        if self.process.is_alive():
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """A pool of worker processes for one app, grown on demand up to ``max_workers``."""

    def __init__(self, locator: AppLocator, max_workers: int = 16) -> None:
        self._locator = locator
        self._ctx = multiprocessing.get_context("spawn")
        self._max = max_workers
        self._idle: list[_Worker] = []
        self._count = 0
        self._cond = threading.Condition()
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._closed = False

    def prestart(self, count: int) -> None:
        """Start ``count`` workers now and wait until they have loaded the app."""
        workers = []
        with self._cond:
            count = min(count, self._max - self._count)
            self._count += max(count, 0)
        try:
            for _ in range(max(count, 0)):
                workers.append(_Worker(self._ctx, self._locator))
            for worker in workers:
                worker.wait_ready()
        except BaseException:
            with self._cond:
                self._count -= len([w for w in workers if not w.ready]) + (count - len(workers))
            raise
        with self._cond:
            self._idle.extend(workers)
            self._cond.notify_all()

    def invoke(
        self,
        fn: FunctionDef,
        event: Any,
        *,
        invocation_id: str | None = None,
        timeout: float | None = None,
        attempt: int = 1,
        idempotency_key: str | None = None,
    ) -> Any:
        """Run ``fn`` on ``event`` in a worker and return its result, or raise ``FunctionError``
        (``FunctionTimeout``, ``FunctionCrashed``) carrying the remote error.
        ``idempotency_key`` becomes the handler's ``context.idempotency_key``."""
        limit = self._limit(fn)
        if limit is not None:
            limit.acquire()
        try:
            worker = self._checkout()
            healthy = False
            try:
                worker.wait_ready()
                result = worker.call(
                    fn,
                    event,
                    invocation_id or str(uuid.uuid4()),
                    timeout or fn.timeout,
                    attempt,
                    idempotency_key,
                )
                healthy = True
                return result
            except FunctionError as exc:
                healthy = not isinstance(exc, FunctionTimeout | FunctionCrashed)
                raise
            finally:
                self._checkin(worker, healthy and worker.alive)
        finally:
            if limit is not None:
                limit.release()

    async def invoke_async(
        self, fn: FunctionDef, event: Any, *, invocation_id: str | None = None, timeout: float | None = None
    ) -> Any:
        """``invoke`` for an asyncio caller (the gateway): the event loop waits for the worker's
        answer on its pipe, so no thread sits between a request and its worker."""
        loop = asyncio.get_running_loop()
        if fn.concurrency is not None:  # a limited function waits for its turn in a thread
            return await loop.run_in_executor(
                None, functools.partial(self.invoke, fn, event, invocation_id=invocation_id, timeout=timeout))
        worker = self._try_checkout()
        if worker is None:
            worker = await loop.run_in_executor(None, self._checkout)
        healthy = False
        try:
            if not worker.ready:
                await loop.run_in_executor(None, worker.wait_ready)
            limit = timeout or fn.timeout
            worker.send(fn, event, invocation_id or str(uuid.uuid4()), limit, 1)
            answered: asyncio.Future[None] = loop.create_future()
            fd = worker.conn.fileno()

            def readable() -> None:
                if not answered.done():
                    answered.set_result(None)

            loop.add_reader(fd, readable)
            try:
                await asyncio.wait_for(answered, limit)
            except TimeoutError:
                worker.timed_out(fn, limit)
            finally:
                loop.remove_reader(fd)
            result = worker.result(fn)
            healthy = True
            return result
        except FunctionError as exc:
            healthy = not isinstance(exc, FunctionTimeout | FunctionCrashed)
            raise
        finally:
            self._checkin(worker, healthy and worker.alive)

    def _try_checkout(self) -> _Worker | None:
        with self._cond:
            if self._idle and not self._closed:
                return self._idle.pop()
        return None

    def _limit(self, fn: FunctionDef) -> threading.BoundedSemaphore | None:
        if fn.concurrency is None:
            return None
        with self._cond:
            sem = self._limits.get(fn.name)
            if sem is None:
                sem = self._limits[fn.name] = threading.BoundedSemaphore(fn.concurrency)
            return sem

    def _checkout(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise FunctionError("the worker pool is closed", error_type="PoolClosed")
                if self._idle:
                    return self._idle.pop()
                if self._count < self._max:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            return _Worker(self._ctx, self._locator)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _checkin(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                if worker.alive:
                    threading.Thread(target=worker.kill, daemon=True).start()
            self._cond.notify()

    @property
    def size(self) -> int:
        with self._cond:
            return self._count

    def close(self, timeout: float = 5.0) -> None:
        """Stop idle workers now; busy ones are stopped as their invocations return."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for worker in idle:
            worker.stop()
            if time.monotonic() > deadline:
                break
