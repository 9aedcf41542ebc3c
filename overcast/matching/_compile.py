"""Validation and compilation of event patterns and filter policies into clauses.

One walker serves both languages; a :class:`Dialect` holds what differs (operators, numeric
range, nesting, limits). Every error is an ``InvalidPattern`` whose message starts with the path
of the offending part, such as ``detail.price.numeric[1]: ...``.

The one thing to know before changing it: ``check=False`` (used by ``matches``) skips only the
costly whole-pattern limits (size, wildcard complexity, key and combination counts); anything
that shapes the compiled clauses is always checked, so both modes compile a pattern alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from overcast.errors import InvalidPattern
from overcast.matching._core import (
    BOOL,
    NULL,
    NUM,
    STR,
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    Cidr,
    Clause,
    Condition,
    EqualsIgnoreCase,
    Exact,
    Exists,
    Key,
    Matcher,
    Numeric,
    Prefix,
    PrefixIgnoreCase,
    Suffix,
    SuffixIgnoreCase,
    Wildcard,
    fold,
    parse_ip,
    parse_wildcard,
    wildcard_complexity,
)

EVENT_PATTERN_MAX_SIZE = 2048
"""EventBridge's default quota on an event pattern, in characters (adjustable up to 4096)."""
WILDCARD_COMPLEXITY_LIMIT = 10
"""Most wildcard states one input may keep alive per field before a rule is "too complex"."""
MAX_ALTERNATIVES = 1024
"""Most clauses a pattern's ``$or`` may expand to; bounds compile time and index size."""
FILTER_POLICY_MAX_SIZE = 256 * 1024
"""SNS: the maximum size of a filter policy, in bytes of UTF-8 JSON."""
FILTER_POLICY_MAX_KEYS = 5
FILTER_POLICY_MAX_COMBINATIONS = 150

