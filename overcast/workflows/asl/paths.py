"""The JSONPath subset of the Amazon States Language: parse, select, and write (ResultPath).

ASL uses three flavours of path: *reference paths* (``$.a.b[0]`` — one definite node, used by
ResultPath, Variable, ItemsPath, ...), *paths* (full JSONPath with ``[*]``, slices, ``..`` and
filters, used by InputPath, OutputPath and ``.$`` fields), and the roots ``$$`` (context object)
and ``$name`` (a workflow variable). Before changing: values are never mutated in place —
``set_path`` copies the containers along the path it writes — because execution states share
JSON values between frames and snapshots.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "Path",
    "PathError",
    "PathMissing",
    "compile_path",
    "is_reference_path",
    "select",
    "set_path",
    "to_json",
]


class PathError(ValueError):
    """A path is not valid JSONPath (raised when compiling)."""


class PathMissing(LookupError):
    """A definite path names a node the document does not have."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(path)


# Segment kinds: ("key", name) ("index", i) ("wild",) ("slice", start, stop, step)
# ("union", (key-or-index, ...)) ("desc", name-or-None) ("filter", expr)
Segment = tuple[Any, ...]


@dataclass(frozen=True)
class Path:
    """A compiled path: its root (``$``, ``$$`` or a variable) and its segments."""

    text: str
    root: str  # "input" | "context" | "variable"
    variable: str | None
    segments: tuple[Segment, ...]

    @property
    def definite(self) -> bool:
        """True when the path can name at most one node (only keys and indexes)."""
        return all(seg[0] in ("key", "index") for seg in self.segments)


