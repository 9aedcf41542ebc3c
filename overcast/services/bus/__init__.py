"""The event bus (Amazon EventBridge semantics): rules with event patterns, targets, input
transformers, retries and dead-letter queues, archives and replays, CloudEvents.

Start at ``bus.py`` (the handle and ``put_events``), then ``router.py`` (fan-out) and
``delivery.py`` (durable deliveries, shared with topics and the scheduler).
"""

from __future__ import annotations

from overcast.services.bus.archive import Archive
from overcast.services.bus.bus import Bus, PutEventsResult, PutEventsResultEntry
from overcast.services.bus.delivery import register_target_kind
from overcast.services.bus.events import CloudEvent, EventBridgeEvent
from overcast.services.bus.rules import Rule
from overcast.services.bus.targets import RetryPolicy, Target
from overcast.services.bus.transform import InputTransformer

__all__ = [
    "Archive",
    "Bus",
    "CloudEvent",
    "EventBridgeEvent",
    "InputTransformer",
    "PutEventsResult",
    "PutEventsResultEntry",
    "RetryPolicy",
    "Rule",
    "Target",
    "register_target_kind",
]
