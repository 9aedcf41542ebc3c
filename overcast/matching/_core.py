"""The shared model of the matcher: matchers, conditions, event flattening and clause decisions.

A pattern compiles to clauses (its ``$or`` expansion, each an AND of conditions); a condition is a
field path with the matchers listed for it (OR-ed) and whether ``{"exists": false}`` was among
them. An event is read as leaves: ``(path id, value, kind, membership)``, where membership names
the array elements the leaf sits in, so that fields matched inside one array element must come
from the same element (event-ruler's array-consistent matching).

The one thing to know before changing it: ``matches`` and ``RuleSet`` both decide clauses with
:func:`decide` over leaves from :func:`collect`; they differ only in how candidate leaves are
found. Change matching semantics here and nowhere else, or the two will disagree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# Leaf kinds. bool is tested before numbers because bool is an int in Python but not in JSON.
STR, NUM, BOOL, NULL, OTHER = range(5)

Key = tuple[int, Any]
"""An exact-match key: (kind, value). Numbers compare and hash numerically, so 300 == 300.0."""

Membership = tuple[tuple[int, int], ...]
"""(array id, element index) for every array a leaf sits in, outermost first."""

Leaf = tuple[int, Any, int, Membership]
"""(path id, value, kind, membership)."""


def kind_of(value: object) -> int:
    if isinstance(value, str):
        return STR
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, float)):
        return NUM
    if value is None:
        return NULL
    return OTHER


def fold(text: str) -> str:
    """Case folding for every ignore-case operator (one function so all of them agree)."""
    return text.lower()


# --- wildcards -------------------------------------------------------------------------------

STAR = None
"""The wildcard token in a parsed wildcard pattern; other tokens are one-character strings."""


def parse_wildcard(text: str) -> list[str | None]:
    """Split a wildcard pattern into characters and ``STAR``; raise ValueError on bad syntax.

    ``\\*`` is a literal asterisk and ``\\\\`` a literal backslash; any other escape, a trailing
    backslash and two unescaped ``*`` in a row are errors, as in event-ruler.
    """
    tokens: list[str | None] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            if i + 1 < len(text) and text[i + 1] == "*":
                raise ValueError(f"consecutive wildcard characters at position {i}")
            tokens.append(STAR)
        elif char == "\\":
            if i + 1 < len(text) and text[i + 1] in "*\\":
                tokens.append(text[i + 1])
                i += 1
            else:
                raise ValueError(
                    f"invalid escape at position {i}; only \\* and \\\\ may be escaped"
                )
        else:
            tokens.append(char)
        i += 1
    return tokens


@lru_cache(maxsize=4096)
def wildcard_regex(text: str) -> re.Pattern[str]:
    parts = [".*" if token is STAR else re.escape(token) for token in parse_wildcard(text)]
    return re.compile("".join(parts), re.DOTALL)


def wildcard_complexity(patterns: Sequence[str], limit: int) -> int:
    """The most wildcard-pattern states one input string can keep alive at once.

    This is the measure event-ruler's MachineComplexityEvaluator bounds: a subset construction
    over the patterns' automata, counting live non-final positions. Stops early past ``limit``.
    """
    tokens = [parse_wildcard(text) for text in patterns]

    def closure(states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        stack = list(states)
        while stack:
            index, pos = stack.pop()
            seq = tokens[index]
            if pos < len(seq) and seq[pos] is STAR and (index, pos + 1) not in states:
                states.add((index, pos + 1))
                stack.append((index, pos + 1))
        return frozenset(states)

    def weight(states: frozenset[tuple[int, int]]) -> int:
        return sum(1 for index, pos in states if pos < len(tokens[index]))

    alphabet: list[str | None] = [*sorted({t for seq in tokens for t in seq if t is not None})]
    alphabet.append(STAR)  # stands for "any character no pattern names"
    start = closure({(index, 0) for index in range(len(tokens))})
    best = weight(start)
    seen = {start}
    queue = [start]
    while queue and best <= limit and len(seen) < 50_000:
        current = queue.pop()
        for char in alphabet:
            moved: set[tuple[int, int]] = set()
            for index, pos in current:
                seq = tokens[index]
                if pos < len(seq):
                    if seq[pos] is STAR:
                        moved.add((index, pos))
                    elif char is not STAR and seq[pos] == char:
                        moved.add((index, pos + 1))
            nxt = closure(moved)
            if nxt and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
                best = max(best, weight(nxt))
    return best


# --- IP addresses ----------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def parse_ip(text: str) -> tuple[int, int] | None:
    """(version, integer) of an IP address string, or None when it is not one."""
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.version, int(address)


# --- matchers --------------------------------------------------------------------------------


class Matcher:
    """One entry of a pattern's value list; ``test`` says whether one leaf value satisfies it."""

    __slots__ = ()

    def test(self, value: Any, kind: int) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Exact(Matcher):
    key: Key

    def test(self, value: Any, kind: int) -> bool:
        return kind == self.key[0] and value == self.key[1]


