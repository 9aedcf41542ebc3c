"""Deliveries: getting one payload to one target, durably, with retries and a dead-letter queue.

Shared by the bus (rule targets), topics (subscriptions) and the scheduler (schedule targets).
A ``Delivery`` is a self-describing JSON record. Targets of a *direct* kind (queue, function,
topic, bus, and workflow — registered by ``overcast.workflows.targets``) are written inside the transaction that routes the
event, so an accepted event reaches them or nothing commits. A delivery that cannot be made
there (its queue is missing, ...) and every delivery of an *I/O* kind (HTTP) is enqueued on the
internal ``overcast:deliveries`` queue, where the ``Deliverer`` role retries it with backoff
until its attempts or its age run out, then sends it to its dead-letter queue.

Before changing: a direct kind's ``deliver_in_tx`` must check everything before it writes
anything, and raise ``DeliveryFailed`` on failure — the routing transaction goes on without it.
Register new kinds with ``register_target_kind`` (the workflows package registers ``workflow``
when it is imported; ``Target.validate`` imports it on first use of that kind).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from overcast.engine.base import NewMessage, Tx
from overcast.errors import OvercastError
from overcast.services.queues import INTERNAL_PREFIX, make_spec

if TYPE_CHECKING:
    from overcast.app import App

log = logging.getLogger("overcast.delivery")

DELIVERIES = f"{INTERNAL_PREFIX}deliveries"
VISIBILITY = 120.0  # seconds a delivery attempt may take before another worker retries it
THREADS = 4
POLL_WAIT = 1.0
_JSON = "$json"


class DeliveryFailed(Exception):
    """A delivery attempt failed; ``retryable`` says whether trying again may help."""

    def __init__(self, code: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass
class Delivery:
    """One payload for one target, and how hard to try."""

    kind: str
    dest: str
    body: str
    is_json: bool = True
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    group_id: str | None = None
    dedup_id: str | None = None
    delay: float = 0.0
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    origin: dict[str, str] = field(default_factory=dict)
    max_attempts: int = 186
    max_age: float = 86_400.0
    backoff: tuple[float, float, str] = (2.0, 300.0, "exponential")
    dead_letter: str | None = None
    dlq_style: str = "eventbridge"
    first_at: float = 0.0

    @property
    def payload(self) -> Any:
        """The body as a value: parsed JSON, or the text."""
        return json.loads(self.body) if self.is_json else self.body

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        data = dict(data)
        data["backoff"] = tuple(data.get("backoff") or (2.0, 300.0, "exponential"))
        return cls(**data)

    def delay_after(self, attempt: int) -> float:
        first, cap, kind = self.backoff
        delay = first * (2 ** (attempt - 1)) if kind == "exponential" else first
        return float(min(delay, cap))


class TargetKind(Protocol):
    """How to deliver to one kind of target. A ``direct`` kind writes inside the routing
    transaction (``deliver_in_tx``); the others do I/O outside it (``deliver``)."""

    direct: bool

    def deliver_in_tx(self, tx: Tx, delivery: Delivery) -> None: ...

    def deliver(self, delivery: Delivery) -> None: ...


TARGET_KINDS: dict[str, TargetKind] = {}


def register_target_kind(name: str, kind: TargetKind) -> None:
    """Make ``Target(kind=name, ...)`` deliverable (how workflows plug in)."""
    TARGET_KINDS[name] = kind


def deliveries_spec() -> Any:
    return make_spec(DELIVERIES, visibility_timeout=VISIBILITY, retention=1_209_600, internal=True)


# -- the direct kinds ------------------------------------------------------------------------------


def send_to_queue(tx: Tx, delivery: Delivery) -> None:
    spec = tx.queue_get(delivery.dest)
    if spec is None:
        raise DeliveryFailed("QueueNotFound", f"queue {delivery.dest!r} does not exist")
    size = len(delivery.body.encode()) + sum(
        len(k) + len(v.get("DataType", "")) + len(v.get("StringValue", v.get("BinaryValue", "")))
        for k, v in delivery.attributes.items()
    )
    if size > spec.max_message_size:
        raise DeliveryFailed("MessageTooLarge", f"{size} bytes is over queue {delivery.dest!r}'s maximum of {spec.max_message_size}", retryable=False)
    group_id, dedup_id = delivery.group_id, delivery.dedup_id
    if spec.fifo:
        if not group_id:
            raise DeliveryFailed("MissingMessageGroupId", f"FIFO queue {delivery.dest!r} needs a message group id (set message_group_id on the target)", retryable=False)
        dedup_id = dedup_id or hashlib.sha256(delivery.body.encode()).hexdigest()
    else:
        dedup_id = None
    stored: dict[str, Any] = {"attrs": delivery.attributes} if delivery.attributes else {}
    if delivery.is_json:
        stored[_JSON] = True
    tx.queue_send(delivery.dest, [NewMessage(
        id=str(uuid.uuid4()), body=delivery.body, attributes=stored,
        delay=0.0 if spec.fifo else delivery.delay, group_id=group_id, dedup_id=dedup_id,
    )])


def invoke_in_tx(tx: Tx, function: str, event: Any, *, delay: float = 0.0) -> str:
    """Queue an asynchronous invocation of ``function`` inside ``tx`` (as ``invoke_async``)."""
    queue = f"{INTERNAL_PREFIX}invoke:{function}"
    if tx.queue_get(queue) is None:
        raise DeliveryFailed("FunctionNotFound", f"function {function!r} is not declared by any app on this engine")
    invocation_id = str(uuid.uuid4())
    body = json.dumps({"invocation_id": invocation_id, "event": event, "queued_at": tx.now()})
    tx.queue_send(queue, [NewMessage(id=invocation_id, body=body, attributes={_JSON: True}, delay=delay)])
    return invocation_id


class QueueKind:
    direct = True

    def deliver_in_tx(self, tx: Tx, delivery: Delivery) -> None:
        send_to_queue(tx, delivery)

    def deliver(self, delivery: Delivery) -> None:  # pragma: no cover - direct kind
        raise NotImplementedError


class FunctionKind:
    direct = True

    def deliver_in_tx(self, tx: Tx, delivery: Delivery) -> None:
        invoke_in_tx(tx, delivery.dest, delivery.payload, delay=delivery.delay)

    def deliver(self, delivery: Delivery) -> None:  # pragma: no cover - direct kind
        raise NotImplementedError


class TopicKind:
    direct = True

    def deliver_in_tx(self, tx: Tx, delivery: Delivery) -> None:
        from overcast.services.topics.topic import publish_in_tx

        publish_in_tx(tx, delivery.dest, delivery.body, attributes=delivery.attributes,
                      group_id=delivery.group_id, dedup_id=delivery.dedup_id, delay=delivery.delay)

    def deliver(self, delivery: Delivery) -> None:  # pragma: no cover - direct kind
        raise NotImplementedError


class BusKind:
    direct = True

    def deliver_in_tx(self, tx: Tx, delivery: Delivery) -> None:
        from overcast.services.bus.bus import forward_in_tx

        forward_in_tx(tx, delivery.dest, delivery.payload, delay=delivery.delay)

    def deliver(self, delivery: Delivery) -> None:  # pragma: no cover - direct kind
        raise NotImplementedError


# -- HTTP ------------------------------------------------------------------------------------------

RETRYABLE_STATUS = {401, 407, 409, 429}


class HttpKind:
    """POSTs the body; 2xx is success; 401/407/409/429/5xx and network errors are retried."""

    direct = False

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()

    def deliver_in_tx(self, tx: Tx, delivery: Delivery) -> None:  # pragma: no cover - I/O kind
        raise NotImplementedError

    def deliver(self, delivery: Delivery) -> None:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=False)
        headers = {"content-type": "application/json; charset=utf-8" if delivery.is_json else "text/plain; charset=utf-8"}
        headers.update({k.lower(): v for k, v in delivery.headers.items()})
        try:
            response = self._client.request(
                delivery.method, delivery.dest, content=delivery.body.encode(), headers=headers,
                timeout=delivery.timeout,
            )
        except httpx.TimeoutException:
            raise DeliveryFailed("Timeout", f"{delivery.dest} did not answer within {delivery.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed("ConnectionError", f"{delivery.dest}: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        retryable = status >= 500 or status in RETRYABLE_STATUS
        raise DeliveryFailed(f"HTTP{status}", f"{delivery.dest} answered {status} {response.reason_phrase}", retryable=retryable)


register_target_kind("queue", QueueKind())
register_target_kind("function", FunctionKind())
register_target_kind("topic", TopicKind())
register_target_kind("bus", BusKind())
register_target_kind("http", HttpKind())


# -- routing helpers -------------------------------------------------------------------------------


class BufferedTx:
    """A transaction that looks each queue up once and sends each queue's messages in one call
    when flushed: a routing batch writes hundreds of deliveries to a few queues. Everything
    else passes through. Sends keep their order per queue; ``flush`` before the tx ends."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self._specs: dict[str, Any] = {}
        self._sends: dict[str, list[NewMessage]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def queue_get(self, name: str) -> Any:
        if name not in self._specs:
            self._specs[name] = self._tx.queue_get(name)
        return self._specs[name]

    def queue_send(self, queue: str, messages: Any) -> list[str]:
        if self.queue_get(queue) is None:
            return self._tx.queue_send(queue, messages)  # raises QueueNotFound now, as it would
        self._sends.setdefault(queue, []).extend(messages)
        return [m.id for m in messages]

    def flush(self) -> None:
        sends, self._sends = self._sends, {}
        for queue, messages in sends.items():
            self._tx.queue_send(queue, messages)



def deliver_or_defer(tx: Tx, delivery: Delivery) -> None:
    """Inside a routing transaction: write a direct delivery now; enqueue anything else (and a
    direct delivery that failed) for the ``Deliverer``. Never raises ``DeliveryFailed``."""
    kind = TARGET_KINDS.get(delivery.kind)
    if kind is not None and kind.direct:
        try:
            kind.deliver_in_tx(tx, delivery)
            return
        except DeliveryFailed as exc:
            if not exc.retryable:
                dead_letter_in_tx(tx, delivery, exc, attempts=1, condition=None)
                return
            log.warning("delivery to %s %r deferred: %s", delivery.kind, delivery.dest, exc)
    defer_in_tx(tx, delivery)


def defer_in_tx(tx: Tx, delivery: Delivery) -> None:
    tx.queue_send(DELIVERIES, [NewMessage(id=str(uuid.uuid4()), body=delivery.to_json(), attributes={_JSON: True},
                                          delay=delivery.delay)])


def dead_letter_in_tx(tx: Tx, delivery: Delivery, error: DeliveryFailed, *, attempts: int, condition: str | None) -> None:
    """Send what could not be delivered to the delivery's dead-letter queue (or log it)."""
    where = f"{delivery.origin.get('type', 'delivery')} {delivery.origin.get('arn', '')} -> {delivery.kind} {delivery.dest!r}"
    target = delivery.dead_letter
    spec = tx.queue_get(target) if target else None
    if spec is None or target is None:
        log.error("%s: dropped after %d attempt(s): %s%s", where, attempts, error,
                  f" (dead-letter queue {target!r} does not exist)" if target else "")
        return
    if delivery.dlq_style == "sns":
        fields = {"ErrorCode": error.code, "ErrorMessage": error.message[:1000], "RequestID": str(uuid.uuid4())}
    else:
        fields = {
            "RULE_ARN": delivery.origin.get("arn", ""),
            "TARGET_ARN": delivery.origin.get("target_arn", ""),
            "ERROR_CODE": error.code,
            "ERROR_MESSAGE": error.message[:1000],
            "RETRY_ATTEMPTS": str(max(0, attempts - 1)),
        }
        if condition:
            fields["EXHAUSTED_RETRY_CONDITION"] = condition
    attributes = {k: {"DataType": "String", "StringValue": v} for k, v in fields.items() if v}
    stored: dict[str, Any] = {"attrs": attributes}
    if delivery.is_json:
        stored[_JSON] = True
    tx.queue_send(target, [NewMessage(
        id=str(uuid.uuid4()), body=delivery.body, attributes=stored,
        group_id=(delivery.group_id or "dead-letter") if spec.fifo else None,
        dedup_id=str(uuid.uuid4()) if spec.fifo else None,
    )])
    log.warning("%s: sent to dead-letter queue %r after %d attempt(s): %s", where, target, attempts, error)


# -- the runtime role ------------------------------------------------------------------------------


class Deliverer:
    """Runtime role: works the ``overcast:deliveries`` queue with a few threads, in parallel."""

    def __init__(self, app: App, threads: int = THREADS) -> None:
        self.app = app
        self.queue = app.get_queue(DELIVERIES)
        self.stopping = threading.Event()
        self.delivered = 0
        self.failed = 0
        self._threads = [threading.Thread(target=self._loop, name=f"deliverer-{i}", daemon=True) for i in range(threads)]

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
                self.run_once(wait=POLL_WAIT, batch=1)  # one at a time: the threads share the work
            except Exception:  # keep delivering whatever happens; report it
                if self.stopping.is_set():
                    return
                log.exception("deliverer failed")
                self.stopping.wait(1.0)

    def run_once(self, wait: float = 0.0, batch: int = 10) -> int:
        """Attempt the deliveries that are due (up to ``batch``); return how many were attempted."""
        messages = self.queue.receive(batch, wait=wait)
        for message in messages:
            if self.stopping.is_set():
                self.queue.change_visibility(message, 0)
                continue
            self._attempt(message)
        return len(messages)

    def _attempt(self, message: Any) -> None:
        delivery = Delivery.from_dict(message.body)
        kind = TARGET_KINDS.get(delivery.kind)
        engine = self.app.engine
        try:
            if kind is None:
                raise DeliveryFailed("UnknownTargetKind", f"no target kind {delivery.kind!r} is registered", retryable=True)
            if kind.direct:
                def write(tx: Tx) -> None:
                    kind.deliver_in_tx(tx, delivery)
                    tx.queue_delete_message(self.queue.name, message.receipt)

                engine.atomic(write)
            else:
                kind.deliver(delivery)
                self.queue.delete(message)
            self.delivered += 1
        except DeliveryFailed as exc:
            self._failed(message, delivery, exc)
        except OvercastError as exc:  # a stale receipt: someone else has it now
            log.warning("delivery to %s %r: %s", delivery.kind, delivery.dest, exc)

    def _failed(self, message: Any, delivery: Delivery, error: DeliveryFailed) -> None:
        attempts = message.receive_count
        now = self.app.engine.clock.now()
        age = now - delivery.first_at
        if error.retryable and attempts < delivery.max_attempts and age < delivery.max_age:
            delay = delivery.delay_after(attempts)
            log.warning("delivery to %s %r failed (attempt %d), retrying in %gs: %s",
                        delivery.kind, delivery.dest, attempts, delay, error)
            self.queue.change_visibility(message, min(delay, 43_200.0))
            return
        condition = None
        if error.retryable:
            condition = "MaximumRetryAttempts" if attempts >= delivery.max_attempts else "MaximumEventAgeInSeconds"
        self.failed += 1

        def finish(tx: Tx) -> None:
            dead_letter_in_tx(tx, delivery, error, attempts=attempts, condition=condition)
            tx.queue_delete_message(self.queue.name, message.receipt)

        self.app.engine.atomic(finish)
