"""Typed event objects handlers receive, each also giving the AWS-shaped payload (``to_dict``).

Before changing: these objects cross process boundaries (pickled to worker processes), so keep
them plain frozen dataclasses of JSON-able values and bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"


def queue_arn(queue: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:sqs:{region}:{account}:{queue}"


def function_arn(function: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{function}"


def attribute_value(attr: dict[str, Any]) -> Any:
    """The Python value of an SQS message attribute ({"DataType", "StringValue"|"BinaryValue"})."""
    data_type = str(attr.get("DataType", "String"))
    if data_type.startswith("Binary"):
        return base64.b64decode(attr["BinaryValue"])
    value = attr.get("StringValue", "")
    if data_type.startswith("Number"):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    return value


@dataclass(frozen=True, slots=True)
class Message:
    """A message received from a queue.

    ``body`` is the value sent (a str as given; dicts, lists and numbers as JSON values),
    ``attributes`` the message attributes as Python values, ``receipt`` the handle to delete it
    or change its visibility (valid until the message is received again).
    """

    id: str
    body: Any
    attributes: dict[str, Any]
    receipt: str
    receive_count: int
    group_id: str | None = None
    queue: str = ""
    sent_at: float = 0.0
    first_received_at: float | None = None
    priority: int = 0
    dedup_id: str | None = None
    raw_body: str = ""
    message_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    source_queue: str | None = None

    @property
    def message_id(self) -> str:
        return self.id

    def to_dict(self, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
        """The record as Lambda's SQS event source delivers it."""
        attributes: dict[str, str] = {
            "ApproximateReceiveCount": str(self.receive_count),
            "SentTimestamp": str(int(self.sent_at * 1000)),
            "SenderId": account,
            "ApproximateFirstReceiveTimestamp": str(int((self.first_received_at or self.sent_at) * 1000)),
        }
        if self.group_id is not None:
            attributes["MessageGroupId"] = self.group_id
        if self.dedup_id is not None:
            attributes["MessageDeduplicationId"] = self.dedup_id
        return {
            "messageId": self.id,
            "receiptHandle": self.receipt,
            "body": self.raw_body,
            "attributes": attributes,
            "messageAttributes": {
                name: _lambda_attribute(attr) for name, attr in self.message_attributes.items()
            },
            "md5OfBody": hashlib.md5(self.raw_body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn(self.queue, region, account),
            "awsRegion": region,
        }


def _lambda_attribute(attr: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"dataType": attr["DataType"], "stringListValues": [], "binaryListValues": []}
    if "StringValue" in attr:
        out["stringValue"] = attr["StringValue"]
    if "BinaryValue" in attr:
        out["binaryValue"] = attr["BinaryValue"]
    return out


@dataclass(frozen=True, slots=True)
class SQSEvent:
    """A batch of messages delivered to an ``@app.on_queue`` handler.

    Iterate it for ``Message`` objects. Return ``None`` when all succeeded, or the ids of the
    messages that failed (``[m.id, ...]``, or Lambda's ``{"batchItemFailures": [...]}``) to
    retry only those; raising fails the whole batch.
    """

    queue: str
    records: tuple[Message, ...]

    def __iter__(self) -> Iterator[Message]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Message:
        return self.records[index]

    def to_dict(self) -> dict[str, Any]:
        """The event as Lambda's SQS event source delivers it: ``{"Records": [...]}``."""
        return {"Records": [record.to_dict() for record in self.records]}


_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def message_id() -> str:
    """A random (version 4) UUID as text, the shape of SQS message ids; the same as
    ``str(uuid.uuid4())`` at a third of its cost (this runs once per message sent)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def encode_body(body: Any) -> tuple[str, bool]:
    """Serialize a body: a str is kept as given; other JSON values become JSON text.
    Returns (text, is_json)."""
    if type(body) is str:
        return body, False
    if isinstance(body, bytes | bytearray):
        raise TypeError("a message body is a JSON value or a str, not bytes; decode it or base64 it")
    if isinstance(body, str):
        return str(body), False
    return _encode(body), True


def decode_body(text: str, is_json: bool) -> Any:
    return json.loads(text) if is_json else text
