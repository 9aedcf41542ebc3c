"""Property: a RuleSet holding several generated patterns answers exactly as ``matches`` does.

Patterns and events are drawn from one small vocabulary of field names and values so that they
collide often: shared paths and values, arrays of objects (array consistency), exists: false,
every operator kind, ``$or``. Removing rules must leave the remaining ones answering the same.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overcast.errors import InvalidPattern
from overcast.matching import RuleSet, filter_policy_matches, matches, validate_pattern
from overcast.matching.policies import FilterPolicySet

NAMES = ["a", "b", "c"]
STRINGS = ["", "a", "ab", "abc", "Ab", "b", "x.png", "X.PNG", "10.1.2.3", "::1", "a*b"]
NUMBERS = [-1, 0, 1, 2.5, 300, 3e2, 10**6]
SCALARS = st.one_of(st.sampled_from(STRINGS), st.sampled_from(NUMBERS), st.booleans(), st.none())
TEXT = st.sampled_from(["", "a", "ab", "b", ".png", "A", "x"])
WILDCARDS = st.sampled_from(["a*", "*b", "*", "a*b", "*.png", "x*", "\\*", "*1*"])


@st.composite
def numeric(draw: st.DrawFn) -> dict[str, Any]:
    low, high = sorted(
        draw(st.lists(st.sampled_from(NUMBERS), min_size=2, max_size=2, unique=True))
    )
    form = draw(st.sampled_from(["=", "<", "<=", ">", ">=", "range"]))
    if form == "range":
        return {
            "numeric": [
                draw(st.sampled_from([">", ">="])),
                low,
                draw(st.sampled_from(["<", "<="])),
                high,
            ]
        }
    return {"numeric": [form, low]}


OPERATORS = st.one_of(
    st.builds(lambda t: {"prefix": t}, TEXT),
    st.builds(lambda t: {"suffix": t}, TEXT),
    st.builds(lambda t: {"prefix": {"equals-ignore-case": t}}, TEXT),
    st.builds(lambda t: {"suffix": {"equals-ignore-case": t}}, TEXT),
    st.builds(lambda t: {"equals-ignore-case": t}, TEXT),
    st.builds(lambda w: {"wildcard": w}, WILDCARDS),
    numeric(),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda c: {"cidr": c}, st.sampled_from(["10.0.0.0/8", "::/0", "10.1.2.3/32"])),
    st.builds(lambda v: {"anything-but": v}, st.sampled_from(STRINGS)),
    st.builds(
        lambda v: {"anything-but": v}, st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3)
    ),
    st.builds(
        lambda v: {"anything-but": v}, st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3)
    ),
    st.builds(lambda t: {"anything-but": {"prefix": t}}, TEXT.filter(bool)),
    st.builds(lambda t: {"anything-but": {"suffix": [t]}}, TEXT.filter(bool)),
    st.builds(lambda t: {"anything-but": {"equals-ignore-case": t}}, TEXT),
    st.builds(lambda w: {"anything-but": {"wildcard": w}}, WILDCARDS),
)
VALUE_LISTS = st.lists(st.one_of(SCALARS, OPERATORS, OPERATORS), min_size=1, max_size=3)


def patterns(depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    field = (
        VALUE_LISTS
        if depth >= 1
        else st.one_of(VALUE_LISTS, st.deferred(lambda: patterns(depth + 1)))
    )
    fields = st.dictionaries(st.sampled_from(NAMES), field, min_size=1, max_size=2)
    alternatives = st.lists(
        st.dictionaries(st.sampled_from(NAMES), VALUE_LISTS, min_size=1, max_size=2),
        min_size=2,
        max_size=3,
    )

    def with_or(parts: tuple[dict[str, Any], list[dict[str, Any]] | None]) -> dict[str, Any]:
        pattern, branches = parts
        return {**pattern, "$or": branches} if branches else pattern

    return st.tuples(fields, st.none() | alternatives if depth == 0 else st.none()).map(with_or)


# Events mirror the patterns' shapes (fields two deep, arrays of objects) so they often collide.
LEAVES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
OBJECTS = st.dictionaries(st.sampled_from(NAMES), LEAVES, max_size=3)
EVENT_VALUES = st.one_of(
    SCALARS,
    LEAVES,
    OBJECTS,
    st.lists(OBJECTS, min_size=1, max_size=3),
    st.lists(st.one_of(SCALARS, OBJECTS, st.lists(OBJECTS, max_size=2)), max_size=3),
)
EVENTS = st.dictionaries(st.sampled_from(NAMES), EVENT_VALUES, max_size=3)


def valid(pattern: dict[str, Any]) -> bool:
    try:
        validate_pattern(pattern)
    except InvalidPattern:
        return False
    return True


SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    rules=st.lists(patterns().filter(valid), min_size=1, max_size=6),
    events=st.lists(EVENTS, min_size=1, max_size=4),
    removed=st.sets(st.integers(0, 5), max_size=2),
)
def test_ruleset_agrees_with_matches(
    rules: list[dict[str, Any]], events: list[dict[str, Any]], removed: set[int]
) -> None:
    rule_set: RuleSet[int] = RuleSet()
    for i, pattern in enumerate(rules):
        rule_set.add(i, pattern)
    for event in events:
        assert rule_set.match(event) == [i for i, p in enumerate(rules) if matches(p, event)]
    for i in removed & set(range(len(rules))):
        rule_set.remove(i)
    kept = [i for i in range(len(rules)) if i not in removed]
    for event in events:
        assert rule_set.match(event) == [i for i in kept if matches(rules[i], event)]


SNS_OPERATORS = st.one_of(
    st.builds(lambda t: {"prefix": t}, TEXT),
    st.builds(lambda t: {"suffix": t}, TEXT),
    st.builds(lambda t: {"equals-ignore-case": t}, TEXT),
    numeric(),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(
        lambda v: {"anything-but": v}, st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=2)
    ),
    st.builds(lambda t: {"anything-but": {"prefix": t}}, TEXT.filter(bool)),
)
POLICIES = st.dictionaries(
    st.sampled_from(NAMES),
    st.lists(
        st.one_of(st.sampled_from(STRINGS), st.sampled_from(NUMBERS), SNS_OPERATORS),
        min_size=1,
        max_size=3,
    ),
    max_size=3,
)
ATTRIBUTE = st.one_of(
    st.builds(lambda v: {"Type": "String", "Value": v}, st.sampled_from(STRINGS)),
    st.builds(lambda v: {"Type": "Number", "Value": str(v)}, st.sampled_from(NUMBERS)),
    st.builds(
        lambda v: {"Type": "String.Array", "Value": repr(v).replace("'", '"')},
        st.lists(st.sampled_from(STRINGS[:6]), max_size=3),
    ),
    st.just({"Type": "Binary", "Value": "AA=="}),
)


@SETTINGS
@given(
    policies=st.lists(POLICIES, min_size=1, max_size=5),
    messages=st.lists(st.dictionaries(st.sampled_from(NAMES), ATTRIBUTE, max_size=3), max_size=4),
)
def test_filter_policy_set_agrees_with_filter_policy_matches(
    policies: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> None:
    subscriptions: FilterPolicySet[int] = FilterPolicySet()
    for i, policy in enumerate(policies):
        subscriptions.add(i, policy)
    for attributes in messages:
        expected = [
            i
            for i, policy in enumerate(policies)
            if filter_policy_matches(policy, message_attributes=attributes)
        ]
        assert subscriptions.match(message_attributes=attributes) == expected


# Array consistency, targeted: several fields of one array element, few values so they collide.
FEW = st.sampled_from(["a", "b", 1, None])
ELEMENT_FIELDS = st.lists(
    st.one_of(
        FEW,
        st.builds(lambda b: {"exists": b}, st.booleans()),
        st.builds(lambda v: {"anything-but": v}, st.sampled_from(["a", "b"])),
    ),
    min_size=1,
    max_size=2,
)
ARRAY_PATTERNS = st.builds(
    lambda inner, top: {"a": inner, **top},
    st.dictionaries(st.sampled_from(NAMES), ELEMENT_FIELDS, min_size=2, max_size=3),
    st.dictionaries(st.just("b"), st.lists(FEW, min_size=1, max_size=2), max_size=1),
)
ELEMENTS = st.dictionaries(
    st.sampled_from(NAMES), st.one_of(FEW, st.lists(FEW, max_size=2)), max_size=3
)
ARRAY_EVENTS = st.builds(
    lambda elements, b: {"a": elements, **b},
    st.lists(st.one_of(ELEMENTS, st.lists(ELEMENTS, max_size=2)), min_size=1, max_size=4),
    st.dictionaries(st.just("b"), FEW, max_size=1),
)


@SETTINGS
@given(
    rules=st.lists(ARRAY_PATTERNS, min_size=1, max_size=5),
    events=st.lists(ARRAY_EVENTS, min_size=1, max_size=4),
)
def test_ruleset_agrees_on_arrays_of_objects(
    rules: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    rule_set: RuleSet[int] = RuleSet()
    for i, pattern in enumerate(rules):
        rule_set.add(i, pattern)
    for event in events:
        assert rule_set.match(event) == [i for i, p in enumerate(rules) if matches(p, event)]


# Every operator on one field, against values of that field: the index's per-kind tables.
FLAT_EVENTS = st.fixed_dictionaries(
    {"a": st.one_of(SCALARS, st.sampled_from(STRINGS), st.lists(SCALARS, max_size=3))}
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(st.fixed_dictionaries({"a": VALUE_LISTS}).filter(valid), min_size=1, max_size=8),
    events=st.lists(FLAT_EVENTS, min_size=1, max_size=6),
)
def test_ruleset_agrees_on_one_field(
    rules: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    rule_set: RuleSet[int] = RuleSet()
    for i, pattern in enumerate(rules):
        rule_set.add(i, pattern)
    for event in events:
        assert rule_set.match(event) == [i for i, p in enumerate(rules) if matches(p, event)]
