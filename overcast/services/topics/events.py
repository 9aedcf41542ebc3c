"""The shapes SNS delivers: the notification envelope (queues, HTTP) and the Lambda event
(``SNSEvent`` of ``SNSMessage`` records, typed for ``@app.on_topic`` handlers).

Before changing: ``SNSEvent.from_dict(e.to_dict()) == e`` must hold (handlers receive the dict in
their worker and get the object back); field names follow the AWS documents exactly, including
their inconsistencies (``SigningCertURL`` in the envelope, ``SigningCertUrl`` in Lambda's record).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from overcast.events import attribute_value


def sns_time(epoch: float) -> str:
    """SNS's timestamp format: UTC with milliseconds (``2026-01-01T09:00:00.000Z``)."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def topic_arn(topic: str, region: str, account: str) -> str:
    return f"arn:aws:sns:{region}:{account}:{topic}"


def sns_attributes(attributes: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """SQS-shaped attributes (``DataType``/``StringValue``) in SNS's shape (``Type``/``Value``)."""
    return {
        name: {"Type": attr["DataType"], "Value": attr.get("StringValue", attr.get("BinaryValue", ""))}
        for name, attr in attributes.items()
    }


def envelope(record: Mapping[str, Any], message: str, subscription_arn: str) -> dict[str, Any]:
    """The JSON notification SNS sends to queues and HTTP endpoints (no raw delivery)."""
    out: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": record["MessageId"],
        "TopicArn": record["TopicArn"],
    }
    if record.get("Subject") is not None:
        out["Subject"] = record["Subject"]
    out["Message"] = message
    out["Timestamp"] = sns_time(record["Timestamp"])
    if record.get("SequenceNumber") is not None:
        out["SequenceNumber"] = record["SequenceNumber"]
    out.update({
        "SignatureVersion": "1",
        "Signature": "",  # Overcast does not sign notifications
        "SigningCertURL": "",
        "UnsubscribeURL": "",
    })
    if record.get("MessageAttributes"):
        out["MessageAttributes"] = sns_attributes(record["MessageAttributes"])
    return out


@dataclass(frozen=True)
class SNSMessage:
    """One notification, as a Lambda function subscribed to a topic receives it.

    ``message`` is the text published; ``body`` parses it when it is JSON (else gives the text);
    ``attributes`` are the message attributes as Python values, ``message_attributes`` in SNS's
    shape (``{"name": {"Type": "String", "Value": "x"}}``).
    """

    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    subject: str | None = None
    message_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    subscription_arn: str = ""
    type: str = "Notification"

    @property
    def body(self) -> Any:
        try:
            return json.loads(self.message)
        except ValueError:
            return self.message

    @property
    def attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, a in self.message_attributes.items():
            if a["Type"] == "String.Array":
                out[name] = json.loads(a["Value"])
            else:
                out[name] = attribute_value({"DataType": a["Type"], "StringValue": a["Value"], "BinaryValue": a["Value"]})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": self.subscription_arn,
            "Sns": {
                "Type": self.type,
                "MessageId": self.message_id,
                "TopicArn": self.topic_arn,
                "Subject": self.subject,
                "Message": self.message,
                "Timestamp": self.timestamp,
                "SignatureVersion": "1",
                "Signature": "",
                "SigningCertUrl": "",
                "UnsubscribeUrl": "",
                "MessageAttributes": dict(self.message_attributes),
            },
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> SNSMessage:
        sns = record.get("Sns") or {}
        return cls(
            message_id=str(sns.get("MessageId", "")),
            topic_arn=str(sns.get("TopicArn", "")),
            message=str(sns.get("Message", "")),
            timestamp=str(sns.get("Timestamp", "")),
            subject=sns.get("Subject"),
            message_attributes=dict(sns.get("MessageAttributes") or {}),
            subscription_arn=str(record.get("EventSubscriptionArn", "")),
            type=str(sns.get("Type", "Notification")),
        )


@dataclass(frozen=True)
class SNSEvent:
    """What an ``@app.on_topic`` handler receives: one ``SNSMessage`` record (SNS invokes Lambda
    once per message). Iterate it, or use ``event.message``."""

    records: tuple[SNSMessage, ...]

    def __iter__(self) -> Iterator[SNSMessage]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> SNSMessage:
        return self.records[index]

    @property
    def message(self) -> SNSMessage:
        return self.records[0]

    def to_dict(self) -> dict[str, Any]:
        """The event as Lambda's SNS trigger delivers it: ``{"Records": [...]}``."""
        return {"Records": [r.to_dict() for r in self.records]}

    @classmethod
    def from_dict(cls, event: Mapping[str, Any]) -> SNSEvent:
        return cls(tuple(SNSMessage.from_dict(r) for r in event.get("Records") or ()))

    @staticmethod
    def looks_like(value: Any) -> bool:
        records = value.get("Records") if isinstance(value, Mapping) else None
        return bool(records) and isinstance(records, list) and all(
            isinstance(r, Mapping) and r.get("EventSource") == "aws:sns" for r in records)
