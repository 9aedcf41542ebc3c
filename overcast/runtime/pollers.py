"""Pollers: threads that turn queued work into invocations.

``QueuePoller`` is an ``@app.on_queue`` event-source mapping (batches, partial failures).
``AsyncInvocationPoller`` runs ``invoke_async`` events with retries and the on-failure queue.

Before changing: a poller deletes a message only after its handler succeeded for it; anything
else leaves it to come back after its visibility timeout, which is what makes a crash at any
point lose nothing (at-least-once).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import traceback
import uuid
from typing import TYPE_CHECKING, Any

from overcast.engine.base import NewMessage
from overcast.errors import FunctionError, OvercastError
from overcast.events import Message, SQSEvent, function_arn

if TYPE_CHECKING:
    from overcast.app import App
    from overcast.runtime.registry import FunctionDef, QueueSourceDef

log = logging.getLogger("overcast.runtime")

POLL_WAIT = 1.0  # seconds a long poll waits before re-checking for shutdown


def failed_ids(result: Any, batch: SQSEvent) -> set[str] | None:
    """The message ids a handler reported as failed, or None if the result means all succeeded.

    Accepts a list of ids (or of ``Message``), Lambda's ``{"batchItemFailures": [...]}``, or None.
    """
    if result is None:
        return None
    items: Any = result
    if isinstance(result, dict):
        if "batchItemFailures" not in result:
            return None
        items = [entry.get("itemIdentifier") if isinstance(entry, dict) else entry
                 for entry in result["batchItemFailures"] or []]
    if not isinstance(items, list | tuple | set):
        return None
    ids = {item.id if isinstance(item, Message) else str(item) for item in items}
    known = {m.id for m in batch}
    unknown = ids - known
    if unknown:
        # Lambda fails the whole batch when an identifier is not in it; so do we.
        return known
    return ids


class Poller:
    """Threads that each call ``poll_once()`` until stopped; an error is logged and the
    thread carries on after a second. Roles built on it have start/stop/join."""

    def __init__(self, app: App, threads: int, name: str) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(threads)
        ]
        self.processed = 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except OvercastError as exc:
                if self.stopping.is_set():
                    return
                log.error("%s: %s", threading.current_thread().name, exc)
                self.stopping.wait(1.0)
            except Exception:  # keep polling whatever happens; report it
                if self.stopping.is_set():
                    return
                log.exception("%s failed", threading.current_thread().name)
                self.stopping.wait(1.0)

    def poll_once(self) -> None:
        raise NotImplementedError


class QueuePoller(Poller):
    """Polls one queue for one function, ``concurrency`` batches at a time."""

    def __init__(self, app: App, source: QueueSourceDef) -> None:
        super().__init__(app, source.concurrency, f"poll-{source.queue}")
        self.source = source
        self.queue = app.get_queue(source.queue)
        self.function = app.functions[source.function]

    def poll_once(self) -> None:
        source = self.source
        messages = self.queue.receive(min(10, source.batch_size), wait=POLL_WAIT)
        if not messages:
            return
        if self.stopping.is_set():
            self._release(messages)
            return
        if source.max_batching_window > 0 and len(messages) < source.batch_size:
            # gather more until the batch is full or the window closes, as Lambda's batching window
            deadline = time.monotonic() + source.max_batching_window
            while len(messages) < source.batch_size and not self.stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                messages += self.queue.receive(
                    min(10, source.batch_size - len(messages)), wait=min(remaining, 20)
                )
        batch = SQSEvent(queue=self.queue.name, records=tuple(messages))
        try:
            result = self.app.pool.invoke(self.function, batch)
        except FunctionError as exc:
            log.warning(
                "on_queue(%s) handler %s failed on a batch of %d: %s: %s",
                self.queue.name, self.function.name, len(batch), exc.error_type, exc.error_message,
            )
            return  # the whole batch comes back after its visibility timeout
        failed = failed_ids(result, batch) or set()
        done = [m for m in messages if m.id not in failed]
        for start in range(0, len(done), 10):
            for outcome in self.queue.delete_batch(done[start : start + 10]):
                if outcome.error is not None:
                    log.warning("on_queue(%s): could not delete a message: %s", self.queue.name, outcome.error)
        self.processed += len(done)

    def _release(self, messages: list[Message]) -> None:
        for message in messages:
            with contextlib.suppress(OvercastError):
                self.queue.change_visibility(message, 0)


class AsyncInvocationPoller(Poller):
    """Runs a function's asynchronous invocations, with retries and an on-failure queue."""

    def __init__(self, app: App, fn: FunctionDef, queue_name: str) -> None:
        super().__init__(app, fn.concurrency or 2, f"async-{fn.name}")
        self.function = fn
        self.queue = app.get_queue(queue_name)

    def poll_once(self) -> None:
        fn = self.function
        messages = self.queue.receive(1, wait=POLL_WAIT, visibility_timeout=fn.timeout + 30)
        for message in messages:
            payload = message.body
            attempt = message.receive_count
            try:
                self.app.pool.invoke(
                    fn, payload["event"], invocation_id=payload["invocation_id"], attempt=attempt
                )
            except FunctionError as exc:
                self._failed(message, payload, exc, attempt)
                continue
            self.queue.delete(message)
            self.processed += 1

    def _failed(self, message: Message, payload: dict[str, Any], exc: FunctionError, attempt: int) -> None:
        fn = self.function
        if attempt <= fn.retries:
            delay = fn.retry_delay * (2 ** (attempt - 1))
            log.warning(
                "function %s failed (attempt %d of %d), retrying in %.3gs: %s",
                fn.name, attempt, fn.retries + 1, delay, exc,
            )
            self.queue.change_visibility(message, delay)
            return
        log.error("function %s failed after %d attempts: %s", fn.name, attempt, exc)
        record = failure_record(fn, payload, exc, attempt, self.app.region, self.app.account)
        target = fn.on_failure
        engine = self.app.engine

        def finish(tx: Any) -> None:
            # the failure record and the removal of the invocation commit together
            if target is not None:
                tx.queue_send(target, [NewMessage(id=str(uuid.uuid4()), body=json.dumps(record),
                                                  attributes={"$json": True})])
            tx.queue_delete_message(self.queue.name, message.receipt)

        engine.atomic(finish)


def failure_record(
    fn: FunctionDef, payload: dict[str, Any], exc: FunctionError, attempts: int, region: str, account: str
) -> dict[str, Any]:
    """What an on-failure destination receives, in Lambda's destination record shape."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        "requestContext": {
            "requestId": payload.get("invocation_id"),
            "functionArn": function_arn(fn.name, region, account) + ":$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload.get("event"),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorType": exc.error_type,
            "errorMessage": exc.error_message,
            "trace": exc.traceback.splitlines() if exc.traceback else traceback.format_stack(limit=0),
        },
    }
