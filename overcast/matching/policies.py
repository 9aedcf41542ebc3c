"""SNS subscription filter policies: validation, matching, and ``FilterPolicySet``.

A filter policy is an event pattern with SNS's own rules: no ``wildcard``; ``prefix`` and
``suffix`` take plain strings; ``anything-but`` nests only ``prefix``; numbers in ``numeric`` lie
within +-1e9; at most 5 keys and 150 combinations of values; an empty policy accepts every
message. With scope ``MessageAttributes`` the policy is flat and matches the message attributes
(typed: ``Number`` compares as a number, each element of a ``String.Array`` on its own,
``Binary`` is ignored); with scope ``MessageBody`` it matches the JSON body, nesting allowed.

The one thing to know before changing it: matching reuses the EventBridge machinery through
``_attributes_event``/``_body_event``, which turn a message into an "event"; SNS differences in
*matching* belong there, differences in *grammar* in the ``SNS_*`` dialects of ``_compile``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping
from typing import Any, Generic, TypeVar

from overcast.matching._compile import compile_pattern, sns_dialect
from overcast.matching._core import evaluate
from overcast.matching.ruleset import RuleSet

K = TypeVar("K", bound=Hashable)

Policy = Mapping[str, Any] | str
"""A filter policy as a mapping, or as its JSON text (as SNS's FilterPolicy attribute holds it)."""

Attributes = Mapping[str, Any]
"""Message attributes as SNS carries them: ``{"name": {"Type": "String", "Value": "x"}}``."""


def validate_filter_policy(
    policy: Policy, *, scope: str = "MessageAttributes", max_size: int | None = None
) -> None:
    """Raise ``InvalidPattern`` for every filter policy SNS would reject.

    The message starts with the offending path (``price.numeric[1]: ...``). Beyond the shared
    grammar it enforces SNS's limits: at most 5 keys (leaf keys, counted per ``$or`` branch),
    at most 150 combinations (the product, over the keys, of their number of values times their
    nesting depth, summed over ``$or`` branches), numeric operands within +-1e9, the policy
    size (``max_size`` bytes, default 256 KB), and no nesting with scope ``MessageAttributes``.
    """
    compile_pattern(policy, sns_dialect(scope), check=True, max_size=max_size)


def filter_policy_matches(
    policy: Policy,
    *,
    message_attributes: Attributes | None = None,
    body: Any = None,
    scope: str = "MessageAttributes",
) -> bool:
    """Whether an SNS subscription with this filter policy accepts the message.

    ``scope="MessageAttributes"`` matches ``message_attributes``; ``"MessageBody"`` matches
    ``body``, a JSON string or an already-parsed value (a body that is not a JSON object
    matches no non-empty policy). An empty policy matches everything. Assumes a valid policy.
    """
    clauses = compile_pattern(policy, sns_dialect(scope), check=False)
    if clauses == [()]:
        return True
    event = message_event(scope, message_attributes, body)
    return event is not None and evaluate(clauses, event)


def message_event(
    scope: str, message_attributes: Attributes | None, body: Any
) -> dict[str, Any] | None:
    """The "event" a policy of ``scope`` is matched against; None when nothing can match."""
    if scope == "MessageBody":
        return _body_event(body)
    return _attributes_event(message_attributes or {})


def _body_event(body: Any) -> dict[str, Any] | None:
    if isinstance(body, (str, bytes, bytearray)):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return dict(body) if isinstance(body, Mapping) else None


def _attributes_event(attributes: Attributes) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for name, attribute in attributes.items():
        if not isinstance(attribute, Mapping):
            event[name] = attribute  # a bare value: take it as it is
            continue
        kind = attribute.get("Type", attribute.get("DataType", "String"))
        value = attribute.get("Value", attribute.get("StringValue"))
        kind = kind if isinstance(kind, str) else "String"
        if kind.startswith("Binary"):
            continue  # SNS ignores Binary attributes in filtering
        if kind in ("String.Array", "Number.Array"):
            event[name] = _json_array(value)
        elif kind.startswith("Number"):
            event[name] = _number(value)
        else:
            event[name] = value
    return event


def _json_array(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value  # not an array after all: match it as the string it is
    return value


def _number(value: Any) -> Any:
    """A Number attribute's value as a number (SNS carries it as a string)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


class FilterPolicySet(Generic[K]):
    """The filter policies of a topic's subscriptions, compiled for matching many at once.

    ``match`` returns the subscriptions that accept a message, in the order they were added,
    agreeing exactly with ``filter_policy_matches``. Not thread-safe.

        subscriptions: FilterPolicySet[str] = FilterPolicySet()
        subscriptions.add("arn:...:sub-1", {"store": ["example_corp"]})
        subscriptions.add("arn:...:sub-2", {"price": [{"numeric": [">", 100]}]},
                          scope="MessageBody")
        subscriptions.match(message_attributes=attrs, body=message)
    """

    def __init__(self) -> None:
        self._scopes: dict[str, RuleSet[K]] = {
            "MessageAttributes": RuleSet(),
            "MessageBody": RuleSet(),
        }
        self._order: dict[K, tuple[int, str]] = {}
        self._accept_all: set[K] = set()
        self._seq = 0

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: object) -> bool:
        return key in self._order

    def add(self, key: K, policy: Policy, *, scope: str = "MessageAttributes") -> None:
        """Add a subscription's policy, or replace it; validates (``validate_filter_policy``)."""
        clauses = compile_pattern(policy, sns_dialect(scope), check=True)
        if key in self._order:
            self.remove(key)
        self._scopes[scope]._add_clauses(key, clauses)
        self._order[key] = (self._seq, scope)
        self._seq += 1
        if clauses == [()]:
            self._accept_all.add(key)

    def remove(self, key: K) -> None:
        """Remove a subscription's policy; KeyError when there is none."""
        _, scope = self._order.pop(key)
        self._accept_all.discard(key)
        self._scopes[scope].remove(key)

    def match(self, *, message_attributes: Attributes | None = None, body: Any = None) -> list[K]:
        """The keys of the subscriptions whose policy accepts this message."""
        found: list[K] = []
        attributes = self._scopes["MessageAttributes"]
        if len(attributes):
            found += attributes.match(_attributes_event(message_attributes or {}))
        payload = self._scopes["MessageBody"]
        if len(payload):
            event = _body_event(body)
            if event is not None:
                found += payload.match(event)
            else:  # only an empty policy accepts a body that is not a JSON object
                found += [key for key in payload if key in self._accept_all]
        return sorted(found, key=lambda key: self._order[key][0])