_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOT_NAME = re.compile(r"[^.\[\]\s()'\",=<>!&|]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


@lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Parse ``text`` into a :class:`Path`; raise :class:`PathError` when it is not a path."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathError(f"{text!r} is not a path: it must start with '$'")
    if text.startswith("$$"):
        root, variable, pos = "context", None, 2
    else:
        m = _VAR_NAME.match(text, 1)
        if m:
            root, variable, pos = "variable", m.group(0), m.end()
        else:
            root, variable, pos = "input", None, 1
    parser = _Parser(text, pos)
    segments = parser.segments()
    if parser.pos != len(text):
        raise PathError(f"{text!r} is not a valid path: unexpected {text[parser.pos :]!r}")
    return Path(text, root, variable, tuple(segments))


def is_reference_path(text: str) -> bool:
    """Whether ``text`` is a *reference path*: a definite path that names exactly one node."""
    try:
        return compile_path(text).definite
    except PathError:
        return False


class _Parser:
    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def error(self, what: str) -> PathError:
        return PathError(f"{self.text!r} is not a valid path: {what} at position {self.pos}")

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def segments(self, stop: str = "") -> list[Segment]:
        out: list[Segment] = []
        while self.pos < len(self.text) and not (stop and self.text[self.pos] in stop):
            if self.peek(".."):
                self.pos += 2
                if self.peek("*"):
                    self.pos += 1
                    out.append(("desc", None))
                else:
                    out.append(("desc", self.name()))
            elif self.peek("."):
                self.pos += 1
                if self.peek("*"):
                    self.pos += 1
                    out.append(("wild",))
                else:
                    out.append(("key", self.name()))
            elif self.peek("["):
                self.pos += 1
                out.append(self.bracket())
            else:
                break
        return out

    def name(self) -> str:
        m = _DOT_NAME.match(self.text, self.pos)
        if not m:
            raise self.error("expected a field name")
        self.pos = m.end()
        return m.group(0)

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        buf = []
        while self.pos < len(self.text) and self.text[self.pos] != quote:
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
                ch = self.text[self.pos]
            buf.append(ch)
            self.pos += 1
        if self.pos >= len(self.text):
            raise self.error("unterminated string")
        self.pos += 1
        return "".join(buf)

    def integer(self) -> int | None:
        m = re.compile(r"-?\d+").match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return int(m.group(0))

    def bracket(self) -> Segment:
        self.skip_ws()
        if self.peek("*"):
            self.pos += 1
            seg: Segment = ("wild",)
        elif self.peek("?("):
            self.pos += 2
            expr = self.filter_or()
            self.skip_ws()
            if not self.peek(")"):
                raise self.error("expected ')'")
            self.pos += 1
            seg = ("filter", expr)
        else:
            items: list[Any] = []
            while True:
                self.skip_ws()
                if self.peek("'") or self.peek('"'):
                    items.append(self.quoted())
                elif (
                    self.peek(":") or self.peek("-") or self.text[self.pos : self.pos + 1].isdigit()
                ):
                    start = self.integer()
                    if self.peek(":"):
                        self.pos += 1
                        stop = self.integer()
                        step = None
                        if self.peek(":"):
                            self.pos += 1
                            step = self.integer()
                        self.skip_ws()
                        if not self.peek("]"):
                            raise self.error("expected ']'")
                        self.pos += 1
                        return ("slice", start, stop, step)
                    if start is None:
                        raise self.error("expected an index")
                    items.append(start)
                else:
                    raise self.error("expected an index, a quoted name, '*' or a filter")
                self.skip_ws()
                if self.peek(","):
                    self.pos += 1
                    continue
                break
            if len(items) == 1:
                item = items[0]
                seg = ("index", item) if isinstance(item, int) else ("key", item)
            else:
                seg = ("union", tuple(items))
        self.skip_ws()
        if not self.peek("]"):
            raise self.error("expected ']'")
        self.pos += 1
        return seg

    # Filter expressions: a || b, a && b, x <op> y, (expr), !expr, @.path, $.path, literals.
    def filter_or(self) -> Any:
        left = self.filter_and()
        while True:
            self.skip_ws()
            if not self.peek("||"):
                return left
            self.pos += 2
            left = ("or", left, self.filter_and())

    def filter_and(self) -> Any:
        left = self.filter_cmp()
        while True:
            self.skip_ws()
            if not self.peek("&&"):
                return left
            self.pos += 2
            left = ("and", left, self.filter_cmp())

    def filter_cmp(self) -> Any:
        left = self.filter_operand()
        self.skip_ws()
        for op in ("==", "!=", "<=", ">=", "<", ">"):
            if self.peek(op):
                self.pos += len(op)
                return ("cmp", op, left, self.filter_operand())
        return ("truthy", left)

    def filter_operand(self) -> Any:
        self.skip_ws()
        if self.peek("("):
            self.pos += 1
            inner = self.filter_or()
            self.skip_ws()
            if not self.peek(")"):
                raise self.error("expected ')'")
            self.pos += 1
            return inner
        if self.peek("!"):
            self.pos += 1
            return ("not", self.filter_operand())
        if self.peek("@") or self.peek("$"):
            root = "current" if self.peek("@") else "root"
            self.pos += 1
            return ("path", root, tuple(self.segments(stop=" )=!<>&|")))
        if self.peek("'") or self.peek('"'):
            return ("lit", self.quoted())
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.peek(word):
                self.pos += len(word)
                return ("lit", value)
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            num = m.group(0)
            return ("lit", float(num) if any(c in num for c in ".eE") else int(num))
        raise self.error("expected a filter operand")


# -- selection -------------------------------------------------------------------------------------


def select(path: Path | str, document: Any) -> Any:
    """Evaluate ``path`` against ``document``.

    A definite path returns the one node it names and raises :class:`PathMissing` when the
    document does not have it; an indefinite path (wildcards, slices, filters, ``..``) returns
    the list of matching nodes, possibly empty. The caller picks the document for the root:
    the state input for ``$``, the context object for ``$$``, the variable's value for ``$name``.
    """
    compiled = compile_path(path) if isinstance(path, str) else path
    segments = compiled.segments
    if compiled.definite:
        node = document
        for seg in segments:
            kind, key = seg[0], seg[1]
            if kind == "key":
                if not isinstance(node, dict) or key not in node:
                    raise PathMissing(compiled.text)
                node = node[key]
            else:
                if not isinstance(node, list) or isinstance(node, bool):
                    raise PathMissing(compiled.text)
                if not -len(node) <= key < len(node):
                    raise PathMissing(compiled.text)
                node = node[key]
        return node
    nodes = [document]
    for seg in segments:
        nodes = _apply(seg, nodes, document)
    return nodes


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> list[Any]:
    out = [node]
    for child in _children(node):
        out.extend(_descendants(child))
    return out


def _apply(seg: Segment, nodes: list[Any], root: Any) -> list[Any]:
    kind = seg[0]
    out: list[Any] = []
    for node in nodes:
        if kind == "key":
            if isinstance(node, dict) and seg[1] in node:
                out.append(node[seg[1]])
        elif kind == "index":
            if isinstance(node, list) and -len(node) <= seg[1] < len(node):
                out.append(node[seg[1]])
        elif kind == "wild":
            out.extend(_children(node))
        elif kind == "slice":
            if isinstance(node, list):
                out.extend(node[slice(seg[1], seg[2], seg[3])])
        elif kind == "union":
            for item in seg[1]:
                if isinstance(item, int) and isinstance(node, list):
                    if -len(node) <= item < len(node):
                        out.append(node[item])
                elif isinstance(item, str) and isinstance(node, dict) and item in node:
                    out.append(node[item])
        elif kind == "desc":
            for sub in _descendants(node):
                if seg[1] is None:
                    out.extend(_children(sub))
                elif isinstance(sub, dict) and seg[1] in sub:
                    out.append(sub[seg[1]])
        elif kind == "filter":
            candidates = node if isinstance(node, list) else _children(node)
            out.extend(c for c in candidates if _truthy(_filter(seg[1], c, root)))
    return out


_MISSING = object()


def _filter(expr: Any, current: Any, root: Any) -> Any:
    kind = expr[0]
    if kind == "lit":
        return expr[1]
    if kind == "path":
        nodes = [current if expr[1] == "current" else root]
        for seg in expr[2]:
            nodes = _apply(seg, nodes, root)
        return nodes[0] if nodes else _MISSING
    if kind == "truthy":
        value = _filter(expr[1], current, root)
        return value is not _MISSING and value is not False and value is not None
    if kind == "not":
        return not _truthy(_filter(expr[1], current, root))
    if kind == "and":
        return _truthy(_filter(expr[1], current, root)) and _truthy(_filter(expr[2], current, root))
    if kind == "or":
        return _truthy(_filter(expr[1], current, root)) or _truthy(_filter(expr[2], current, root))
    op, left, right = expr[1], _filter(expr[2], current, root), _filter(expr[3], current, root)
    if left is _MISSING or right is _MISSING:
        return op == "!=" and not (left is _MISSING and right is _MISSING)
    if op == "==":
        return _same(left, right)
    if op == "!=":
        return not _same(left, right)
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return _order(op, float(left), float(right))
    if isinstance(left, str) and isinstance(right, str):
        return _order(op, left, right)
    return False


def _order(op: str, left: Any, right: Any) -> bool:
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _truthy(value: Any) -> bool:
    return value is not _MISSING and value is not False and value is not None


# -- writing (ResultPath) ------------------------------------------------------------------------


def set_path(document: Any, path: Path | str, value: Any) -> Any:
    """Return a copy of ``document`` with ``value`` written at reference path ``path``.

    Missing objects along the way are created; the containers on the path are copied, the rest
    is shared. ``$`` replaces the whole document. Raises :class:`PathMissing` when the path
    goes through a node that is not an object (or an array index that does not exist).
    """
    compiled = compile_path(path) if isinstance(path, str) else path
    return _set(document, compiled.segments, 0, value, compiled.text)


def _set(node: Any, segments: tuple[Segment, ...], i: int, value: Any, text: str) -> Any:
    if i == len(segments):
        return value
    kind, key = segments[i][0], segments[i][1]
    if kind == "key":
        if not isinstance(node, dict):
            raise PathMissing(text)
        copy = dict(node)
        copy[key] = _set(node.get(key, {}), segments, i + 1, value, text)
        return copy
    if kind == "index" and isinstance(node, list) and -len(node) <= key < len(node):
        items = list(node)
        items[key] = _set(node[key], segments, i + 1, value, text)
        return items
    raise PathMissing(text)


def to_json(value: Any) -> str:
    """Compact JSON text, as Step Functions writes inputs and outputs into history and errors."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
