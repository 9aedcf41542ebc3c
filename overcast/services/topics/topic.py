"""Topics with Amazon SNS semantics: ``publish`` and ``publish_batch`` with message attributes,
FIFO topics (message groups, deduplication), and the subscriptions declared on them.

A publish validates the message and commits it to the topic's ingress queue
(``overcast:topic:NAME``, a FIFO queue for a FIFO topic, which gives the five-minute dedup
window and per-group order) before it returns; the runtime's topic router then fans it out to
every matching subscription. So a published message reaches every subscription even if this
process dies right after.

Before changing: limits follow the SNS documentation (256 KB per message and per batch, 10
entries per batch, subjects of at most 100 characters, 10 attributes as SQS allows for raw
delivery); a duplicate on a FIFO topic returns the first message's id and is not delivered again.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from overcast.engine.base import Engine, NewMessage, Tx
from overcast.errors import (
    BatchLimitExceeded,
    MessageTooLarge,
    NotFound,
    OvercastError,
    ValidationError,
)
from overcast.events import DEFAULT_ACCOUNT, DEFAULT_REGION
from overcast.services.queues import (
    INTERNAL_PREFIX,
    BatchResult,
    message_size,
    normalize_attributes,
)
from overcast.services.topics.events import topic_arn

if TYPE_CHECKING:
    from overcast.services.topics.subscriptions import (
        DeliveryPolicy,
        Subscription,
        TopicSubscriptions,
    )

MAX_MESSAGE = 262_144
MAX_BATCH = 10
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,128}$")


def validate_topic_name(name: str) -> None:
    base = name[: -len(".fifo")] if isinstance(name, str) and name.endswith(".fifo") else name
    if not isinstance(name, str) or not _NAME.match(base) or len(name) > 256:
        raise ValidationError(
            f"invalid topic name {name!r}: use 1-256 letters, digits, '-' or '_' (and end with '.fifo' for a FIFO topic)"
        )


def ingress_queue(topic: str) -> str:
    """The internal queue where a topic's published messages wait for the router."""
    return f"{INTERNAL_PREFIX}topic:{topic}"


def sns_message_attributes(attributes: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """Message attributes in SQS's stored shape; a list becomes a ``String.Array``."""
    if not attributes:
        return {}
    if not isinstance(attributes, Mapping):
        raise ValidationError("message attributes must be a dict of name to value")
    prepared: dict[str, Any] = {}
    for name, value in attributes.items():
        if isinstance(value, list | tuple):
            prepared[name] = {"DataType": "String.Array", "StringValue": json.dumps(list(value))}
        else:
            prepared[name] = value
    return normalize_attributes(prepared)


def message_text(message: Any) -> str:
    """A message as SNS carries it: a str as given, any other JSON value as JSON text."""
    if isinstance(message, str):
        return message
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"the message is not a str or a JSON value: {exc}") from None


def _record(topic: str, message_id: str, message: str, subject: str | None, attributes: dict[str, dict[str, str]],
            now: float, structure: str | None, group_id: str | None, dedup_id: str | None) -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "TopicArn": topic_arn(topic, DEFAULT_REGION, DEFAULT_ACCOUNT),
        "Message": message,
        "Subject": subject,
        "MessageAttributes": attributes,
        "Timestamp": now,
        "MessageStructure": structure,
        "MessageGroupId": group_id,
        "MessageDeduplicationId": dedup_id,
    }


def publish_in_tx(
    tx: Tx,
    topic: str,
    message: str,
    *,
    attributes: dict[str, dict[str, str]] | None = None,
    subject: str | None = None,
    group_id: str | None = None,
    dedup_id: str | None = None,
    delay: float = 0.0,
    structure: str | None = None,
) -> str:
    """Publish inside ``tx`` (a bus or schedule targeting a topic); raises ``DeliveryFailed``
    when the topic does not exist."""
    from overcast.services.bus.delivery import DeliveryFailed

    queue = ingress_queue(topic)
    if tx.queue_get(queue) is None:
        raise DeliveryFailed("NotFound", f"topic {topic!r} does not exist")
    fifo = topic.endswith(".fifo")
    if fifo:
        group_id = group_id or "default"
        dedup_id = dedup_id or hashlib.sha256(message.encode()).hexdigest()
    message_id = str(uuid.uuid4())
    record = _record(topic, message_id, message, subject, attributes or {}, tx.now(), structure,
                     group_id if fifo else None, dedup_id if fifo else None)
    return tx.queue_send(queue, [NewMessage(
        id=message_id, body=json.dumps(record, separators=(",", ":")),
        delay=0.0 if fifo else delay, group_id=group_id if fifo else None, dedup_id=dedup_id if fifo else None,
    )])[0]


