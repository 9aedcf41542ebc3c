"""Topic subscriptions: who gets a topic's messages (a queue, a function, an HTTP endpoint),
which ones (a filter policy on the attributes or the body), in what form (the JSON envelope, or
raw), and how hard SNS tries (the HTTP delivery policy; a dead-letter queue).

Before changing: filter policies are compiled into one ``FilterPolicySet`` per topic (shared
with the bus's matcher), so the cost of a publish does not grow with the subscriptions; a
subscription is validated completely when it is declared.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from overcast.errors import InvalidPattern, ValidationError
from overcast.matching import FilterPolicySet, validate_filter_policy

PROTOCOLS = {"queue": "queue", "sqs": "queue", "function": "function", "lambda": "function",
             "http": "http", "https": "http"}
SCOPES = ("MessageAttributes", "MessageBody")
MANAGED_ATTEMPTS = 100  # queue and function endpoints: AWS retries these itself, for days
MANAGED_AGE = 1_209_600.0
HTTP_MAX_AGE = 3600.0  # SNS caps an HTTP delivery policy at one hour


@dataclass(frozen=True)
class DeliveryPolicy:
    """How SNS retries an HTTP endpoint (AWS's ``healthyRetryPolicy``): ``num_retries`` more
    attempts, ``min_delay`` to ``max_delay`` seconds apart, ``backoff`` ``"linear"`` (the AWS
    default: 3 retries 20 s apart) or ``"exponential"``; all within one hour."""

    num_retries: int = 3
    min_delay: float = 20.0
    max_delay: float = 20.0
    backoff: str = "linear"

    def __post_init__(self) -> None:
        if isinstance(self.num_retries, bool) or not isinstance(self.num_retries, int) or not 0 <= self.num_retries <= 100:
            raise ValidationError(f"delivery policy: num_retries must be between 0 and 100, not {self.num_retries!r}")
        if not 0 <= self.min_delay <= self.max_delay <= 3600:
            raise ValidationError("delivery policy: need 0 <= min_delay <= max_delay <= 3600 seconds")
        if self.backoff not in ("linear", "exponential"):
            raise ValidationError(f"delivery policy: backoff is 'linear' or 'exponential', not {self.backoff!r}")


@dataclass(frozen=True)
class Subscription:
    """A subscription of ``endpoint`` (a queue or function name, or a URL) to ``topic``."""

    topic: str
    protocol: str
    endpoint: str
    filter_policy: dict[str, Any] | None = None
    filter_scope: str = "MessageAttributes"
    raw: bool = False
    dead_letter: str | None = None
    delivery_policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)

    @property
    def id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"overcast:{self.topic}:{self.protocol}:{self.endpoint}"))

    def arn(self, region: str, account: str) -> str:
        return f"arn:aws:sns:{region}:{account}:{self.topic}:{self.id}"

    def describe(self, region: str, account: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "SubscriptionArn": self.arn(region, account),
            "TopicArn": f"arn:aws:sns:{region}:{account}:{self.topic}",
            "Protocol": self.protocol,
            "Endpoint": self.endpoint,
            "RawMessageDelivery": self.raw,
            "FilterPolicyScope": self.filter_scope,
        }
        if self.filter_policy is not None:
            out["FilterPolicy"] = json.dumps(self.filter_policy, separators=(",", ":"))
        if self.dead_letter is not None:
            out["RedrivePolicy"] = {"deadLetterTarget": self.dead_letter}
        return out


def make_subscription(
    topic: str,
    protocol: str,
    endpoint: str,
    *,
    filter_policy: Mapping[str, Any] | str | None = None,
    filter_scope: str = "MessageAttributes",
    raw: bool = False,
    dead_letter: str | None = None,
    delivery_policy: DeliveryPolicy | None = None,
) -> Subscription:
    """Validate a subscription completely (protocol, endpoint, policy, options)."""
    kind = PROTOCOLS.get(str(protocol).lower())
    where = f"subscription of {protocol}:{endpoint} to topic {topic!r}"
    if kind is None:
        raise ValidationError(f"{where}: protocol must be one of {', '.join(sorted(PROTOCOLS))}")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValidationError(f"{where}: the endpoint is required")
    if kind == "http":
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(f"{where}: {endpoint!r} is not an http(s) URL")
    if filter_scope not in SCOPES:
        raise ValidationError(f"{where}: filter_scope must be 'MessageAttributes' or 'MessageBody', not {filter_scope!r}")
    if isinstance(filter_policy, str):
        try:
            filter_policy = json.loads(filter_policy)
        except ValueError as exc:
            raise InvalidPattern(f"{where}: the filter policy is not valid JSON: {exc}") from None
    if filter_policy is not None:
        if not isinstance(filter_policy, Mapping):
            raise InvalidPattern(f"{where}: the filter policy must be a JSON object")
        try:
            validate_filter_policy(filter_policy, scope=filter_scope)
        except InvalidPattern as exc:
            raise InvalidPattern(f"{where}: {exc}") from None
        filter_policy = dict(filter_policy)
    if raw and kind == "function":
        raise ValidationError(f"{where}: raw message delivery applies to queue and HTTP subscriptions only")
    if topic.endswith(".fifo") and kind != "queue":
        raise ValidationError(f"{where}: a FIFO topic delivers to queues only")
    if delivery_policy is not None and not isinstance(delivery_policy, DeliveryPolicy):
        raise ValidationError(f"{where}: delivery_policy must be a DeliveryPolicy")
    return Subscription(topic, kind, endpoint, filter_policy, filter_scope, bool(raw), dead_letter,
                        delivery_policy or DeliveryPolicy())


class TopicSubscriptions:
    """The subscriptions of one topic, their filter policies compiled."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.subscriptions: dict[str, Subscription] = {}
        self._set: FilterPolicySet[str] = FilterPolicySet()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.subscriptions)

    def add(self, subscription: Subscription) -> None:
        with self._lock:
            self._set.add(subscription.id, subscription.filter_policy or {}, scope=subscription.filter_scope)
            self.subscriptions[subscription.id] = subscription

    def match(self, attributes: Mapping[str, Any], message: str) -> list[Subscription]:
        """The subscriptions whose policy accepts a message (``attributes`` in SNS's shape)."""
        with self._lock:
            keys = self._set.match(message_attributes=attributes, body=message)
            return [self.subscriptions[k] for k in keys]