@dataclass(frozen=True, slots=True)
class Prefix(Matcher):
    text: str

    def test(self, value: Any, kind: int) -> bool:
        return kind == STR and value.startswith(self.text)


@dataclass(frozen=True, slots=True)
class PrefixIgnoreCase(Matcher):
    text: str  # folded

    def test(self, value: Any, kind: int) -> bool:
        return kind == STR and fold(value).startswith(self.text)


@dataclass(frozen=True, slots=True)
class Suffix(Matcher):
    text: str

    def test(self, value: Any, kind: int) -> bool:
        return kind == STR and value.endswith(self.text)


@dataclass(frozen=True, slots=True)
class SuffixIgnoreCase(Matcher):
    text: str  # folded

    def test(self, value: Any, kind: int) -> bool:
        return kind == STR and fold(value).endswith(self.text)


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase(Matcher):
    text: str  # folded

    def test(self, value: Any, kind: int) -> bool:
        return kind == STR and fold(value) == self.text


@dataclass(frozen=True, slots=True)
class Wildcard(Matcher):
    text: str

    def test(self, value: Any, kind: int) -> bool:
        return kind == STR and wildcard_regex(self.text).fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Numeric(Matcher):
    low: float
    low_open: bool
    high: float
    high_open: bool

    def contains(self, number: float) -> bool:
        # Written as positive comparisons so that NaN falls outside every range.
        above = number > self.low if self.low_open else number >= self.low
        below = number < self.high if self.high_open else number <= self.high
        return above and below

    def test(self, value: Any, kind: int) -> bool:
        return kind == NUM and self.contains(value)


@dataclass(frozen=True, slots=True)
class Cidr(Matcher):
    version: int
    bits: int  # prefix length
    network: int  # the address shifted right by (address width - bits)

    def test(self, value: Any, kind: int) -> bool:
        if kind != STR:
            return False
        address = parse_ip(value)
        if address is None or address[0] != self.version:
            return False
        width = 32 if self.version == 4 else 128
        return address[1] >> (width - self.bits) == self.network


@dataclass(frozen=True, slots=True)
class Exists(Matcher):
    def test(self, value: Any, kind: int) -> bool:
        return True


# anything-but matches any present leaf except the excluded ones; a leaf of another type than
# the exclusions (a number against excluded strings, null against a prefix) is not excluded.


@dataclass(frozen=True, slots=True)
class AnythingBut(Matcher):
    keys: frozenset[Key]

    def test(self, value: Any, kind: int) -> bool:
        return kind not in (STR, NUM) or (kind, value) not in self.keys


@dataclass(frozen=True, slots=True)
class AnythingButPrefix(Matcher):
    texts: tuple[str, ...]

    def test(self, value: Any, kind: int) -> bool:
        return kind != STR or not value.startswith(self.texts)


@dataclass(frozen=True, slots=True)
class AnythingButSuffix(Matcher):
    texts: tuple[str, ...]

    def test(self, value: Any, kind: int) -> bool:
        return kind != STR or not value.endswith(self.texts)


@dataclass(frozen=True, slots=True)
class AnythingButIgnoreCase(Matcher):
    texts: frozenset[str]  # folded

    def test(self, value: Any, kind: int) -> bool:
        return kind != STR or fold(value) not in self.texts


@dataclass(frozen=True, slots=True)
class AnythingButWildcard(Matcher):
    texts: tuple[str, ...]

    def test(self, value: Any, kind: int) -> bool:
        if kind != STR:
            return True
        return not any(wildcard_regex(text).fullmatch(value) for text in self.texts)


@dataclass(frozen=True, slots=True)
class Condition:
    """A field path, its OR-ed matchers, and whether the field may be absent (exists: false)."""

    path: tuple[str, ...]
    matchers: tuple[Matcher, ...]
    absent_ok: bool


Clause = tuple[Condition, ...]


# --- events ----------------------------------------------------------------------------------


@dataclass(slots=True)
class TrieNode:
    """A step of the field paths some pattern names; only these are read from an event."""

    children: dict[str, TrieNode] = field(default_factory=dict)
    path_id: int = -1


def trie_insert(root: TrieNode, path: tuple[str, ...], path_id: int) -> None:
    node = root
    for step in path:
        child = node.children.get(step)
        if child is None:
            child = node.children[step] = TrieNode()
        node = child
    node.path_id = path_id


