"""The topic router: fans each published message out to every subscription whose filter policy
accepts it, once per message, in the form its protocol gets.

Queue subscriptions receive the JSON notification envelope (or, raw, the message itself with its
attributes as queue message attributes); function subscriptions are invoked asynchronously with
Lambda's SNS event; HTTP endpoints get a POST of the envelope (or the raw message) with SNS's
``x-amz-sns-*`` headers, retried by the subscription's delivery policy by the deliverer, in
parallel with the other deliveries. Anything that cannot be delivered goes to the subscription's
dead-letter queue with ``ErrorCode``/``ErrorMessage`` attributes.

Before changing: the fan-out of one message is one transaction (``Router``); a subscription
never receives a message twice from one routing, and a FIFO topic's groups stay in order because
its ingress queue is FIFO and each batch is routed before the next is received.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from overcast.engine.base import Tx
from overcast.services.bus.delivery import Delivery, deliver_or_defer
from overcast.services.bus.router import Router
from overcast.services.topics.events import envelope, sns_attributes, sns_time
from overcast.services.topics.subscriptions import (
    HTTP_MAX_AGE,
    MANAGED_AGE,
    MANAGED_ATTEMPTS,
    Subscription,
    TopicSubscriptions,
)
from overcast.services.topics.topic import ingress_queue

if TYPE_CHECKING:
    from overcast.app import App

_PROTOCOL_KEYS = {"queue": "sqs", "function": "lambda", "http": "http"}


def message_for(record: dict[str, Any], subscription: Subscription) -> str:
    """The message text a subscription gets (its protocol's, with ``message_structure="json"``)."""
    message: str = record["Message"]
    if record.get("MessageStructure") == "json":
        per_protocol = json.loads(message)
        key = _PROTOCOL_KEYS[subscription.protocol]
        if subscription.protocol == "http" and subscription.endpoint.startswith("https:"):
            key = "https"
        chosen = per_protocol.get(key, per_protocol["default"])
        message = chosen if isinstance(chosen, str) else json.dumps(chosen)
    return message


def subscription_delivery(record: dict[str, Any], subscription: Subscription, *, region: str, account: str,
                          now: float) -> Delivery:
    """What one subscription receives for a published message."""
    arn = subscription.arn(region, account)
    message = message_for(record, subscription)
    common: dict[str, Any] = {
        "origin": {"type": "subscription", "arn": arn, "topic": record["TopicArn"]},
        "dead_letter": subscription.dead_letter,
        "dlq_style": "sns",
        "first_at": now,
        "max_attempts": MANAGED_ATTEMPTS,
        "max_age": MANAGED_AGE,
        "backoff": (20.0, 300.0, "exponential"),
    }
    if subscription.protocol == "queue":
        if subscription.raw:
            return Delivery(kind="queue", dest=subscription.endpoint, body=message, is_json=False,
                            attributes=dict(record.get("MessageAttributes") or {}),
                            group_id=record.get("MessageGroupId"), dedup_id=record.get("MessageDeduplicationId"), **common)
        body = json.dumps(envelope(record, message, arn), separators=(",", ":"))
        return Delivery(kind="queue", dest=subscription.endpoint, body=body, is_json=True,
                        group_id=record.get("MessageGroupId"), dedup_id=record.get("MessageDeduplicationId"), **common)
    if subscription.protocol == "function":
        event = {"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": arn,
            "Sns": {
                "Type": "Notification",
                "MessageId": record["MessageId"],
                "TopicArn": record["TopicArn"],
                "Subject": record.get("Subject"),
                "Message": message,
                "Timestamp": sns_time(record["Timestamp"]),
                "SignatureVersion": "1",
                "Signature": "",
                "SigningCertUrl": "",
                "UnsubscribeUrl": "",
                "MessageAttributes": sns_attributes(record.get("MessageAttributes") or {}),
            },
        }]}
        return Delivery(kind="function", dest=subscription.endpoint, body=json.dumps(event, separators=(",", ":")),
                        is_json=True, **common)
    policy = subscription.delivery_policy
    headers = {
        "content-type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": record["MessageId"],
        "x-amz-sns-topic-arn": record["TopicArn"],
        "x-amz-sns-subscription-arn": arn,
    }
    if subscription.raw:
        headers["x-amz-sns-rawdelivery"] = "true"
        body, is_json = message, False
    else:
        body, is_json = json.dumps(envelope(record, message, arn), separators=(",", ":")), True
    common.update(max_attempts=policy.num_retries + 1, max_age=HTTP_MAX_AGE,
                  backoff=(policy.min_delay, policy.max_delay, policy.backoff))
    return Delivery(kind="http", dest=subscription.endpoint, body=body, is_json=is_json, headers=headers, **common)


class TopicRouter(Router):
    """Routes one topic's published messages to its subscriptions."""

    name = "topic-router"

    def __init__(self, app: App, topic: str, subscriptions: TopicSubscriptions) -> None:
        super().__init__(app, ingress_queue(topic))
        self.topic = topic
        self.subscriptions = subscriptions

    def plan(self, record: dict[str, Any], now: float) -> list[Delivery]:
        attributes = sns_attributes(record.get("MessageAttributes") or {})
        matched = self.subscriptions.match(attributes, record["Message"])
        return [subscription_delivery(record, s, region=self.app.region, account=self.app.account, now=now)
                for s in matched]

    def apply(self, tx: Tx, plan: list[Delivery]) -> None:
        for delivery in plan:
            deliver_or_defer(tx, delivery)
