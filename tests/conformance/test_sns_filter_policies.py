"""Conformance: the shared SNS filter-policy vectors, run as they are (never edited).

Each matching case also runs through a ``FilterPolicySet`` holding that policy among a few
unrelated subscriptions of both scopes, and each invalid case through ``FilterPolicySet.add``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import InvalidPattern
from overcast.matching import FilterPolicySet, filter_policy_matches, validate_filter_policy

VECTORS = Path(__file__).parent / "vectors" / "sns_filter_policies.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))

UNRELATED: list[tuple[str, dict[str, Any], str]] = [
    ("rugby-fans", {"customer_interests": ["rugby"], "store": ["other_corp"]}, "MessageAttributes"),
    ("big-spenders", {"price_usd": [{"numeric": [">", 1000]}]}, "MessageAttributes"),
    ("everything", {}, "MessageAttributes"),
    ("no-store", {"store": [{"exists": False}], "flag": [False]}, "MessageBody"),
    ("a-prefixed", {"a": [{"prefix": "x"}], "b": {"c": ["3"]}}, "MessageBody"),
]


def _subscriptions(policy: dict[str, Any], scope: str) -> FilterPolicySet[str]:
    subscriptions: FilterPolicySet[str] = FilterPolicySet()
    for name, other, other_scope in UNRELATED[:3]:
        subscriptions.add(name, other, scope=other_scope)
    subscriptions.add("case", policy, scope=scope)
    for name, other, other_scope in UNRELATED[3:]:
        subscriptions.add(name, other, scope=other_scope)
    return subscriptions


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_sns_filter_policy_vector(case: dict[str, Any]) -> None:
    policy, scope = case["policy"], case["scope"]
    if case.get("invalid"):
        with pytest.raises(InvalidPattern):
            validate_filter_policy(policy, scope=scope)
        subscriptions: FilterPolicySet[str] = FilterPolicySet()
        with pytest.raises(InvalidPattern):
            subscriptions.add("case", policy, scope=scope)
        assert len(subscriptions) == 0
        return

    attributes, body = case["message_attributes"], case["body"]
    validate_filter_policy(policy, scope=scope)
    result = filter_policy_matches(policy, message_attributes=attributes, body=body, scope=scope)
    assert result is case["match"], case["doc"]

    def accepts(other: dict[str, Any], other_scope: str) -> bool:
        return filter_policy_matches(
            other, message_attributes=attributes, body=body, scope=other_scope
        )

    expected = [name for name, other, other_scope in UNRELATED[:3] if accepts(other, other_scope)]
    expected += ["case"] if case["match"] else []
    expected += [name for name, other, other_scope in UNRELATED[3:] if accepts(other, other_scope)]
    subscriptions = _subscriptions(policy, scope)
    assert subscriptions.match(message_attributes=attributes, body=body) == expected, case["doc"]
