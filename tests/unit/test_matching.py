"""Focused tests of overcast.matching: error paths, limits, edge cases, the compiled sets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from overcast.errors import InvalidPattern
from overcast.matching import (
    EVENT_PATTERN_MAX_SIZE,
    FilterPolicySet,
    RuleSet,
    filter_policy_matches,
    matches,
    validate_filter_policy,
    validate_pattern,
)

# --- error messages name the path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ({"detail": {"price": [{"numeric": [">", 0, "<", "x"]}]}}, "detail.price.numeric[3]"),
        ({"detail": {"price": [{"numeric": ["<", "5"]}]}}, "detail.price.numeric[1]"),
        ({"detail": {"price": [{"numeric": [">", 0, "<"]}]}}, "detail.price.numeric[3]"),
        ({"detail": {"price": [{"numeric": [">", 0, "<", 1, 2]}]}}, "detail.price.numeric[4]"),
        ({"detail": {"price": [{"numeric": []}]}}, "detail.price.numeric"),
        ({"detail": {"price": [{"numeric": [">", 6e9]}]}}, "detail.price.numeric[1]"),
        ({"source": ["a", ["b"]]}, "source[1]"),
        ({"source": "aws.ec2"}, "source"),
        ({"source": []}, "source"),
        ({"detail": {}}, "detail"),
        ({"$or": [{"a": ["x"]}, {"b": "y"}]}, "$or[1].b"),
        ({"$or": [{"a": ["x"]}]}, "$or"),
        ({"$or": {"a": ["x"]}}, "$or"),
        ({"$or": [{"a": ["x"]}, "b"]}, "$or[1]"),
        ({"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}, "$or[0].prefix"),
        ({"detail": {"$or": [{"a": ["x"]}, {"b": [{"exists": 1}]}]}}, "detail.$or[1].b.exists"),
        ({"a": [{"anything-but": ["x", 1]}]}, "a.anything-but[1]"),
        ({"a": [{"anything-but": []}]}, "a.anything-but"),
        ({"a": [{"anything-but": {"prefix": ""}}]}, "a.anything-but.prefix"),
        ({"a": [{"anything-but": {"suffix": ["ok", 1]}}]}, "a.anything-but.suffix[1]"),
        ({"a": [{"anything-but": {"wildcard": "a**"}}]}, "a.anything-but.wildcard"),
        ({"a": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}, "a.anything-but"),
        ({"a": [{"prefix": {"equals-ignore-case": 1}}]}, "a.prefix.equals-ignore-case"),
        ({"a": [{"prefix": {"wildcard": "x"}}]}, "a.prefix"),
        ({"a": [{"wildcard": "a**b"}]}, "a.wildcard"),
        ({"a": [{"wildcard": "a\\b"}]}, "a.wildcard"),
        ({"ip": [{"cidr": "10.0.0.0/x"}]}, "ip.cidr"),
        ({"ip": [{"cidr": "2001:db8::/129"}]}, "ip.cidr"),
        ({"ip": [{"cidr": "10.0.0.0/8/8"}]}, "ip.cidr"),
        ({"a": [{"equals": "x"}]}, "a"),
        ({"a": [float("nan")]}, "a[0]"),
    ],
)
def test_invalid_pattern_message_starts_with_the_path(pattern: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidPattern) as info:
        validate_pattern(pattern)
    assert str(info.value).startswith(f"{path}: "), str(info.value)


def test_root_errors_name_the_pattern() -> None:
    patterns: list[Any] = [[], {}, "[1]", "{not json"]
    for pattern in patterns:
        with pytest.raises(InvalidPattern, match=r"^event pattern: "):
            validate_pattern(pattern)
    with pytest.raises(InvalidPattern, match=r"^filter policy: "):
        validate_filter_policy([])  # type: ignore[arg-type]
    with pytest.raises(InvalidPattern, match=r"^scope: "):
        validate_filter_policy({}, scope="Body")


def test_valid_patterns_pass() -> None:
    validate_pattern(
        {
            "source": ["a", 1, 2.5, True, None, {"prefix": ""}],
            "detail": {
                "x": [{"numeric": [">=", -5e9, "<=", 5e9]}, {"numeric": ["=", 3.018e2]}],
                "ip": [{"cidr": "2001:db8::/32"}, {"cidr": "10.0.0.1/24"}],
                "w": [{"wildcard": "a\\*b\\\\c*"}, {"anything-but": {"wildcard": ["*x", "y*"]}}],
                "e": [{"equals-ignore-case": ""}, {"suffix": {"equals-ignore-case": ".PNG"}}],
                "$or": [{"m": [{"exists": True}]}, {"n": [{"exists": False}]}],
            },
        }
    )
    validate_pattern('{"source": [ "aws.ec2" ]}')


# --- limits ------------------------------------------------------------------------------------


def test_event_pattern_size_limit() -> None:
    def sized(n: int) -> dict[str, Any]:
        base = '{"a":[""]}'
        return {"a": ["x" * (n - len(base))]}

    validate_pattern(sized(EVENT_PATTERN_MAX_SIZE))
    with pytest.raises(InvalidPattern, match="2049 characters; the maximum is 2048"):
        validate_pattern(sized(EVENT_PATTERN_MAX_SIZE + 1))
    validate_pattern(sized(4096), max_size=4096)
    # JSON text is measured as given, whitespace included.
    text = json.dumps(sized(2000), indent=40)
    with pytest.raises(InvalidPattern, match="characters"):
        validate_pattern(text)


def test_wildcard_complexity() -> None:
    validate_pattern({"f": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]})
    validate_pattern({"f": [{"wildcard": "*.bif"}, {"wildcard": "*.tiff"}, {"wildcard": "*.tif"}]})
    with pytest.raises(InvalidPattern, match="too complex"):
        validate_pattern({"f": [{"wildcard": w} for w in ("*.bif", "*.tiff", "*.tif", "*.svs")]})
    # Wildcards of one field count together across $or branches.
    validate_pattern({"f": [{"wildcard": "*:*:*:*"}]})
    with pytest.raises(InvalidPattern, match=r"^\$or\[0\]\.f\.wildcard: rule is too complex"):
        validate_pattern(
            {"$or": [{"f": [{"wildcard": "*:*:*:*"}]}, {"f": [{"wildcard": "*:*:*:x"}]}]}
        )


def test_or_expansion_is_bounded() -> None:
    branch = {"$or": [{"a": ["1"]}, {"b": ["2"]}]}
    pattern: dict[str, Any] = {f"k{i}": branch for i in range(11)}  # 2**11 alternatives
    with pytest.raises(InvalidPattern, match="1024 alternatives"):
        validate_pattern(pattern)


def test_sns_key_and_combination_limits() -> None:
    validate_filter_policy({k: ["v"] for k in "abcde"})
    with pytest.raises(InvalidPattern, match="6 keys"):
        validate_filter_policy({k: ["v"] for k in "abcdef"}, scope="MessageBody")
    # Nested: only leaf keys count.
    validate_filter_policy({"a": {"b": {"c": ["v"]}}, "d": ["v"]}, scope="MessageBody")
    # 15 x 10 = 150 is the most allowed.
    validate_filter_policy({"a": [str(i) for i in range(15)], "b": [str(i) for i in range(10)]})
    with pytest.raises(InvalidPattern, match="151 combinations"):
        validate_filter_policy({"a": [str(i) for i in range(151)]})
    # Nested keys weigh values by depth: the AWS example, 3 x 4 x 2 x 3 = 72.
    nested = {"a": {"b": {"c": ["1", "2", "3", "4"]}}, "d": {"e": ["1", "2", "3"]}}
    validate_filter_policy(nested, scope="MessageBody")
    with pytest.raises(InvalidPattern, match="192 combinations"):
        validate_filter_policy(
            {"a": {"b": {"c": [str(i) for i in range(16)]}}, "d": {"e": ["1", "2"]}},
            scope="MessageBody",
        )
    # $or branches add up: 100 + 51.
    with pytest.raises(InvalidPattern, match="151 combinations"):
        validate_filter_policy(
            {"$or": [{"a": [str(i) for i in range(100)]}, {"b": [str(i) for i in range(51)]}]}
        )


def test_sns_size_and_numeric_limits() -> None:
    with pytest.raises(InvalidPattern, match="bytes; the maximum is 262144"):
        validate_filter_policy({"a": ["é" * 140_000]})
    validate_filter_policy({"a": [{"numeric": [">", -1e9, "<=", 1e9]}]})
    with pytest.raises(InvalidPattern, match=r"^a\.numeric\[1\]: must be between"):
        validate_filter_policy({"a": [{"numeric": ["<", 1e9 + 1]}]})
    validate_pattern({"a": [{"numeric": ["<", 1e9 + 1]}]})  # EventBridge allows up to 5e9


@pytest.mark.parametrize(
    "policy",
    [
        {"a": [{"wildcard": "x*"}]},
        {"a": [{"prefix": {"equals-ignore-case": "x"}}]},
        {"a": [{"anything-but": {"suffix": "x"}}]},
        {"a": [{"anything-but": {"equals-ignore-case": "x"}}]},
        {"a": [{"anything-but": {"prefix": ["x", "y"]}}]},
        {"a": {"b": ["x"]}},
    ],
)
def test_sns_rejects_what_only_eventbridge_allows(policy: dict[str, Any]) -> None:
    with pytest.raises(InvalidPattern):
        validate_filter_policy(policy)


def test_sns_body_scope_allows_nesting() -> None:
    validate_filter_policy({"a": {"b": ["x"]}}, scope="MessageBody")


# --- matching edge cases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"n": [300]}, {"n": 3.0e2}, True),
        ({"n": [1]}, {"n": True}, False),
        ({"n": [True]}, {"n": 1}, False),
        ({"n": [0]}, {"n": -0.0}, True),
        ({"n": [10**20]}, {"n": 1e20}, True),
        ({"n": [{"numeric": [">", 0]}]}, {"n": float("nan")}, False),
        ({"n": [{"anything-but": [1]}]}, {"n": "1"}, True),
        ({"n": [{"anything-but": ["1"]}]}, {"n": 1}, True),
        ({"n": [{"anything-but": 1}]}, {"n": 1.0}, False),
        ({"s": [""]}, {"s": ""}, True),
        ({"s": [{"prefix": ""}]}, {"s": 5}, False),
        ({"s": [{"equals-ignore-case": "STRASSE"}]}, {"s": "strasse"}, True),
        ({"s": [{"suffix": {"equals-ignore-case": ".PNG"}}]}, {"s": "a.png"}, True),
        ({"s": [{"wildcard": "*"}]}, {"s": ""}, True),
        ({"s": [{"wildcard": "a*"}]}, {"s": "a\nb"}, True),
        ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "::ffff:10.0.0.1"}, False),
        ({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:DB8::1"}, True),
        ({"ip": [{"cidr": "0.0.0.0/0"}]}, {"ip": "1.2.3.4"}, True),
        ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": " 10.0.0.1"}, False),
        ({"a": {"b": [{"exists": False}]}}, {"a": []}, True),
        ({"a": {"b": [{"exists": True}]}}, {"a": [[{"b": None}]]}, True),
        ({"a": [{"exists": True}]}, {"a": [[], {}]}, False),
        # Array consistency reaches through nested arrays and exists: false.
        (
            {"e": {"f": ["A"], "m": [{"exists": False}]}},
            {"e": [{"f": "A", "m": 1}, {"f": "A"}]},
            True,
        ),
        (
            {"e": {"f": ["A"], "m": [{"exists": False}]}},
            {"e": [{"f": "A", "m": 1}, {"f": "B"}]},
            False,
        ),
        ({"e": {"f": ["A"], "g": ["B"]}}, {"e": [[{"f": "A"}, {"g": "B"}]]}, False),
        ({"e": {"f": ["A"], "g": ["B"]}}, {"e": [[{"f": "A", "g": ["x", "B"]}]]}, True),
        # A field that is absent everywhere in the event, even inside other array elements.
        ({"e": {"m": [{"exists": False}]}}, {"e": [{"m": 1}, {"f": 2}]}, False),
        ('{"source": ["x"]}', {"source": "x"}, True),
    ],
)
def test_matches_edge_cases(pattern: Any, event: Any, expected: bool) -> None:
    assert matches(pattern, event) is expected
    rules: RuleSet[str] = RuleSet()
    rules.add("r", pattern)
    assert rules.match(event) == (["r"] if expected else [])


def _cyclic() -> dict[str, Any]:
    event: dict[str, Any] = {"a": {}}
    event["a"]["a"] = event
    return event


def _deep_arrays(depth: int) -> dict[str, Any]:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return {"a": value}


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "text",
        3,
        {"a": {1, 2}},
        {1: "x", "a": b"x"},
        _cyclic(),
        _deep_arrays(5000),
        {"a": {"a": float("inf")}},
        {"a": object()},
    ],
)
def test_odd_events_do_not_crash(event: Any) -> None:
    patterns: list[dict[str, Any]] = [
        {"a": ["x"]},
        {"a": {"a": [{"numeric": [">", 0]}]}},
        {"a": [{"anything-but": "x"}]},
        {"a": [{"exists": False}]},
        {"a": [{"cidr": "10.0.0.0/8"}, {"wildcard": "*x"}, {"equals-ignore-case": "X"}]},
    ]
    rules: RuleSet[int] = RuleSet()
    for i, pattern in enumerate(patterns):
        rules.add(i, pattern)
    assert rules.match(event) == [i for i, p in enumerate(patterns) if matches(p, event)]


def test_deep_array_still_matches() -> None:
    assert matches({"a": ["x"]}, _deep_arrays(5000))


# --- RuleSet -----------------------------------------------------------------------------------


def test_ruleset_add_replace_remove() -> None:
    rules: RuleSet[str] = RuleSet()
    rules.add("b", {"source": ["s"]})
    rules.add("a", {"source": [{"prefix": "s"}]})
    rules.add("c", {"detail": {"x": [{"exists": False}]}})
    assert len(rules) == 3 and "a" in rules and list(rules) == ["b", "a", "c"]
    assert rules.match({"source": "s"}) == ["b", "a", "c"]  # insertion order
    rules.add("b", {"source": ["t"]})  # replace: moves to the end
    assert rules.match({"source": "s"}) == ["a", "c"]
    assert rules.match({"source": "t", "detail": {"x": 1}}) == ["b"]
    rules.remove("a")
    assert rules.match({"source": "s"}) == ["c"]
    with pytest.raises(KeyError):
        rules.remove("a")
    with pytest.raises(InvalidPattern):
        rules.add("c", {"source": "s"})
    assert rules.match({"source": "s"}) == ["c"]  # a failed replace keeps the old rule
    for name in list(rules):
        rules.remove(name)
    assert len(rules) == 0 and rules.match({"source": "s"}) == []
    assert not rules._indexes and not rules._nodes and not rules._paths  # nothing leaks


def test_ruleset_shared_values_and_many_kinds() -> None:
    rules: RuleSet[int] = RuleSet()
    for i in range(200):
        rules.add(
            i,
            {
                "source": ["my.app"],
                "detail-type": [f"type-{i % 50}"],
                "detail": {"n": [{"numeric": [">", i]}], "id": [{"prefix": f"{i % 7}-"}]},
            },
        )
    event = {"source": "my.app", "detail-type": "type-3", "detail": {"n": 100, "id": "3-abc"}}
    expected = [i for i in range(200) if i % 50 == 3 and i < 100 and i % 7 == 3]
    assert rules.match(event) == expected
    # Clauses anchor on their least-shared node, not on the source every rule shares.
    source_nodes = [n for n in rules._nodes.values() if n.refs == 200]
    assert source_nodes and all(not n.anchored for n in source_nodes)


def test_ruleset_rule_with_only_absent_fields_and_empty_event() -> None:
    rules: RuleSet[str] = RuleSet()
    rules.add("absent", {"detail": {"x": [{"exists": False}]}})
    rules.add("null-or-absent", {"y": [None, {"exists": False}]})
    assert rules.match({}) == ["absent", "null-or-absent"]
    assert rules.match({"y": None, "detail": {"x": [1]}}) == ["null-or-absent"]
    assert rules.match({"y": 1}) == ["absent"]


# --- SNS ---------------------------------------------------------------------------------------


def attributes(**values: tuple[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: {"Type": kind, "Value": value} for name, (kind, value) in values.items()}


@pytest.mark.parametrize(
    ("policy", "message", "expected"),
    [
        ({"p": [301.5]}, attributes(p=("Number", "3.015e2")), True),
        ({"p": ["301.5"]}, attributes(p=("Number", "301.5")), False),
        ({"p": [301.5]}, attributes(p=("String", "301.5")), False),
        ({"p": [{"numeric": [">", 1]}]}, attributes(p=("Number.float", "2")), True),
        ({"p": [{"numeric": [">", 1]}]}, attributes(p=("Number", "lots")), False),
        ({"t": [2]}, attributes(t=("String.Array", "[1, 2]")), True),
        ({"t": [True]}, attributes(t=("String.Array", '["x", true]')), True),
        ({"t": ["x"]}, attributes(t=("String.Array", "not json")), False),
        ({"t": [{"anything-but": ["a"]}]}, attributes(t=("String.Array", '["a", "b"]')), True),
        ({"b": [{"exists": False}]}, attributes(b=("Binary", "AAA=")), True),
        ({"b": [{"exists": True}]}, attributes(b=("Binary", "AAA=")), False),
        ({"s": ["x"]}, attributes(s=("String.custom", "x")), True),
        ({}, {}, True),
    ],
)
def test_sns_attribute_types(policy: dict[str, Any], message: Any, expected: bool) -> None:
    assert filter_policy_matches(policy, message_attributes=message) is expected
    subscriptions: FilterPolicySet[str] = FilterPolicySet()
    subscriptions.add("s", policy)
    assert subscriptions.match(message_attributes=message) == (["s"] if expected else [])


@pytest.mark.parametrize(
    ("policy", "body", "expected"),
    [
        ({"a": ["x"]}, '{"a": "x"}', True),
        ({"a": ["x"]}, b'{"a": "x"}', True),
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x"]}, "not json", False),
        ({"a": [{"exists": False}]}, "not json", False),
        ({"a": [{"exists": False}]}, "[1]", False),
        ({"a": [{"exists": False}]}, None, False),
        ({}, "not json", True),
        ({"a": {"b": [{"numeric": ["<", 0]}]}}, {"a": [{"b": 1}, {"b": -1}]}, True),
    ],
)
def test_sns_body(policy: dict[str, Any], body: Any, expected: bool) -> None:
    result = filter_policy_matches(policy, body=body, scope="MessageBody")
    assert result is expected
    subscriptions: FilterPolicySet[str] = FilterPolicySet()
    subscriptions.add("s", policy, scope="MessageBody")
    assert subscriptions.match(body=body) == (["s"] if expected else [])


def test_filter_policy_set_mixes_scopes_in_order() -> None:
    subscriptions: FilterPolicySet[str] = FilterPolicySet()
    subscriptions.add("body", {"a": ["x"]}, scope="MessageBody")
    subscriptions.add("attrs", {"a": ["x"]})
    subscriptions.add("all", {})
    message: dict[str, Any] = {
        "message_attributes": attributes(a=("String", "x")),
        "body": '{"a": "x"}',
    }
    assert subscriptions.match(**message) == ["body", "attrs", "all"]
    subscriptions.add("body", {"a": ["x"]})  # replaced, now an attribute policy at the end
    assert subscriptions.match(body='{"a": "x"}') == ["all"]
    assert subscriptions.match(**message) == ["attrs", "all", "body"]
    subscriptions.remove("attrs")
    assert len(subscriptions) == 2 and "attrs" not in subscriptions
    with pytest.raises(InvalidPattern):
        subscriptions.add("bad", {"a": {"b": ["x"]}})
    assert "bad" not in subscriptions
