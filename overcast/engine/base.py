"""The engine protocol: the few durable primitives every Overcast service is built on.

An engine stores five primitives — queue, log, kv, blob, lease — and runs any mix of their
operations atomically (``Engine.atomic``). Services speak only this protocol: no SQL, no driver,
no engine-specific type ever crosses it, which is what lets one app run on SQLite or PostgreSQL
unchanged. Values that cross the seam are frozen dataclasses defined here.

Before changing: every engine must pass ``tests/engine/`` unchanged; a new guarantee added here
is a new test there first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

from overcast.clock import Clock
from overcast.errors import InvalidReceipt

T = TypeVar("T")

FIFO_DEDUP_WINDOW = 300.0  # seconds, as SQS
ABSENT = "absent"  # kv condition: the item must not exist


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSpec:
    """A queue's settings, as the engine stores them.

    ``dead_letter`` and ``max_receive_count`` form the redrive policy: a message received
    ``max_receive_count`` times is moved to ``dead_letter`` instead of being delivered again.
    """

    name: str
    fifo: bool = False
    visibility_timeout: float = 30.0
    delay: float = 0.0
    retention: float = 345_600.0
    max_message_size: int = 262_144
    max_receive_count: int | None = None
    dead_letter: str | None = None
    content_based_dedup: bool = False
    created_at: float = 0.0

    def settings(self) -> dict[str, Any]:
        """The settings that make two specs the same queue (everything but ``created_at``)."""
        return {
            "fifo": self.fifo,
            "visibility_timeout": self.visibility_timeout,
            "delay": self.delay,
            "retention": self.retention,
            "max_message_size": self.max_message_size,
            "max_receive_count": self.max_receive_count,
            "dead_letter": self.dead_letter,
            "content_based_dedup": self.content_based_dedup,
        }


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to enqueue. ``body`` is already serialized; ``attributes`` is JSON-able."""

    id: str
    body: str
    attributes: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    priority: int = 0
    group_id: str | None = None
    dedup_id: str | None = None


class StoredMessage(NamedTuple):
    """A message as received (or peeked) from a queue. (A named tuple: receives build one per
    message, and a tuple is built at a third of a frozen dataclass's cost.)"""

    id: str
    body: str
    attributes: dict[str, Any]
    receipt: str
    receive_count: int
    sent_at: float
    first_received_at: float | None
    priority: int = 0
    group_id: str | None = None
    dedup_id: str | None = None
    source_queue: str | None = None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Approximate counts: ``visible`` can be received now, ``in_flight`` were received and not
    yet deleted, ``delayed`` wait for their delay to pass."""

    visible: int
    in_flight: int
    delayed: int
    oldest_sent_at: float | None = None

    def to_dict(self) -> dict[str, int]:
        return {"visible": self.visible, "in_flight": self.in_flight, "delayed": self.delayed}


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record of an append-only log shard; ``seq`` grows strictly within a shard."""

    stream: str
    shard: str
    seq: int
    data: str
    appended_at: float


@dataclass(frozen=True, slots=True)
class Item:
    """A kv item. ``version`` starts at 1 and grows by one on every write."""

    table: str
    pk: str
    sk: str
    value: Any
    version: int
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Blob:
    """An object: bytes (``data`` is None in listings) with metadata."""

    bucket: str
    key: str
    size: int
    etag: str
    metadata: dict[str, str]
    modified_at: float
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """Time-bound ownership of a name."""

    name: str
    owner: str
    expires_at: float


# --------------------------------------------------------------------------------------------
# the transaction: every primitive operation
# --------------------------------------------------------------------------------------------