OPERATORS = (
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
)
# event-ruler refuses these as field names inside "$or", where they would be ambiguous.
_RESERVED_IN_OR = frozenset(
    (*OPERATORS, "equals", "=", "<", "<=", ">", ">=", "regex", "not-wildcard")
    + ("not-equals-ignore-case", "date-after", "date-on-or-after", "date-before")
    + ("date-on-or-before", "in-cidr")
)
_NUMERIC_OPERATORS = ("=", "<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class Dialect:
    subject: str  # "event pattern" or "filter policy", for messages
    numeric_limit: float
    operators: tuple[str, ...]
    affix_ignore_case: bool  # {"prefix": {"equals-ignore-case": ...}}
    anything_but_operators: tuple[str, ...]
    anything_but_operator_lists: bool  # {"anything-but": {"prefix": [...]}}
    nesting: bool
    empty_ok: bool
    scope: str = ""


EVENTBRIDGE = Dialect(
    subject="event pattern",
    numeric_limit=5e9,
    operators=OPERATORS,
    affix_ignore_case=True,
    anything_but_operators=("prefix", "suffix", "equals-ignore-case", "wildcard"),
    anything_but_operator_lists=True,
    nesting=True,
    empty_ok=False,
)
SNS_ATTRIBUTES = Dialect(
    subject="filter policy",
    numeric_limit=1e9,
    operators=tuple(op for op in OPERATORS if op != "wildcard"),
    affix_ignore_case=False,
    anything_but_operators=("prefix",),
    anything_but_operator_lists=False,
    nesting=False,
    empty_ok=True,
    scope="MessageAttributes",
)
SNS_BODY = replace(SNS_ATTRIBUTES, nesting=True, scope="MessageBody")


def sns_dialect(scope: str) -> Dialect:
    if scope == "MessageAttributes":
        return SNS_ATTRIBUTES
    if scope == "MessageBody":
        return SNS_BODY
    raise InvalidPattern(f"scope: must be 'MessageAttributes' or 'MessageBody', got {scope!r}")


def _describe(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return f"string {json.dumps(value)[:60]}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def compile_pattern(
    pattern: object, dialect: Dialect, *, check: bool, max_size: int | None = None
) -> list[Clause]:
    """Validate ``pattern`` (a mapping or its JSON text) and compile it to clauses.

    Raises InvalidPattern naming the offending path. ``check`` adds the whole-pattern limits.
    """
    text: str | None = None
    if isinstance(pattern, (str, bytes)):
        text = pattern.decode() if isinstance(pattern, bytes) else pattern
        try:
            pattern = json.loads(text)
        except ValueError as exc:
            raise InvalidPattern(f"{dialect.subject}: not valid JSON: {exc}") from None
    compiler = _Compiler(dialect)
    clauses = compiler.run(pattern)
    if check:
        compiler.check_limits(pattern, text, clauses, max_size)
    return [tuple(condition for condition, _ in clause) for clause in clauses]


_Weighted = list[tuple[Condition, int]]  # a clause being built; int = SNS combination weight


class _Compiler:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.wildcards: dict[tuple[str, ...], tuple[str, set[str]]] = {}

    def fail(self, where: str, reason: str) -> NoReturn:
        raise InvalidPattern(f"{where or self.dialect.subject}: {reason}")

    def run(self, pattern: object) -> list[_Weighted]:
        if not isinstance(pattern, Mapping):
            self.fail("", f"must be a JSON object, got {_describe(pattern)}")
        if not pattern:
            if self.dialect.empty_ok:
                return [[]]
            self.fail("", "empty objects are not allowed; name at least one field to match")
        return self.obj(pattern, (), "", in_or=False)

    def obj(
        self, node: Mapping[Any, Any], path: tuple[str, ...], where: str, *, in_or: bool
    ) -> list[_Weighted]:
        clauses: list[_Weighted] = [[]]
        for key, value in node.items():
            if not isinstance(key, str):
                self.fail(where, f"field names must be strings, got {key!r}")
            here = f"{where}.{key}" if where else key
            if key == "$or":
                alternatives = self.either(value, path, here)
                clauses = self.product(clauses, alternatives, here)
                continue
            if in_or and key in _RESERVED_IN_OR:
                self.fail(here, f"{key!r} is a reserved name and cannot be a field inside $or")
            if isinstance(value, Mapping):
                if not self.dialect.nesting:
                    self.fail(
                        here,
                        "nested filter policies are not supported with scope MessageAttributes;"
                        " use scope MessageBody to match nested message properties",
                    )
                if not value:
                    self.fail(here, "empty objects are not allowed; name at least one field")
                nested = self.obj(value, (*path, key), here, in_or=in_or)
                clauses = self.product(clauses, nested, here)
            elif isinstance(value, list):
                condition = self.values(value, (*path, key), here)
                weight = len(value) * (len(path) + 1)
                for clause in clauses:
                    clause.append((condition, weight))
            else:
                example = json.dumps(value) if isinstance(value, (str, int, float)) else "..."
                self.fail(
                    here,
                    f"must be an array of match values or an object of fields, got "
                    f"{_describe(value)}; wrap values in a list, e.g. [{example}]",
                )
        return clauses

    def either(self, value: object, path: tuple[str, ...], where: str) -> list[_Weighted]:
        if not isinstance(value, list) or len(value) < 2:
            self.fail(where, "$or takes an array of at least two objects")
        alternatives: list[_Weighted] = []
        for index, branch in enumerate(value):
            here = f"{where}[{index}]"
            if not isinstance(branch, Mapping):
                self.fail(here, f"each $or alternative must be an object, got {_describe(branch)}")
            if not branch:
                self.fail(here, "empty objects are not allowed; name at least one field")
            alternatives.extend(self.obj(branch, path, here, in_or=True))
            if len(alternatives) > MAX_ALTERNATIVES:
                self.fail(where, f"$or expands to more than {MAX_ALTERNATIVES} alternatives")
        return alternatives

    def product(self, left: list[_Weighted], right: list[_Weighted], where: str) -> list[_Weighted]:
        if len(left) * len(right) > MAX_ALTERNATIVES:
            self.fail(
                where, f"the pattern's $or combinations exceed {MAX_ALTERNATIVES} alternatives"
            )
        return [[*a, *b] for a in left for b in right]

    def values(self, values: list[Any], path: tuple[str, ...], where: str) -> Condition:
        if not values:
            self.fail(where, "empty arrays are not allowed; list at least one value to match")
        matchers: dict[Matcher, None] = {}
        absent_ok = False
        for index, item in enumerate(values):
            matcher: Matcher | None
            if isinstance(item, bool):
                matcher = Exact((BOOL, item))
            elif item is None:
                matcher = Exact((NULL, None))
            elif isinstance(item, str):
                matcher = Exact((STR, item))
            elif _is_number(item):
                matcher = Exact((NUM, item))
            elif isinstance(item, Mapping):
                matcher = self.expression(item, path, where)
            else:
                self.fail(
                    f"{where}[{index}]",
                    "match value must be a string, number, true, false, null or an operator "
                    f"object, got {_describe(item)}",
                )
            if matcher is None:
                absent_ok = True
            else:
                matchers[matcher] = None
        return Condition(path, tuple(sorted(matchers, key=repr)), absent_ok)

    def expression(
        self, expr: Mapping[Any, Any], path: tuple[str, ...], where: str
    ) -> Matcher | None:
        """One operator object; None stands for {"exists": false}."""
        if len(expr) != 1:
            if not expr:
                self.fail(where, 'empty match expression; use an operator, e.g. {"prefix": "a"}')
            names = ", ".join(map(str, expr))
            self.fail(where, f"a match expression holds exactly one operator, got {names}")
        ((op, arg),) = expr.items()
        here = f"{where}.{op}"
        if op not in self.dialect.operators:
            known = ", ".join(self.dialect.operators)
            self.fail(
                where,
                f"unknown operator {op!r} in this {self.dialect.subject}; operators are "
                f"case-sensitive: {known}",
            )
        if op in ("prefix", "suffix"):
            if isinstance(arg, Mapping) and self.dialect.affix_ignore_case:
                if len(arg) != 1 or "equals-ignore-case" not in arg:
                    self.fail(here, 'only {"equals-ignore-case": "..."} may be nested here')
                text = self.string(arg["equals-ignore-case"], f"{here}.equals-ignore-case")
                return (PrefixIgnoreCase if op == "prefix" else SuffixIgnoreCase)(fold(text))
            text = self.string(arg, here)
            return (Prefix if op == "prefix" else Suffix)(text)
        if op == "equals-ignore-case":
            return EqualsIgnoreCase(fold(self.string(arg, here)))
        if op == "wildcard":
            return Wildcard(self.wildcard(arg, path, here))
        if op == "exists":
            if not isinstance(arg, bool):
                self.fail(here, f"must be true or false, got {_describe(arg)}")
            return Exists() if arg else None
        if op == "cidr":
            return self.cidr(arg, here)
        if op == "numeric":
            return self.numeric(arg, here)
        return self.anything_but(arg, path, here)

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"must be a string, got {_describe(value)}")
        return value

    def wildcard(self, value: object, path: tuple[str, ...], where: str) -> str:
        text = self.string(value, where)
        try:
            parse_wildcard(text)
        except ValueError as exc:
            self.fail(where, str(exc))
        self.wildcards.setdefault(path, (where, set()))[1].add(text)
        return text

    def number(self, value: object, where: str) -> float:
        if not _is_number(value):
            self.fail(where, f"must be a number, got {_describe(value)}")
        limit = self.dialect.numeric_limit
        if not -limit <= value <= limit:  # type: ignore[operator]
            self.fail(where, f"must be between {-limit:g} and {limit:g}, got {value!r}")
        return float(value)  # type: ignore[arg-type]

    def numeric(self, arg: object, where: str) -> Numeric:
        if not isinstance(arg, list) or not arg:
            self.fail(where, 'must be an array such as [">", 0, "<=", 5]')
        first = arg[0]
        if not isinstance(first, str) or first not in _NUMERIC_OPERATORS:
            self.fail(
                f"{where}[0]",
                f"must be one of {', '.join(_NUMERIC_OPERATORS)}, got {_describe(first)}",
            )
        if len(arg) < 2:
            self.fail(f"{where}[1]", f"{first!r} needs a number after it")
        value = self.number(arg[1], f"{where}[1]")
        inf = math.inf
        if first == "=":
            bounds = (value, False, value, False)
        elif first == "<":  # the open side is closed at infinity, so > 0 holds for +inf
            bounds = (-inf, False, value, True)
        elif first == "<=":
            bounds = (-inf, False, value, False)
        else:
            bounds = (value, first == ">", inf, False)
        if len(arg) == 2:
            return Numeric(*bounds)
        if first not in (">", ">="):
            self.fail(
                f"{where}[2]",
                f"{first!r} takes exactly one number; only > and >= can start a range",
            )
        second = arg[2]
        if not isinstance(second, str) or second not in ("<", "<="):
            self.fail(f"{where}[2]", f"a range continues with < or <=, got {_describe(second)}")
        if len(arg) < 4:
            self.fail(f"{where}[3]", f"{second!r} needs a number after it")
        top = self.number(arg[3], f"{where}[3]")
        if len(arg) > 4:
            self.fail(f"{where}[4]", "too many elements; a range is [>, low, <, high]")
        if top <= value:
            self.fail(f"{where}[3]", f"the upper bound {arg[3]!r} must exceed the lower {arg[1]!r}")
        return Numeric(value, first == ">", top, second == "<")

    def cidr(self, arg: object, where: str) -> Cidr:
        text = self.string(arg, where)
        if text.count("/") != 1:
            self.fail(
                where, f'malformed CIDR {text!r}: exactly one "/" required, e.g. "10.0.0.0/24"'
            )
        address, _, mask = text.partition("/")
        if not (mask.isascii() and mask.isdigit()):
            self.fail(where, f"malformed CIDR {text!r}: mask bits must be an integer")
        parsed = parse_ip(address)
        if parsed is None:
            self.fail(where, f"malformed CIDR {text!r}: {address!r} is not an IP address")
        version, number = parsed
        width = 32 if version == 4 else 128
        bits = int(mask)
        if bits > width:
            self.fail(where, f"malformed CIDR {text!r}: IPv{version} masks are at most /{width}")
        return Cidr(version, bits, number >> (width - bits))

    def anything_but(self, arg: object, path: tuple[str, ...], where: str) -> Matcher:
        if isinstance(arg, Mapping):
            if len(arg) != 1:
                self.fail(where, 'takes exactly one nested operator, e.g. {"prefix": "a"}')
            ((op, inner),) = arg.items()
            here = f"{where}.{op}"
            if op not in self.dialect.anything_but_operators:
                known = ", ".join(self.dialect.anything_but_operators)
                self.fail(where, f"unsupported anything-but operator {op!r}; use {known}")
            items = inner if isinstance(inner, list) else [inner]
            if isinstance(inner, list) and not self.dialect.anything_but_operator_lists:
                self.fail(here, f"must be a string, got {_describe(inner)}")
            if not items:
                self.fail(here, "empty arrays are not allowed")
            texts = []
            for index, item in enumerate(items):
                at = f"{here}[{index}]" if isinstance(inner, list) else here
                text = self.string(item, at)
                if op == "wildcard":
                    self.wildcard(text, path, at)
                elif op != "equals-ignore-case" and not text:
                    self.fail(at, f"an empty {op} is not allowed")
                texts.append(text)
            if op == "prefix":
                return AnythingButPrefix(tuple(texts))
            if op == "suffix":
                return AnythingButSuffix(tuple(texts))
            if op == "equals-ignore-case":
                return AnythingButIgnoreCase(frozenset(map(fold, texts)))
            return AnythingButWildcard(tuple(texts))
        items = arg if isinstance(arg, list) else [arg]
        if not items:
            self.fail(where, "empty arrays are not allowed; list the values to exclude")
        keys: set[Key] = set()
        kinds: set[int] = set()
        for index, item in enumerate(items):
            at = f"{where}[{index}]" if isinstance(arg, list) else where
            if isinstance(item, str):
                keys.add((STR, item))
                kinds.add(STR)
            elif _is_number(item):
                keys.add((NUM, self.number(item, at)))
                kinds.add(NUM)
            else:
                self.fail(
                    at,
                    "anything-but takes strings or numbers (or an operator object), got "
                    f"{_describe(item)}",
                )
            if len(kinds) > 1:
                self.fail(at, "anything-but values must be all strings or all numbers")
        return AnythingBut(frozenset(keys))

    def check_limits(
        self,
        pattern: object,
        text: str | None,
        clauses: list[_Weighted],
        max_size: int | None,
    ) -> None:
        dialect = self.dialect
        if text is None:
            text = json.dumps(pattern, separators=(",", ":"), ensure_ascii=False)
        if dialect is EVENTBRIDGE:
            limit = EVENT_PATTERN_MAX_SIZE if max_size is None else max_size
            if len(text) > limit:
                self.fail("", f"is {len(text)} characters; the maximum is {limit}")
            for where, texts in self.wildcards.values():
                complexity = wildcard_complexity(sorted(texts), WILDCARD_COMPLEXITY_LIMIT)
                if complexity > WILDCARD_COMPLEXITY_LIMIT:
                    self.fail(
                        where,
                        "rule is too complex - try using fewer wildcard characters or fewer "
                        "repeating character sequences after a wildcard character",
                    )
            return
        limit = FILTER_POLICY_MAX_SIZE if max_size is None else max_size
        size = len(text.encode())
        if size > limit:
            self.fail("", f"is {size} bytes; the maximum is {limit}")
        combinations = 0
        for clause in clauses:
            paths = {condition.path for condition, _ in clause}
            if len(paths) > FILTER_POLICY_MAX_KEYS:
                names = ", ".join(".".join(p) for p in sorted(paths))
                self.fail(
                    "",
                    f"has {len(paths)} keys ({names}); a filter policy can have at most "
                    f"{FILTER_POLICY_MAX_KEYS}",
                )
            product = 1
            for _, weight in clause:
                product *= weight
            combinations += product
        if combinations > FILTER_POLICY_MAX_COMBINATIONS:
            self.fail(
                "",
                f"is too complex: {combinations} combinations of values; the maximum is "
                f"{FILTER_POLICY_MAX_COMBINATIONS} (multiply the number of values of each key)",
            )
