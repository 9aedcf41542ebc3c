"""Intrinsic functions (``States.Format(...)`` and friends) and the value of a ``.$`` field.

A ``.$`` field of a JSONPath state holds a path (``$.a``), a context path (``$$.Execution.Id``),
a variable (``$name.field``) or an intrinsic invocation; :func:`evaluate_dynamic` reads any of
them against a :class:`Scope`. Before changing: :func:`parse_intrinsic` is also the validator —
it checks syntax, escapes, function names, argument counts and nesting depth, so that bad
intrinsics are reported before an execution starts; runtime argument problems raise
``States.IntrinsicFailure``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .errors import INTRINSIC_FAILURE, RUNTIME, StatesError
from .paths import Path, PathError, PathMissing, compile_path, select, to_json

__all__ = [
    "IntrinsicError",
    "Scope",
    "SeededRandom",
    "evaluate_dynamic",
    "parse_intrinsic",
    "read_path",
]

MAX_NESTING = 10
MAX_STRING = 10_000
MAX_RANGE = 1000


class IntrinsicError(ValueError):
    """An intrinsic invocation that cannot be parsed (a definition problem)."""


class SeededRandom:
    """A ``random.Random`` made from ``seed`` on first use: most states never need one."""

    __slots__ = ("_rng", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng: random.Random | None = None

    def get(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng


@dataclass
class Scope:
    """What a path or intrinsic can read: the state's input, the context object, variables."""

    input: Any
    context: Mapping[str, Any]
    variables: Mapping[str, Any] = field(default_factory=dict)
    rng: SeededRandom | None = None


def read_path(path: Path | str, scope: Scope, field_name: str = "") -> Any:
    """Read ``path`` from the document its root names; a missing node is ``States.Runtime``."""
    compiled = compile_path(path) if isinstance(path, str) else path
    if compiled.root == "context":
        document: Any = scope.context
    elif compiled.root == "variable":
        assert compiled.variable is not None
        if compiled.variable not in scope.variables:
            raise StatesError(
                RUNTIME,
                f"The variable '${compiled.variable}'"
                + (f" referenced by the field '{field_name}'" if field_name else "")
                + " is not defined in this scope.",
            )
        document = scope.variables[compiled.variable]
    else:
        document = scope.input
    try:
        return select(compiled, document)
    except PathMissing:
        where = f" specified for the field '{field_name}'" if field_name else ""
        raise StatesError(
            RUNTIME,
            f"The JSONPath '{compiled.text}'{where} could not be found in the input "
            f"'{to_json(document)}'",
        ) from None


def evaluate_dynamic(text: str, scope: Scope, field_name: str = "") -> Any:
    """The value of a ``.$`` field: a path, context path, variable or intrinsic invocation."""
    if text.startswith("States."):
        try:
            call = parse_intrinsic(text)
        except IntrinsicError as exc:
            raise StatesError(INTRINSIC_FAILURE, str(exc)) from None
        return _eval(call, scope)
    try:
        return read_path(text, scope, field_name)
    except PathError as exc:
        raise StatesError(RUNTIME, str(exc)) from None


# -- parsing ---------------------------------------------------------------------------------------

# AST: ("call", name, args) | ("lit", value) | ("str", value, raw) | ("path", Path)
Node = tuple[Any, ...]

_NAME = re.compile(r"States\.([A-Za-z0-9]+)\s*\(")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")

# name -> (min args, max args or None)
ARITY: dict[str, tuple[int, int | None]] = {
    "Format": (1, None),
    "StringToJson": (1, 1),
    "JsonToString": (1, 1),
    "Array": (0, None),
    "ArrayPartition": (2, 2),
    "ArrayContains": (2, 2),
    "ArrayRange": (3, 3),
    "ArrayGetItem": (2, 2),
    "ArrayLength": (1, 1),
    "ArrayUnique": (1, 1),
    "Base64Encode": (1, 1),
    "Base64Decode": (1, 1),
    "Hash": (2, 2),
    "JsonMerge": (3, 3),
    "MathRandom": (2, 3),
    "MathAdd": (2, 2),
    "StringSplit": (2, 2),
    "UUID": (0, 0),
}


@lru_cache(maxsize=2048)
def parse_intrinsic(text: str) -> Node:
    """Parse an intrinsic invocation, checking everything that can be checked statically."""
    parser = _IntrinsicParser(text)
    node = parser.call(depth=1)
    parser.skip_ws()
    if parser.pos != len(text):
        raise IntrinsicError(f"unexpected {text[parser.pos :]!r} after the intrinsic function")
    return node