class Tx(Protocol):
    """The operations of every primitive, run inside one transaction.

    Everything done through one ``Tx`` commits together or not at all. Times are read from the
    engine's clock (``now()``) so that a test's manual clock governs every rule.
    """

    def now(self) -> float:
        """The engine clock's time."""
        ...

    # -- queue ---------------------------------------------------------------------------------
    def queue_create(self, spec: QueueSpec) -> QueueSpec:
        """Create a queue and return it; if it exists with the same settings, return the
        existing spec; with other settings, raise ``QueueAlreadyExists``."""
        ...

    def queue_update(self, spec: QueueSpec) -> None:
        """Replace an existing queue's settings (``QueueNotFound`` if absent)."""
        ...

    def queue_get(self, name: str) -> QueueSpec | None:
        """The queue's spec, or None."""
        ...

    def queue_list(self, prefix: str = "") -> list[QueueSpec]:
        """Queues whose name starts with ``prefix``, by name."""
        ...

    def queue_delete(self, name: str) -> bool:
        """Delete a queue and all its messages; False if it did not exist."""
        ...

    def queue_send(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        """Enqueue messages; return their ids in order.

        On a FIFO queue a message whose ``dedup_id`` was accepted in the last five minutes is
        not enqueued again, and the id of the first one is returned. A message with ``delay``
        becomes visible ``delay`` seconds from now.
        """
        ...

    def queue_receive(
        self, queue: str, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        """Receive up to ``max_messages`` visible messages, hiding them for
        ``visibility_timeout`` seconds, each with a fresh receipt (old receipts stop working).

        Order: higher ``priority`` first, then oldest first. On a FIFO queue, a message group
        with a message in flight yields nothing, and a group's messages come in send order.
        A message already received ``max_receive_count`` times is moved to the dead-letter
        queue instead of being delivered. Expired messages (past retention) are dropped.
        """
        ...

    def queue_delete_message(self, queue: str, receipt: str) -> None:
        """Delete the message the receipt names. A receipt of a message already deleted is
        accepted; a receipt made stale by a later receive raises ``InvalidReceipt``."""
        ...

    def queue_delete_messages(self, queue: str, receipts: Sequence[str]) -> list[InvalidReceipt | None]:
        """Delete the messages several receipts name, together; one result per receipt, in
        order: None when deleted (or already gone), else the ``InvalidReceipt`` that
        ``queue_delete_message`` would raise. A bad receipt never stops the others."""
        ...

    def queue_change_visibility(self, queue: str, receipt: str, seconds: float) -> None:
        """Make the message visible ``seconds`` from now (0: at once). ``InvalidReceipt`` if
        the receipt is stale or the message is not in flight."""
        ...

    def queue_purge(self, queue: str) -> int:
        """Delete every message of the queue; return how many."""
        ...

    def queue_stats(self, queue: str) -> QueueStats:
        """Approximate counts of the queue's messages."""
        ...

    def queue_next_visible_at(self, queue: str) -> float | None:
        """When the next hidden (delayed or in-flight) message becomes visible, if any."""
        ...

    def queue_redrive(self, dead_letter: str, *, to: str | None = None, limit: int = 1000) -> int:
        """Move up to ``limit`` visible messages of a dead-letter queue, in receive order, back
        to the queue each came from (or to ``to``), visible at once with a zero receive count;
        return how many. Messages in flight stay until they are visible again, as SQS's
        message move task only moves what it can receive."""
        ...

    def queue_expire(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` messages past their queue's retention, and dedup records past
        their window; return how many messages."""
        ...

    # -- log -----------------------------------------------------------------------------------
    def log_append(self, stream: str, shard: str, data: str) -> int:
        """Append a record to a shard and return its sequence number (strictly increasing)."""
        ...

    def log_read(self, stream: str, shard: str, after: int = 0, limit: int = 100) -> list[LogRecord]:
        """Records with ``seq > after``, oldest first."""
        ...

    def log_shards(self, stream: str) -> list[str]:
        """The shards of a stream that hold records."""
        ...

    def log_set_checkpoint(self, stream: str, consumer: str, shard: str, seq: int) -> None:
        """Record that ``consumer`` has processed ``shard`` up to ``seq``."""
        ...

    def log_get_checkpoint(self, stream: str, consumer: str, shard: str) -> int:
        """The consumer's checkpoint in the shard (0 if none)."""
        ...

    def log_trim(self, stream: str, before: float, limit: int = 1000) -> int:
        """Delete up to ``limit`` records appended before ``before``; return how many."""
        ...

    # -- kv ------------------------------------------------------------------------------------
    def kv_get(self, table: str, pk: str, sk: str = "") -> Item | None:
        """The item, or None if absent or expired."""
        ...

    def kv_put(
        self,
        table: str,
        pk: str,
        sk: str,
        value: Any,
        *,
        condition: int | str | None = None,
        expires_at: float | None = None,
    ) -> Item:
        """Write an item. ``condition`` is None (always), ``ABSENT`` (must not exist) or a
        version the current item must have; otherwise raise ``ConditionFailed``."""
        ...

    def kv_delete(self, table: str, pk: str, sk: str = "", *, condition: int | None = None) -> bool:
        """Delete an item (if at version ``condition``); False if it did not exist."""
        ...

    def kv_query(
        self,
        table: str,
        pk: str,
        *,
        prefix: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 1000,
        reverse: bool = False,
    ) -> list[Item]:
        """Items of one partition ordered by sort key, optionally within ``[start, end)`` and/or
        with a sort-key prefix. Expired items are left out."""
        ...

    def kv_expire(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` expired items; return how many."""
        ...

    # -- blob ----------------------------------------------------------------------------------
    def blob_put(self, bucket: str, key: str, data: bytes, metadata: dict[str, str] | None = None) -> Blob:
        """Store bytes under a key (replacing any); return the stored object without data."""
        ...

    def blob_get(self, bucket: str, key: str) -> Blob | None:
        """The object with its data, or None."""
        ...

    def blob_delete(self, bucket: str, key: str) -> bool:
        """Delete an object; False if it did not exist."""
        ...

    def blob_list(self, bucket: str, prefix: str = "", *, after: str = "", limit: int = 1000) -> list[Blob]:
        """Objects (without data) by key, with keys after ``after``."""
        ...

    # -- lease ---------------------------------------------------------------------------------
    def lease_acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lease for ``ttl`` seconds; False if another owner holds it."""
        ...

    def lease_release(self, name: str, owner: str) -> bool:
        """Give the lease up if ``owner`` holds it."""
        ...

    def lease_get(self, name: str) -> Lease | None:
        """The current, unexpired holder."""
        ...


# --------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------


class Watch(Protocol):
    """A change notification for one queue, taken before the queue was last read."""

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` real seconds, returning early when the queue may have changed
        since the watch was taken (a send, a visibility change, the clock advanced, a write by
        another process). Spurious returns are allowed."""
        ...


class Engine(Protocol):
    """A storage engine.

    ``atomic(fn)`` runs ``fn(tx)`` in one write transaction and returns its result; if ``fn``
    raises, nothing it did is kept and the error propagates. ``fn`` may run more than once (an
    engine retries a transaction that lost its connection or a serialization race), so it must
    do nothing but work through ``tx``. ``read(fn)`` runs ``fn(tx)`` on a
    consistent snapshot; write operations inside it fail. Both are safe from any thread.
    """

    url: str
    clock: Clock

    def atomic(self, fn: Callable[[Tx], T]) -> T: ...

    def read(self, fn: Callable[[Tx], T]) -> T: ...

    def watch(self, queue: str) -> Watch:
        """Start watching a queue for changes. Take the watch *before* looking at the queue;
        its ``wait`` then returns as soon as anything may have changed since."""
        ...

    def close(self) -> None:
        """Release connections; the engine is not used afterwards."""
        ...