def collect(event: object, root: TrieNode) -> list[Leaf]:
    """The leaves of ``event`` on the trie's paths, arrays flattened, with memberships.

    Iterative and guided by the trie, so deep or cyclic data outside the named paths costs
    nothing and cannot recurse without bound. Objects are never leaves ("exists" only works on
    leaf nodes); every array, nested ones included, gets its own id per visit.
    """
    leaves: list[Leaf] = []
    arrays = 0
    stack: list[tuple[TrieNode, object, Membership]] = [(root, event, ())]
    while stack:
        node, value, membership = stack.pop()
        if isinstance(value, dict):
            # A scalar under an object is taken as a leaf at once, without a trip through the
            # stack (the common case: most named fields hold strings and numbers).
            children = node.children
            if len(children) <= len(value):
                for step, child in children.items():
                    if step in value:
                        item = value[step]
                        if isinstance(item, (dict, list, tuple)):
                            stack.append((child, item, membership))
                        elif child.path_id >= 0:
                            leaves.append((child.path_id, item, kind_of(item), membership))
            else:
                for step, item in value.items():
                    found = children.get(step) if isinstance(step, str) else None
                    if found is None:
                        continue
                    if isinstance(item, (dict, list, tuple)):
                        stack.append((found, item, membership))
                    elif found.path_id >= 0:
                        leaves.append((found.path_id, item, kind_of(item), membership))
        elif isinstance(value, (list, tuple)):
            array = arrays
            arrays += 1
            for index in range(len(value) - 1, -1, -1):
                stack.append((node, value[index], (*membership, (array, index))))
        elif node.path_id >= 0:
            leaves.append((node.path_id, value, kind_of(value), membership))
    return leaves


# --- deciding a clause -----------------------------------------------------------------------

Spec = tuple[Sequence[int], Sequence[int], bool]
"""Per condition: (leaves satisfying its matchers, all leaves at its path, absent_ok)."""


def decide(specs: Sequence[Spec], leaves: Sequence[Leaf]) -> bool:
    """Whether one clause holds, given for each condition its candidate and present leaves.

    Every condition needs a candidate leaf, or (with exists: false) no leaf at its path. When
    arrays are involved the chosen leaves must agree on the element of every array they share,
    and an "absent" path must have no leaf in the chosen elements.
    """
    arrays = False
    for candidates, present, absent_ok in specs:
        # Unsatisfiable, unless "absent" can hold because the present leaves sit in other
        # array elements than the ones the other conditions choose.
        if (
            not candidates
            and not (absent_ok and not present)
            and not (absent_ok and any(leaves[i][3] for i in present))
        ):
            return False
        if not arrays:
            arrays = any(leaves[i][3] for i in present)
    if not arrays:
        return True
    return _search(specs, leaves)


def _search(specs: Sequence[Spec], leaves: Sequence[Leaf]) -> bool:
    order = sorted(specs, key=lambda spec: len(spec[0]))
    chosen: dict[int, int] = {}
    absent: list[Sequence[int]] = []

    def consistent(membership: Membership) -> bool:
        return all(chosen.get(array, index) == index for array, index in membership)

    def solve(depth: int) -> bool:
        if depth == len(order):
            return not any(consistent(leaves[i][3]) for present in absent for i in present)
        candidates, present, absent_ok = order[depth]
        tried: set[Membership] = set()
        for i in candidates:
            membership = leaves[i][3]
            if membership in tried or not consistent(membership):
                continue
            tried.add(membership)
            added = [array for array, index in membership if array not in chosen]
            for array, index in membership:
                chosen[array] = index
            if solve(depth + 1):
                return True
            for array in added:
                del chosen[array]
        if absent_ok:
            absent.append(present)
            if solve(depth + 1):
                return True
            absent.pop()
        return False

    return solve(0)


def evaluate(clauses: Sequence[Clause], event: object) -> bool:
    """Whether any clause holds for ``event``, testing every matcher directly (no index)."""
    root = TrieNode()
    path_ids: dict[tuple[str, ...], int] = {}
    for clause in clauses:
        if not clause:
            return True
        for condition in clause:
            if condition.path not in path_ids:
                path_ids[condition.path] = len(path_ids)
                trie_insert(root, condition.path, path_ids[condition.path])
    leaves = collect(event, root)
    at_path: dict[int, list[int]] = {}
    for index, leaf in enumerate(leaves):
        at_path.setdefault(leaf[0], []).append(index)
    for clause in clauses:
        specs: list[Spec] = []
        for condition in clause:
            present = at_path.get(path_ids[condition.path], [])
            candidates = [
                i
                for i in present
                if any(m.test(leaves[i][1], leaves[i][2]) for m in condition.matchers)
            ]
            specs.append((candidates, present, condition.absent_ok))
        if decide(specs, leaves):
            return True
    return False