class Topic:
    """A topic. Get one from ``app.topic(name)`` (declares it), or build one on an engine to
    publish only."""

    def __init__(
        self,
        name: str,
        engine: Callable[[], Engine],
        *,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        content_based_dedup: bool = False,
        subscriptions: TopicSubscriptions | None = None,
        declare: Callable[[Any], Any] | None = None,
    ) -> None:
        validate_topic_name(name)
        if content_based_dedup and not name.endswith(".fifo"):
            raise ValidationError(f"topic {name!r}: content_based_dedup applies to FIFO topics only")
        self.name = name
        self.region = region
        self.account = account
        self.content_based_dedup = content_based_dedup
        self._engine = engine
        self._subscriptions = subscriptions
        self._declare = declare

    def __repr__(self) -> str:
        return f"Topic({self.name!r})"

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    @property
    def arn(self) -> str:
        return topic_arn(self.name, self.region, self.account)

    @property
    def engine(self) -> Engine:
        return self._engine()

    # -- subscriptions -----------------------------------------------------------------------------

    def subscribe(
        self,
        protocol: str,
        endpoint: str,
        *,
        filter_policy: Mapping[str, Any] | str | None = None,
        filter_scope: str = "MessageAttributes",
        raw: bool = False,
        dead_letter: str | None = None,
        delivery_policy: DeliveryPolicy | None = None,
    ) -> Subscription:
        """Declare a subscription: ``protocol`` is ``"queue"``, ``"function"`` or ``"http"``
        (``sqs``, ``lambda``, ``https`` too), ``endpoint`` the queue, function or URL."""
        from overcast.services.topics.subscriptions import make_subscription

        if self._subscriptions is None:
            raise ValidationError(f"topic {self.name!r}: declare subscriptions on the topic from app.topic({self.name!r})")
        subscription = make_subscription(
            self.name, protocol, endpoint, filter_policy=filter_policy, filter_scope=filter_scope, raw=raw,
            dead_letter=dead_letter, delivery_policy=delivery_policy,
        )
        if self._declare is not None:
            self._declare(subscription)
        self._subscriptions.add(subscription)
        return subscription

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions.subscriptions.values()) if self._subscriptions is not None else []

    # -- publishing --------------------------------------------------------------------------------

    def publish(
        self,
        message: Any,
        *,
        subject: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        message_structure: str | None = None,
    ) -> str:
        """Publish a message (a str, or a JSON value sent as JSON text) and return its id.

        ``attributes`` as for queues (a list becomes a ``String.Array``). On a FIFO topic
        ``group_id`` is required, and ``dedup_id`` unless the topic has content-based dedup.
        ``message_structure="json"``: ``message`` maps protocols (``default``, ``sqs``,
        ``lambda``, ``http``, ``https``) to the text each kind of subscription gets."""
        prepared = self._prepare(message, subject, attributes, group_id, dedup_id, message_structure)
        return self._send([prepared])[0]

    def publish_batch(self, entries: Sequence[Mapping[str, Any]]) -> list[BatchResult]:
        """Publish up to 10 messages: each entry has ``message`` and any of ``id``, ``subject``,
        ``attributes``, ``group_id``, ``dedup_id``, ``message_structure``. Invalid entries fail
        alone; the others are committed together."""
        if isinstance(entries, Mapping | str) or not isinstance(entries, Sequence):
            raise ValidationError("publish_batch takes a list of entries")
        if not entries:
            raise ValidationError("publish_batch needs at least one entry")
        if len(entries) > MAX_BATCH:
            raise BatchLimitExceeded(f"publish_batch takes at most {MAX_BATCH} entries, not {len(entries)}")
        results: list[BatchResult | None] = [None] * len(entries)
        prepared: list[tuple[int, str, NewMessage]] = []
        seen: set[str] = set()
        total = 0
        allowed = {"id", "message", "subject", "attributes", "group_id", "dedup_id", "message_structure"}
        for index, entry in enumerate(entries):
            fields: Mapping[str, Any] = entry if isinstance(entry, Mapping) and "message" in entry else {"message": entry}
            entry_id = str(fields.get("id", index))
            if entry_id in seen:
                raise ValidationError(f"publish_batch: entry id {entry_id!r} appears twice")
            seen.add(entry_id)
            try:
                unknown = set(fields) - allowed
                if unknown:
                    raise ValidationError(f"unknown entry field(s): {', '.join(sorted(unknown))}")
                message = self._prepare(fields["message"], fields.get("subject"), fields.get("attributes"),
                                        fields.get("group_id"), fields.get("dedup_id"), fields.get("message_structure"))
            except OvercastError as exc:
                results[index] = BatchResult(entry_id, error=exc)
                continue
            total += len(message.body.encode())
            prepared.append((index, entry_id, message))
        if total > MAX_MESSAGE:
            raise MessageTooLarge(f"topic {self.name!r}: the batch totals {total} bytes, over the {MAX_MESSAGE}-byte limit")
        if prepared:
            ids = self._send([m for _, _, m in prepared])
            for (index, entry_id, _), message_id in zip(prepared, ids, strict=True):
                results[index] = BatchResult(entry_id, message_id=message_id)
        return [r for r in results if r is not None]

    def _send(self, messages: list[NewMessage]) -> list[str]:
        queue = ingress_queue(self.name)

        def send(tx: Tx) -> list[str]:
            if tx.queue_get(queue) is None:
                raise NotFound(f"topic {self.name!r} does not exist; declare it with app.topic({self.name!r})")
            return tx.queue_send(queue, messages)

        return self.engine.atomic(send)

    def _prepare(self, message: Any, subject: str | None, attributes: Mapping[str, Any] | None,
                 group_id: str | None, dedup_id: str | None, structure: str | None) -> NewMessage:
        where = f"topic {self.name!r}"
        text = message_text(message)
        if text == "":
            raise ValidationError(f"{where}: the message may not be empty")
        if structure is not None:
            if structure != "json":
                raise ValidationError(f"{where}: message_structure is 'json' or None, not {structure!r}")
            try:
                per_protocol = json.loads(text)
            except ValueError:
                per_protocol = None
            if not isinstance(per_protocol, dict) or not isinstance(per_protocol.get("default"), str):
                raise ValidationError(f"{where}: with message_structure='json' the message is a JSON object with a 'default' string")
        if subject is not None and (not isinstance(subject, str) or not subject or len(subject) > 100
                                    or any(c in subject for c in "\r\n")):
            raise ValidationError(f"{where}: a subject is 1-100 characters on one line")
        attrs = sns_message_attributes(attributes)
        size = message_size(text, attrs)
        if size > MAX_MESSAGE:
            raise MessageTooLarge(f"{where}: the message is {size} bytes, over SNS's {MAX_MESSAGE}-byte limit; publish a reference instead")
        if self.fifo:
            if not group_id:
                raise ValidationError(f"FIFO {where}: every message needs a group_id")
            if dedup_id is None:
                if not self.content_based_dedup:
                    raise ValidationError(f"FIFO {where}: give a dedup_id or create the topic with content_based_dedup=True")
                dedup_id = hashlib.sha256(text.encode()).hexdigest()
            for what, value in (("group_id", group_id), ("dedup_id", dedup_id)):
                if not isinstance(value, str) or not _TOKEN.match(value):
                    raise ValidationError(f"FIFO {where}: {what} must be 1-128 printable ASCII characters without spaces")
        elif group_id is not None or dedup_id is not None:
            raise ValidationError(f"{where}: group_id and dedup_id apply to FIFO topics only")
        message_id = str(uuid.uuid4())
        now = self.engine.clock.now()
        record = _record(self.name, message_id, text, subject, attrs, now, structure,
                         group_id if self.fifo else None, dedup_id if self.fifo else None)
        record["TopicArn"] = self.arn
        return NewMessage(id=message_id, body=json.dumps(record, separators=(",", ":")),
                          group_id=group_id if self.fifo else None, dedup_id=dedup_id if self.fifo else None)