class _IntrinsicParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self, depth: int) -> Node:
        if depth > MAX_NESTING:
            raise IntrinsicError(f"intrinsic functions nest at most {MAX_NESTING} deep")
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise IntrinsicError(f"{self.text!r} is not an intrinsic function invocation")
        name = m.group(1)
        if name not in ARITY:
            raise IntrinsicError(f"unknown intrinsic function 'States.{name}'")
        self.pos = m.end()
        args: list[Node] = []
        self.skip_ws()
        if self.text.startswith(")", self.pos):
            self.pos += 1
        else:
            while True:
                args.append(self.argument(depth))
                self.skip_ws()
                if self.text.startswith(",", self.pos):
                    self.pos += 1
                    continue
                if self.text.startswith(")", self.pos):
                    self.pos += 1
                    break
                raise IntrinsicError(f"expected ',' or ')' at position {self.pos} of {self.text!r}")
        low, high = ARITY[name]
        if len(args) < low or (high is not None and len(args) > high):
            want = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
            raise IntrinsicError(f"States.{name} takes {want} argument(s), got {len(args)}")
        if name == "Format" and args[0][0] == "str":
            _format_parts(args[0][2], len(args) - 1)
        return ("call", name, tuple(args))

    def argument(self, depth: int) -> Node:
        self.skip_ws()
        text, pos = self.text, self.pos
        if text.startswith("States.", pos):
            return self.call(depth + 1)
        if text.startswith("'", pos):
            return self.string()
        if text.startswith("$", pos):
            end = self.path_end()
            raw = text[pos:end].strip()
            self.pos = end
            try:
                return ("path", compile_path(raw))
            except PathError as exc:
                raise IntrinsicError(str(exc)) from None
        for word, value in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, pos):
                self.pos += len(word)
                return ("lit", value)
        m = _NUMBER.match(text, pos)
        if m:
            self.pos = m.end()
            num = m.group(0)
            return ("lit", float(num) if any(c in num for c in ".eE") else int(num))
        raise IntrinsicError(f"unexpected argument at position {pos} of {text!r}")

    def path_end(self) -> int:
        depth, pos, quote = 0, self.pos, ""
        while pos < len(self.text):
            ch = self.text[pos]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"" and depth:
                quote = ch
            elif ch in "[(":
                depth += 1
            elif ch in "])":
                if depth == 0:
                    return pos
                depth -= 1
            elif ch == "," and depth == 0:
                return pos
            pos += 1
        return pos

    def string(self) -> Node:
        self.pos += 1  # opening quote
        raw: list[str] = []
        value: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise IntrinsicError(f"unterminated string literal in {self.text!r}")
            ch = self.text[self.pos]
            if ch == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt not in ("'", "{", "}", "\\"):
                    raise IntrinsicError(
                        f"open escape backslash at position {self.pos} of {self.text!r}: only "
                        "\\', \\{, \\} and \\\\ are escapes"
                    )
                raw.append(ch + nxt)
                value.append(nxt)
                self.pos += 2
                continue
            if ch == "'":
                self.pos += 1
                return ("str", "".join(value), "".join(raw))
            raw.append(ch)
            value.append(ch)
            self.pos += 1


def _format_parts(raw: str, n_args: int) -> list[str]:
    """Split a Format template (escapes still in) at its ``{}`` placeholders."""
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            buf.append(raw[i + 1])
            i += 2
            continue
        if raw.startswith("{}", i):
            parts.append("".join(buf))
            buf = []
            i += 2
            continue
        if ch in "{}":
            raise IntrinsicError(
                f"States.Format: unescaped {ch!r} in the template (write \\\\{ch} in JSON)"
            )
        buf.append(ch)
        i += 1
    parts.append("".join(buf))
    if len(parts) - 1 != n_args:
        raise IntrinsicError(
            f"States.Format: the template has {len(parts) - 1} placeholder(s) but "
            f"{n_args} argument(s) follow it"
        )
    return parts


# -- evaluation ------------------------------------------------------------------------------------


