"""Conformance: the shared EventBridge event-pattern vectors, run as they are (never edited).

Each matching case also runs through a ``RuleSet`` holding that rule among a few unrelated ones
(which share field paths and values with the vectors, so they crowd the same index entries), and
each invalid case through ``RuleSet.add``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import InvalidPattern
from overcast.matching import RuleSet, matches, validate_pattern

VECTORS = Path(__file__).parent / "vectors" / "event_patterns.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))

UNRELATED: list[tuple[str, dict[str, Any]]] = [
    ("other-source", {"source": ["aws.s3"], "detail-type": ["Object Created"]}),
    ("ec2-other-state", {"source": ["aws.ec2"], "detail": {"state": ["stopped"]}}),
    ("us-regions", {"region": [{"prefix": "us-"}], "detail": {"n": [{"numeric": [">", 1e6]}]}}),
    ("no-tags", {"detail": {"tags": [{"exists": False}], "f": [{"suffix": ".gif"}]}}),
    ("anything", {"account": [{"anything-but": "000000000000"}], "version": ["0"]}),
]


def _rule_set(case_rule: dict[str, Any]) -> RuleSet[str]:
    rules: RuleSet[str] = RuleSet()
    for name, pattern in UNRELATED[:2]:
        rules.add(name, pattern)
    rules.add("case", case_rule)
    for name, pattern in UNRELATED[2:]:
        rules.add(name, pattern)
    return rules


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_event_pattern_vector(case: dict[str, Any]) -> None:
    pattern = case["pattern"]
    if case.get("invalid"):
        with pytest.raises(InvalidPattern):
            validate_pattern(pattern)
        rules: RuleSet[str] = RuleSet()
        rules.add("kept", {"source": ["aws.ec2"]})
        with pytest.raises(InvalidPattern):
            rules.add("case", pattern)
        assert len(rules) == 1 and "case" not in rules
        return

    event = case["event"]
    validate_pattern(pattern)
    assert matches(pattern, event) is case["match"], case["doc"]

    rules = _rule_set(pattern)
    expected = [name for name, other in UNRELATED[:2] if matches(other, event)]
    expected += ["case"] if case["match"] else []
    expected += [name for name, other in UNRELATED[2:] if matches(other, event)]
    assert rules.match(event) == expected, case["doc"]
