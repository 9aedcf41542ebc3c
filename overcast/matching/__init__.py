"""Event matching: EventBridge event patterns and SNS subscription filter policies.

``matches`` and ``filter_policy_matches`` decide one pattern against one event or message;
``RuleSet`` and ``FilterPolicySet`` compile many into a shared index whose cost per event does
not grow with the number of rules; ``validate_pattern`` and ``validate_filter_policy`` raise
``overcast.errors.InvalidPattern`` naming the offending path. Pure code: no I/O, no clock.

The one thing to know before changing it: all four matchers decide clauses through
``_core.decide``; the compiled sets only find candidates. Keep it that way, and keep
tests/unit/test_ruleset_property.py passing, or the sets and the reference will drift apart.
Reference: docs/reference/matching.md.
"""

from __future__ import annotations

from overcast.matching._compile import (
    EVENT_PATTERN_MAX_SIZE,
    FILTER_POLICY_MAX_COMBINATIONS,
    FILTER_POLICY_MAX_KEYS,
    FILTER_POLICY_MAX_SIZE,
)
from overcast.matching.patterns import Pattern, matches, validate_pattern
from overcast.matching.policies import (
    FilterPolicySet,
    Policy,
    filter_policy_matches,
    validate_filter_policy,
)
from overcast.matching.ruleset import RuleSet

__all__ = [
    # EventBridge event patterns
    "Pattern",
    "matches",
    "validate_pattern",
    "RuleSet",
    # SNS subscription filter policies
    "Policy",
    "filter_policy_matches",
    "validate_filter_policy",
    "FilterPolicySet",
    # limits
    "EVENT_PATTERN_MAX_SIZE",
    "FILTER_POLICY_MAX_SIZE",
    "FILTER_POLICY_MAX_KEYS",
    "FILTER_POLICY_MAX_COMBINATIONS",
]