def _eval(node: Node, scope: Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "str":
        return node[1]
    if kind == "path":
        return read_path(node[1], scope)
    name, args = node[1], node[2]
    values = [_eval(arg, scope) for arg in args]
    try:
        if name == "Format":
            raw = args[0][2] if args[0][0] == "str" else _escape_plain(values[0])
            return _format(raw, values[1:])
        return _FUNCTIONS[name](values, scope)
    except StatesError:
        raise
    except IntrinsicError as exc:
        raise StatesError(INTRINSIC_FAILURE, f"States.{name}: {exc}") from None
    except Exception as exc:  # a bad argument type or value
        raise StatesError(INTRINSIC_FAILURE, f"States.{name}: {exc}") from None


def _fail(message: str) -> IntrinsicError:
    return IntrinsicError(message)


def _escape_plain(template: Any) -> str:
    if not isinstance(template, str):
        raise _fail("the first argument must be a string")
    return template.replace("\\", "\\\\")


def _format(raw: str, values: list[Any]) -> str:
    parts = _format_parts(raw, len(values))
    out = [parts[0]]
    for value, part in zip(values, parts[1:], strict=True):
        out.append(_format_value(value))
        out.append(part)
    return "".join(out)


def _format_value(value: Any) -> str:
    # Step Functions renders nested values the way Java's toString does: {a=1, b=[x, y]}.
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_format_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"{what} must be a number, got {to_json(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(f"{what} must be finite")
        # Java's Math.round: half up (towards positive infinity).
        return math.floor(value + 0.5)
    return value


def _array(value: Any, what: str = "the first argument") -> list[Any]:
    if not isinstance(value, list):
        raise _fail(f"{what} must be an array, got {to_json(value)}")
    return value


def _string(value: Any, what: str = "the argument") -> str:
    if not isinstance(value, str):
        raise _fail(f"{what} must be a string, got {to_json(value)}")
    return value


def _json_key(value: Any) -> str:
    # Canonical text so that 1 and 1.0 (equal JSON numbers) compare equal, true and 1 do not.
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v

    return json.dumps(norm(value), sort_keys=True)


def _partition(values: list[Any], scope: Scope) -> Any:
    array, size = _array(values[0]), _integer(values[1], "the chunk size")
    if size <= 0:
        raise _fail("the chunk size must be a positive integer")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _contains(values: list[Any], scope: Scope) -> Any:
    key = _json_key(values[1])
    return any(_json_key(item) == key for item in _array(values[0]))


def _range(values: list[Any], scope: Scope) -> Any:
    start, end = _integer(values[0], "start"), _integer(values[1], "end")
    step = _integer(values[2], "step")
    if step == 0:
        raise _fail("step must not be 0")
    result = list(range(start, end + (1 if step > 0 else -1), step))
    if len(result) > MAX_RANGE:
        raise _fail(f"the range has {len(result)} items; at most {MAX_RANGE} are allowed")
    return result


def _get_item(values: list[Any], scope: Scope) -> Any:
    array, index = _array(values[0]), _integer(values[1], "the index")
    if not 0 <= index < len(array):
        raise _fail(f"index {index} is out of bounds for an array of {len(array)} items")
    return array[index]


def _unique(values: list[Any], scope: Scope) -> Any:
    seen: set[str] = set()
    out = []
    for item in _array(values[0]):
        key = _json_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _limited(value: Any) -> str:
    text = _string(value)
    if len(text) > MAX_STRING:
        raise _fail(f"the input has {len(text)} characters; at most {MAX_STRING} are allowed")
    return text


def _b64encode(values: list[Any], scope: Scope) -> Any:
    return base64.b64encode(_limited(values[0]).encode()).decode("ascii")


def _b64decode(values: list[Any], scope: Scope) -> Any:
    try:
        return base64.b64decode(_limited(values[0]), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _fail(f"the input is not base64-encoded UTF-8 text ({exc})") from None


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(values: list[Any], scope: Scope) -> Any:
    data = values[0] if isinstance(values[0], str) else to_json(values[0])
    algorithm = values[1]
    if algorithm not in _HASHES:
        raise _fail(f"the algorithm must be one of {', '.join(_HASHES)}, got {to_json(algorithm)}")
    return hashlib.new(_HASHES[algorithm], _limited(data).encode()).hexdigest()


def _merge(values: list[Any], scope: Scope) -> Any:
    first, second, deep = values
    if not isinstance(first, dict) or not isinstance(second, dict):
        raise _fail("both values to merge must be JSON objects")
    if not isinstance(deep, bool):
        raise _fail("the third argument (deep merge) must be a boolean")
    if deep:
        raise _fail("only shallow merging is supported; the third argument must be false")
    return {**first, **second}


def _random(values: list[Any], scope: Scope) -> Any:
    start, end = _integer(values[0], "start"), _integer(values[1], "end")
    if start >= end:
        raise _fail("start must be less than end")
    if len(values) == 3:
        rng = random.Random(_integer(values[2], "seed"))
    else:
        rng = scope.rng.get() if scope.rng else random.Random()
    return rng.randrange(start, end)


def _add(values: list[Any], scope: Scope) -> Any:
    return _integer(values[0], "the first value") + _integer(values[1], "the second value")


def _split(values: list[Any], scope: Scope) -> Any:
    text = _string(values[0], "the string to split")
    delimiters = _string(values[1], "the delimiter")
    if not delimiters:
        return [text] if text else []
    # Every character of the delimiter string separates; empty tokens are dropped.
    pattern = "[" + "".join(re.escape(c) for c in delimiters) + "]"
    return [token for token in re.split(pattern, text) if token]


def _uuid(values: list[Any], scope: Scope) -> Any:
    rng = scope.rng.get() if scope.rng else random.Random()
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


_FUNCTIONS: dict[str, Callable[[list[Any], Scope], Any]] = {
    "StringToJson": lambda v, s: json.loads(_string(v[0])),
    "JsonToString": lambda v, s: to_json(v[0]),
    "Array": lambda v, s: list(v),
    "ArrayPartition": _partition,
    "ArrayContains": _contains,
    "ArrayRange": _range,
    "ArrayGetItem": _get_item,
    "ArrayLength": lambda v, s: len(_array(v[0])),
    "ArrayUnique": _unique,
    "Base64Encode": _b64encode,
    "Base64Decode": _b64decode,
    "Hash": _hash,
    "JsonMerge": _merge,
    "MathRandom": _random,
    "MathAdd": _add,
    "StringSplit": _split,
    "UUID": _uuid,
}
