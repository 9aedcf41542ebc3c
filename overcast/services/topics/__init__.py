"""Topics (Amazon SNS semantics): publish, FIFO topics, subscriptions with filter policies, raw
delivery, HTTP retries and dead-letter queues.

Start at ``topic.py`` (the handle and ``publish``), then ``delivery.py`` (the fan-out).
"""

from __future__ import annotations

from overcast.services.topics.events import SNSEvent, SNSMessage
from overcast.services.topics.subscriptions import DeliveryPolicy, Subscription
from overcast.services.topics.topic import Topic

__all__ = ["DeliveryPolicy", "SNSEvent", "SNSMessage", "Subscription", "Topic"]
