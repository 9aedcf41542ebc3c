"""Choice rules: the comparison operators, ``And``/``Or``/``Not``, and ``StringMatches`` globs.

Before changing: a comparison whose variable has the wrong type is simply false (no error),
but a ``Variable`` (or ``...Path`` operand) that does not exist is ``States.Runtime`` — use
``IsPresent`` to guard. Numbers compare by value (``10 == 10.0``); booleans are never numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from .errors import RUNTIME, StatesError
from .intrinsics import Scope, read_path

__all__ = ["COMPARISONS", "TYPE_TESTS", "evaluate_rule", "parse_timestamp", "string_matches"]

_KINDS = {
    "String": "string",
    "Numeric": "number",
    "Boolean": "boolean",
    "Timestamp": "timestamp",
}
_RELATIONS = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")

#: operator name -> (operand kind, relation); the ``...Path`` forms read the operand from input.
COMPARISONS: dict[str, tuple[str, str]] = {}
for _prefix, _kind in _KINDS.items():
    for _relation in _RELATIONS:
        if _kind == "boolean" and _relation != "Equals":
            continue
        COMPARISONS[_prefix + _relation] = (_kind, _relation)
        COMPARISONS[_prefix + _relation + "Path"] = (_kind, _relation)
COMPARISONS["StringMatches"] = ("string", "Matches")

TYPE_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (uppercase ``T``, ``Z`` or a numeric offset) or None."""
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    if "." in text:
        # Python accepts at most 6 fractional digits; finer precision cannot change an order
        # of timestamps that Step Functions itself keeps to the millisecond.
        head, rest = text.split(".", 1)
        digits = re.match(r"\d+", rest)
        assert digits is not None
        text = head + "." + digits.group(0)[:6].ljust(6, "0") + rest[digits.end() :]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce(kind: str, value: Any) -> Any:
    """The value as ``kind`` for comparing, or None when it is not of that kind."""
    if kind == "string":
        return value if isinstance(value, str) else None
    if kind == "number":
        return value if _is_number(value) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    return parse_timestamp(value)


def _compare(relation: str, left: Any, right: Any) -> bool:
    if relation == "Equals":
        return bool(left == right)
    if relation == "LessThan":
        return bool(left < right)
    if relation == "GreaterThan":
        return bool(left > right)
    if relation == "LessThanEquals":
        return bool(left <= right)
    return bool(left >= right)


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    # ``*`` matches any run of characters; ``\*`` is a literal star and ``\\`` a backslash.
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def string_matches(value: str, pattern: str) -> bool:
    """``StringMatches``: ``*`` is a wildcard, ``\\*`` a literal ``*``, ``\\\\`` a backslash."""
    return _glob(pattern).fullmatch(value) is not None


def _type_test(test: str, expected: Any, variable: str, scope: Scope) -> bool:
    if test == "IsPresent":
        try:
            read_path(variable, scope)
        except StatesError:
            return not expected
        return bool(expected)
    value = read_path(variable, scope, "Variable")
    checks: dict[str, Callable[[Any], bool]] = {
        "IsNull": lambda v: v is None,
        "IsNumeric": _is_number,
        "IsString": lambda v: isinstance(v, str),
        "IsBoolean": lambda v: isinstance(v, bool),
        "IsTimestamp": lambda v: parse_timestamp(v) is not None,
    }
    return checks[test](value) == bool(expected)


def evaluate_rule(rule: dict[str, Any], scope: Scope) -> bool:
    """Evaluate one JSONPath choice rule (top-level or nested) against ``scope``."""
    if "And" in rule:
        return all(evaluate_rule(sub, scope) for sub in rule["And"])
    if "Or" in rule:
        return any(evaluate_rule(sub, scope) for sub in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], scope)
    variable = rule.get("Variable")
    if not isinstance(variable, str):
        raise StatesError(RUNTIME, "a choice rule has no Variable")
    for test in TYPE_TESTS:
        if test in rule:
            return _type_test(test, rule[test], variable, scope)
    for operator, (kind, relation) in COMPARISONS.items():
        if operator not in rule:
            continue
        value = _read_variable(variable, scope)
        operand = rule[operator]
        if operator.endswith("Path"):
            operand = read_path(operand, scope, operator)
        left = _coerce(kind, value)
        if left is None:
            return False
        if relation == "Matches":
            return isinstance(operand, str) and string_matches(left, operand)
        right = _coerce(kind, operand)
        if right is None:
            return False
        return _compare(relation, left, right)
    raise StatesError(RUNTIME, "a choice rule has no comparison operator")


def _read_variable(variable: str, scope: Scope) -> Any:
    try:
        return read_path(variable, scope, "Variable")
    except StatesError as exc:
        raise StatesError(
            RUNTIME,
            f"Invalid path '{variable}': The choice state's condition path references an "
            f"invalid value. ({exc.cause})",
        ) from None
