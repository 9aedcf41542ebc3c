"""Queues with Amazon SQS semantics, over the engine's queue primitive.

This layer validates and shapes (names, attribute types, sizes, FIFO rules, batch limits) and
turns the engine's stored rows into ``Message`` objects; the engine does the atomic part
(visibility, receive counts, dead-lettering, FIFO group locking, dedup window).

Before changing: limits and error texts follow the SQS documentation; where Overcast differs on
purpose (priority, message size up to 1 MiB), docs/reference/queues.md says so.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from overcast.engine.base import Engine, NewMessage, QueueSpec, StoredMessage
from overcast.errors import (
    BatchLimitExceeded,
    InvalidAttribute,
    MessageTooLarge,
    OvercastError,
    QueueNotFound,
    ValidationError,
)
from overcast.events import Message, attribute_value, decode_body, encode_body, message_id

MAX_BATCH = 10
MAX_WAIT = 20.0
MAX_VISIBILITY = 43_200.0
MAX_DELAY = 900.0
MAX_ATTRIBUTES = 10
INTERNAL_PREFIX = "overcast:"  # queues Overcast keeps for itself; ':' is not allowed in user names
_ENTRY_FIELDS = frozenset({"id", "body", "attributes", "delay", "group_id", "dedup_id", "priority"})
_SPEC_TTL = 1.0  # seconds a Queue handle trusts the settings it read
_JSON = "$json"  # reserved key in stored attributes: the body is JSON text

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# what SQS refuses in a body or attribute: characters outside #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
# and the supplementary planes (NUL among them)
_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")


def validate_queue_name(name: str) -> None:
    """SQS names: 1–80 characters of letters, digits, ``-`` and ``_``, plus ``.fifo`` for FIFO."""
    base = name[: -len(".fifo")] if name.endswith(".fifo") else name
    if not isinstance(name, str) or not _NAME.match(base) or len(name) > 80:
        raise ValidationError(
            f"invalid queue name {name!r}: use 1-80 letters, digits, '-' or '_' "
            "(and end with '.fifo' for a FIFO queue)"
        )


def make_spec(
    name: str,
    *,
    visibility_timeout: float = 30,
    delay: float = 0,
    retention: float = 345_600,
    max_message_size: int = 262_144,
    max_receive_count: int | None = None,
    dead_letter: str | None = None,
    content_based_dedup: bool = False,
    internal: bool = False,
) -> QueueSpec:
    """Validate queue settings against the SQS limits and build the engine's spec."""
    if not internal:
        validate_queue_name(name)
    _check_range("visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY, name)
    _check_range("delay", delay, 0, MAX_DELAY, name)
    _check_range("retention", retention, 60, 1_209_600, name)
    _check_range("max_message_size", max_message_size, 1024, 1_048_576, name)
    if max_receive_count is not None:
        _check_range("max_receive_count", max_receive_count, 1, 1000, name)
    if (max_receive_count is None) != (dead_letter is None):
        raise ValidationError(
            f"queue {name!r}: a redrive policy needs both max_receive_count and dead_letter"
        )
    fifo = name.endswith(".fifo")
    if dead_letter is not None:
        validate_queue_name(dead_letter)
        if dead_letter.endswith(".fifo") != fifo:
            raise ValidationError(
                f"queue {name!r}: the dead-letter queue of a "
                f"{'FIFO' if fifo else 'standard'} queue must be a "
                f"{'FIFO' if fifo else 'standard'} queue, not {dead_letter!r}"
            )
        if dead_letter == name:
            raise ValidationError(f"queue {name!r} cannot be its own dead-letter queue")
    if content_based_dedup and not fifo:
        raise ValidationError(f"queue {name!r}: content_based_dedup applies only to FIFO queues")
    return QueueSpec(
        name=name,
        fifo=fifo,
        visibility_timeout=float(visibility_timeout),
        delay=float(delay),
        retention=float(retention),
        max_message_size=int(max_message_size),
        max_receive_count=max_receive_count,
        dead_letter=dead_letter,
        content_based_dedup=content_based_dedup,
    )


def _check_range(what: str, value: float, low: float, high: float, queue: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(f"queue {queue!r}: {what} must be between {low:g} and {high:g}, not {value!r}")


def normalize_attributes(attributes: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """Turn ``{"kind": "new", "n": 3, "raw": b"..."}`` (or SQS-shaped values) into SQS message
    attributes, raising ``InvalidAttribute`` with the attribute's name for anything SQS refuses."""
    if not attributes:
        return {}
    if not isinstance(attributes, dict):
        raise InvalidAttribute(f"message attributes must be a dict of name to value, not {type(attributes).__name__}")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidAttribute(f"a message may carry at most {MAX_ATTRIBUTES} attributes, not {len(attributes)}")
    out: dict[str, dict[str, str]] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not _ATTR_NAME.match(name) or name.startswith(".") or name.endswith(".") or ".." in name:
            raise InvalidAttribute(
                f"attribute name {name!r}: use 1-256 letters, digits, '_', '-' or '.' "
                "(no leading, trailing or repeated '.')"
            )
        if name.lower().startswith(("aws.", "amazon.")):
            raise InvalidAttribute(f"attribute name {name!r}: names starting with 'AWS.' or 'Amazon.' are reserved")
        out[name] = _attribute(name, value)
        bad = _INVALID_CHARS.search(out[name].get("StringValue", ""))
        if bad is not None:
            raise InvalidAttribute(f"attribute {name!r}: U+{ord(bad.group()):04X} is not allowed in a value")
    return out


def _attribute(name: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        data_type = value.get("DataType")
        if not isinstance(data_type, str) or data_type.split(".", 1)[0] not in ("String", "Number", "Binary"):
            raise InvalidAttribute(f"attribute {name!r}: DataType must be String, Number or Binary (optionally with a .suffix)")
        base = data_type.split(".", 1)[0]
        if base == "Binary":
            raw = value.get("BinaryValue")
            if isinstance(raw, bytes | bytearray):
                raw = base64.b64encode(raw).decode()
            if not isinstance(raw, str):
                raise InvalidAttribute(f"attribute {name!r}: a Binary attribute needs BinaryValue")
            return {"DataType": data_type, "BinaryValue": raw}
        text = value.get("StringValue")
        if not isinstance(text, str) or text == "":
            raise InvalidAttribute(f"attribute {name!r}: StringValue must be a non-empty string")
        if base == "Number":
            _check_number(name, text)
        return {"DataType": data_type, "StringValue": text}
    if isinstance(value, bool):
        raise InvalidAttribute(f"attribute {name!r}: booleans are not an SQS type; send 'true' or 1")
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
        _check_number(name, text)
        return {"DataType": "Number", "StringValue": text}
    if isinstance(value, bytes | bytearray):
        return {"DataType": "Binary", "BinaryValue": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, str):
        if value == "":
            raise InvalidAttribute(f"attribute {name!r}: a value may not be empty")
        return {"DataType": "String", "StringValue": value}
    raise InvalidAttribute(
        f"attribute {name!r}: {type(value).__name__} is not a str, number, bytes or "
        "{'DataType': ..., 'StringValue': ...}"
    )


def _check_number(name: str, text: str) -> None:
    try:
        number = float(text)
    except ValueError:
        raise InvalidAttribute(f"attribute {name!r}: {text!r} is not a number") from None
    if number != number or abs(number) > 1e126 or (number != 0 and abs(number) < 1e-128):
        raise InvalidAttribute(f"attribute {name!r}: {text!r} is outside the range SQS numbers allow")


def message_size(body: str, attributes: dict[str, dict[str, str]]) -> int:
    """The size SQS counts: the body plus each attribute's name, type and value, in bytes."""
    size = len(body) if body.isascii() else len(body.encode())
    for name, attr in attributes.items():
        size += len(name.encode()) + len(attr["DataType"].encode())
        size += len(attr.get("StringValue", attr.get("BinaryValue", "")).encode())
    return size


class _Prepared(NamedTuple):
    message: NewMessage
    size: int


@dataclass(frozen=True)
class BatchResult:
    """One entry's outcome in a batch: ``message_id`` on success, ``error`` otherwise."""

    entry_id: str
    message_id: str | None = None
    error: OvercastError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Queue:
    """A queue. Get one from ``app.queue(...)`` (declares it) or ``app.get_queue(name)``.

    Every method works from any process that holds the app; the queue is created in the engine
    when first used if the app declares it.
    """

    def __init__(self, name: str, engine: Callable[[], Engine], spec: QueueSpec | None = None) -> None:
        self.name = name
        self._engine = engine
        self._declared = spec
        self._cached: tuple[float, QueueSpec] | None = None

    # -- settings ------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine()

    @property
    def spec(self) -> QueueSpec:
        """The queue's settings as stored (``QueueNotFound`` if it does not exist).

        Read at most once a second: a send or receive need not pay a read for settings that
        almost never change."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < _SPEC_TTL:
            return self._cached[1]
        spec = self.engine.read(lambda tx: tx.queue_get(self.name))
        if spec is None:
            self._cached = None
            raise QueueNotFound(f"queue {self.name!r} does not exist")
        self._cached = (now, spec)
        return spec

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    # -- sending -------------------------------------------------------------------------------

    def send(
        self,
        body: Any,
        *,
        attributes: dict[str, Any] | None = None,
        delay: float | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        priority: int = 0,
    ) -> str:
        """Send one message and return its id (on a FIFO queue, a duplicate within five
        minutes returns the first message's id and enqueues nothing)."""
        message = self.prepare(body, attributes=attributes, delay=delay, group_id=group_id,
                               dedup_id=dedup_id, priority=priority)
        return self.engine.atomic(lambda tx: tx.queue_send(self.name, [message]))[0]

    def prepare(
        self,
        body: Any,
        *,
        attributes: dict[str, Any] | None = None,
        delay: float | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        priority: int = 0,
    ) -> NewMessage:
        """Validate and encode a message as ``send`` would, without sending it: for callers
        that put several sends (or a send and other writes) in one engine transaction with
        ``tx.queue_send(queue.name, [message])``."""
        return self._prepare(self.spec, body, attributes, delay, group_id, dedup_id, priority).message

    def send_batch(self, entries: Sequence[Any]) -> list[BatchResult]:
        """Send up to 10 messages. Each entry is a body, or a dict with ``body`` and any of
        ``id``, ``attributes``, ``delay``, ``group_id``, ``dedup_id``, ``priority``. Entries that
        are invalid fail alone; the rest are sent together."""
        if not isinstance(entries, Sequence) or isinstance(entries, str | bytes):
            raise ValidationError("send_batch takes a list of entries")
        if not entries:
            raise ValidationError("send_batch needs at least one entry")
        if len(entries) > MAX_BATCH:
            raise BatchLimitExceeded(f"a batch holds at most {MAX_BATCH} entries, not {len(entries)}")
        spec = self.spec
        results: list[BatchResult | None] = [None] * len(entries)
        prepared: list[tuple[int, str, NewMessage]] = []
        seen: set[str] = set()
        total = 0
        for index, entry in enumerate(entries):
            full = isinstance(entry, dict) and "body" in entry  # else the entry is the body
            entry_id = str(entry.get("id", index)) if full else str(index)
            if entry_id in seen:
                raise ValidationError(f"send_batch: entry id {entry_id!r} appears twice")
            seen.add(entry_id)
            try:
                if full:
                    unknown = entry.keys() - _ENTRY_FIELDS
                    if unknown:
                        raise ValidationError(f"unknown entry field(s): {', '.join(sorted(unknown))}")
                    message = self._prepare(
                        spec,
                        entry["body"],
                        entry.get("attributes"),
                        entry.get("delay"),
                        entry.get("group_id"),
                        entry.get("dedup_id"),
                        entry.get("priority", 0),
                    )
                else:
                    message = self._prepare(spec, entry, None, None, None, None, 0)
            except OvercastError as exc:
                results[index] = BatchResult(entry_id, error=exc)
                continue
            total += message.size
            prepared.append((index, entry_id, message.message))
        if total > spec.max_message_size:
            raise MessageTooLarge(
                f"queue {self.name!r}: the batch totals {total} bytes, over the "
                f"{spec.max_message_size}-byte limit for one request"
            )
        if prepared:
            ids = self.engine.atomic(lambda tx: tx.queue_send(self.name, [m for _, _, m in prepared]))
            for (index, entry_id, _), message_id in zip(prepared, ids, strict=True):
                results[index] = BatchResult(entry_id, message_id=message_id)
        return [r for r in results if r is not None]

    def _prepare(
        self,
        spec: QueueSpec,
        body: Any,
        attributes: dict[str, Any] | None,
        delay: float | None,
        group_id: str | None,
        dedup_id: str | None,
        priority: int,
    ) -> _Prepared:
        # runs once per message sent: the common case (a JSON body, no attributes, a standard
        # queue) takes the short way through every check
        if type(body) is str:
            text, is_json = body, False
        else:
            try:
                text, is_json = encode_body(body)
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"queue {self.name!r}: the body is not a JSON value: {exc}") from None
        attrs = normalize_attributes(attributes) if attributes else {}
        # JSON text is ASCII with every control character escaped: nothing SQS refuses
        bad = None if is_json else _INVALID_CHARS.search(text)
        if bad is not None:
            raise ValidationError(
                f"queue {self.name!r}: the body holds a character SQS does not allow "
                f"(U+{ord(bad.group()):04X} at position {bad.start()})"
            )
        size = message_size(text, attrs)
        if size > spec.max_message_size:
            raise MessageTooLarge(
                f"queue {self.name!r}: the message is {size} bytes, over the queue's maximum of "
                f"{spec.max_message_size} bytes; store the payload elsewhere and send a reference"
            )
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValidationError(f"queue {self.name!r}: priority must be an integer, not {priority!r}")
        if spec.fifo:
            if group_id is None:
                raise ValidationError(f"FIFO queue {self.name!r}: every message needs a group_id")
            if delay not in (None, 0):
                raise ValidationError(
                    f"FIFO queue {self.name!r}: per-message delay is not supported; set the queue's delay"
                )
            if priority:
                raise ValidationError(f"FIFO queue {self.name!r}: priority applies to standard queues only")
            if dedup_id is None:
                if not spec.content_based_dedup:
                    raise ValidationError(
                        f"FIFO queue {self.name!r}: give a dedup_id or create the queue with "
                        "content_based_dedup=True"
                    )
                dedup_id = hashlib.sha256(text.encode()).hexdigest()
            _check_token("group_id", group_id, self.name)
            _check_token("dedup_id", dedup_id, self.name)
        elif dedup_id is not None:
            raise ValidationError(f"queue {self.name!r}: dedup_id applies to FIFO queues only")
        elif group_id is not None:
            _check_token("group_id", group_id, self.name)
        if delay is None:
            delay = spec.delay  # validated when the queue was made
        elif isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY:
            raise ValidationError(f"queue {self.name!r}: delay must be between 0 and 900 seconds, not {delay!r}")
        if attrs:
            stored: dict[str, Any] = {"attrs": attrs, _JSON: True} if is_json else {"attrs": attrs}
        else:
            stored = {_JSON: True} if is_json else {}
        message = NewMessage(
            id=message_id(),
            body=text,
            attributes=stored,
            delay=float(delay),
            priority=priority,
            group_id=group_id,
            dedup_id=dedup_id,
        )
        return _Prepared(message, size)

    # -- receiving -----------------------------------------------------------------------------

    def receive(
        self, max_messages: int = 1, *, wait: float = 0, visibility_timeout: float | None = None
    ) -> list[Message]:
        """Receive up to ``max_messages`` (1–10), waiting up to ``wait`` seconds (≤ 20) for the
        first to arrive; received messages stay hidden for the visibility timeout."""
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or not 1 <= max_messages <= MAX_BATCH:
            raise ValidationError(f"max_messages must be between 1 and {MAX_BATCH}, not {max_messages!r}")
        if not isinstance(wait, int | float) or not 0 <= wait <= MAX_WAIT:
            raise ValidationError(f"wait must be between 0 and {MAX_WAIT:g} seconds, not {wait!r}")
        engine = self.engine
        if visibility_timeout is None:
            visibility_timeout = self.spec.visibility_timeout
        elif not isinstance(visibility_timeout, int | float) or not 0 <= visibility_timeout <= MAX_VISIBILITY:
            raise ValidationError(f"visibility_timeout must be between 0 and 43200 seconds, not {visibility_timeout!r}")
        vt = float(visibility_timeout)
        if not wait:  # a short poll needs no watch
            stored = engine.atomic(lambda tx: tx.queue_receive(self.name, max_messages, vt))
            return [to_message(self.name, m) for m in stored]
        deadline = time.monotonic() + wait
        while True:
            watch = engine.watch(self.name)  # taken before looking, so no send is missed
            stored = engine.atomic(lambda tx: tx.queue_receive(self.name, max_messages, vt))
            if stored:
                return [to_message(self.name, m) for m in stored]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            next_at = engine.read(lambda tx: tx.queue_next_visible_at(self.name))
            if next_at is not None:
                remaining = min(remaining, max(0.001, next_at - engine.clock.now()))
            watch.wait(remaining)

    def delete(self, receipt: str | Message) -> None:
        """Delete a received message by its receipt (or the message itself)."""
        handle = receipt.receipt if isinstance(receipt, Message) else receipt
        self.engine.atomic(lambda tx: tx.queue_delete_message(self.name, handle))

    def delete_batch(self, receipts: Iterable[str | Message]) -> list[BatchResult]:
        """Delete up to 10 messages; each entry succeeds or fails alone."""
        handles = [r.receipt if isinstance(r, Message) else r for r in receipts]
        if len(handles) > MAX_BATCH:
            raise BatchLimitExceeded(f"a batch holds at most {MAX_BATCH} entries, not {len(handles)}")

        outcomes = self.engine.atomic(lambda tx: tx.queue_delete_messages(self.name, handles))
        return [BatchResult(str(index), error=error) for index, error in enumerate(outcomes)]

    def change_visibility(self, receipt: str | Message, seconds: float) -> None:
        """Hide a received message for ``seconds`` more from now (0 makes it visible at once)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_VISIBILITY:
            raise ValidationError(f"visibility timeout must be between 0 and 43200 seconds, not {seconds!r}")
        handle = receipt.receipt if isinstance(receipt, Message) else receipt
        self.engine.atomic(lambda tx: tx.queue_change_visibility(self.name, handle, float(seconds)))

    def purge(self) -> int:
        """Delete every message in the queue; return how many."""
        return self.engine.atomic(lambda tx: tx.queue_purge(self.name))

    def stats(self) -> dict[str, int]:
        """Approximate counts: ``{"visible": n, "in_flight": n, "delayed": n}``."""
        self.spec  # noqa: B018 - raises QueueNotFound for a missing queue
        return self.engine.read(lambda tx: tx.queue_stats(self.name)).to_dict()

    def redrive(
        self, *, to: str | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Move this dead-letter queue's messages back to the queues they came from (or to
        ``to``), in batches; return how many moved. ``progress(n)`` is called after each batch."""
        moved = 0
        while True:
            count = self.engine.atomic(lambda tx: tx.queue_redrive(self.name, to=to, limit=500))
            moved += count
            if progress is not None and count:
                progress(count)
            if count < 500:
                return moved


def to_message(queue: str, stored: StoredMessage) -> Message:
    """Turn an engine row into the ``Message`` users see."""
    stored_attributes = stored.attributes
    attrs: dict[str, dict[str, Any]] = stored_attributes.get("attrs") or {} if stored_attributes else {}
    body = stored.body
    return Message(
        id=stored.id,
        body=decode_body(body, True) if stored_attributes and stored_attributes.get(_JSON) else body,
        attributes={name: attribute_value(attr) for name, attr in attrs.items()} if attrs else {},
        receipt=stored.receipt,
        receive_count=stored.receive_count,
        group_id=stored.group_id,
        queue=queue,
        sent_at=stored.sent_at,
        first_received_at=stored.first_received_at,
        priority=stored.priority,
        dedup_id=stored.dedup_id,
        raw_body=body,
        message_attributes=attrs,
        source_queue=stored.source_queue,
    )


def _check_token(what: str, value: Any, queue: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not all(33 <= ord(c) <= 126 for c in value):
        raise ValidationError(
            f"queue {queue!r}: {what} must be 1-128 printable ASCII characters without spaces, not {value!r}"
        )


def spec_with(spec: QueueSpec, **changes: Any) -> QueueSpec:
    """A copy of ``spec`` with changes, validated again."""
    merged = replace(spec, **changes)
    return make_spec(
        merged.name,
        visibility_timeout=merged.visibility_timeout,
        delay=merged.delay,
        retention=merged.retention,
        max_message_size=merged.max_message_size,
        max_receive_count=merged.max_receive_count,
        dead_letter=merged.dead_letter,
        content_based_dedup=merged.content_based_dedup,
        internal=merged.name.startswith(INTERNAL_PREFIX),
    )
