"""``RuleSet``: many patterns compiled into one shared index, matched against an event at once.

Shape (after AWS event-ruler's state machine): every distinct (field path, matcher list) of
every rule is one *node*. A clause (an AND of conditions) is found in one of three ways:

- *filed* in a trie of exact values: its required conditions of only exact values (strings,
  numbers, null, booleans, ``numeric =``) are steps field by field, so an event reaches only the
  clauses whose exact values it holds, and only those have their other conditions checked;
- *anchored* on a node, when it has no exact condition, or its trie state is crowded with
  clauses (rules sharing every exact value) and it has a narrow, less-shared node (a prefix,
  say). Anchor nodes, and only they, are in per-path indexes: hash maps for exact and
  ignore-case values, prefix and suffix tables probed at each length in use, CIDR blocks keyed
  by mask length, sorted bounds for one-sided numeric ranges, "all but these" sets for
  anything-but; two-sided ranges, wildcards and anything-but prefix/suffix/wildcard are scanned;
- checked for every event, when each of its conditions allows absence (``exists: false``).

Matching collects up front only the fields that find candidates (trie and anchor paths); a
candidate's other fields are read on demand. An array on the way to any of them makes the event
collected whole, as array consistency needs every leaf's element.

The one thing to know before changing it: the trie and the anchors only find candidates; a
candidate's conditions are decided with the semantics of ``_core`` (each condition on its own
when no arrays are involved, ``_core.decide`` otherwise), the ones ``matches`` uses. The
property tests hold the two to the same answers.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from overcast.matching._compile import EVENTBRIDGE, compile_pattern
from overcast.matching._core import (
    NUM,
    OTHER,
    STR,
    AnythingBut,
    AnythingButIgnoreCase,
    Cidr,
    Clause,
    EqualsIgnoreCase,
    Exact,
    Exists,
    Key,
    Leaf,
    Matcher,
    Numeric,
    Prefix,
    PrefixIgnoreCase,
    Spec,
    Suffix,
    SuffixIgnoreCase,
    TrieNode,
    collect,
    decide,
    fold,
    kind_of,
    parse_ip,
    trie_insert,
)
from overcast.matching.patterns import Pattern

K = TypeVar("K", bound=Hashable)


class _Affixes:
    """Prefixes (or suffixes) of one path: found by slicing the value at each length in use."""

    __slots__ = ("suffix", "table", "counts", "lengths")

    def __init__(self, suffix: bool) -> None:
        self.suffix = suffix
        self.table: dict[str, set[int]] = {}
        self.counts: dict[int, int] = {}
        self.lengths: list[int] = []

    def add(self, text: str, node: int) -> None:
        self.table.setdefault(text, set()).add(node)
        size = len(text)
        self.counts[size] = self.counts.get(size, 0) + 1
        if self.counts[size] == 1:
            bisect.insort(self.lengths, size)

    def discard(self, text: str, node: int) -> None:
        nodes = self.table[text]
        nodes.discard(node)
        if not nodes:
            del self.table[text]
        size = len(text)
        self.counts[size] -= 1
        if not self.counts[size]:
            del self.counts[size]
            self.lengths.remove(size)

    def find(self, value: str, found: set[int]) -> None:
        end = len(value)
        for size in self.lengths:
            if size > end:
                break
            nodes = self.table.get(value[end - size :] if self.suffix else value[:size])
            if nodes:
                found |= nodes


class _HalfLines:
    """Numeric ranges bounded on one side only: the hits are a prefix (lower bounds below the
    value) or a suffix (upper bounds above it) of the sorted bounds, taken with one slice."""

    __slots__ = ("lower", "entries", "bounds", "nodes")

    def __init__(self, lower: bool) -> None:
        self.lower = lower
        self.entries: list[tuple[float, bool, int]] = []  # (bound, strict, node), sorted
        self.bounds: list[float] = []
        self.nodes: list[int] = []

    def add(self, bound: float, strict: bool, node: int) -> None:
        entry = (bound, strict, node)
        at = bisect.bisect_left(self.entries, entry)
        self.entries.insert(at, entry)
        self.bounds.insert(at, bound)
        self.nodes.insert(at, node)

    def discard(self, bound: float, strict: bool, node: int) -> None:
        at = bisect.bisect_left(self.entries, (bound, strict, node))
        del self.entries[at], self.bounds[at], self.nodes[at]

    def find(self, value: float, found: set[int]) -> None:
        bounds = self.bounds
        if self.lower:
            at = bisect.bisect_left(bounds, value)
            found.update(self.nodes[:at])
            while at < len(bounds) and bounds[at] == value:  # equal bounds: inclusive only
                if not self.entries[at][1]:
                    found.add(self.nodes[at])
                at += 1
        else:
            at = bisect.bisect_right(bounds, value)
            found.update(self.nodes[at:])
            at -= 1
            while at >= 0 and bounds[at] == value:
                if not self.entries[at][1]:
                    found.add(self.nodes[at])
                at -= 1


class _PathIndex:
    """Every matcher some node lists for one field path, keyed so a value finds them fast."""

    def __init__(self) -> None:
        self.size = 0  # nodes indexed here
        self.exact: dict[Key, set[int]] = {}
        self.ignore_case: dict[str, set[int]] = {}
        self.prefixes = _Affixes(suffix=False)
        self.suffixes = _Affixes(suffix=True)
        self.prefixes_ic = _Affixes(suffix=False)
        self.suffixes_ic = _Affixes(suffix=True)
        self.cidrs: dict[tuple[int, int], dict[int, set[int]]] = {}
        self.above = _HalfLines(lower=True)  # [">", x] and [">=", x]
        self.below = _HalfLines(lower=False)  # ["<", x] and ["<=", x]
        self.ranges: list[tuple[Numeric, int]] = []  # two-sided, sorted by lower bound
        self.exists: set[int] = set()
        self.excluding: set[int] = set()  # plain anything-but nodes
        self.excluded: dict[Key, set[int]] = {}
        self.excluding_ic: set[int] = set()  # anything-but equals-ignore-case nodes
        self.excluded_ic: dict[str, set[int]] = {}
        self.scanned: list[tuple[Matcher, int]] = []  # wildcards, anything-but operators

    def add(self, matcher: Matcher, node: int) -> None:
        match matcher:
            case Exact(key=key):
                self.exact.setdefault(key, set()).add(node)
            case EqualsIgnoreCase(text=text):
                self.ignore_case.setdefault(text, set()).add(node)
            case Prefix(text=text):
                self.prefixes.add(text, node)
            case Suffix(text=text):
                self.suffixes.add(text, node)
            case PrefixIgnoreCase(text=text):
                self.prefixes_ic.add(text, node)
            case SuffixIgnoreCase(text=text):
                self.suffixes_ic.add(text, node)
            case Cidr(version=version, bits=bits, network=network):
                blocks = self.cidrs.setdefault((version, bits), {})
                blocks.setdefault(network, set()).add(node)
            case Numeric(low=low, high=high) if low == high:
                self.exact.setdefault((NUM, low), set()).add(node)
            case Numeric(low=low, low_open=strict, high=high) if high == math.inf:
                self.above.add(low, strict, node)
            case Numeric(low=low, high=high, high_open=strict) if low == -math.inf:
                self.below.add(high, strict, node)
            case Numeric() as ranged:
                bisect.insort(self.ranges, (ranged, node), key=lambda entry: entry[0].low)
            case Exists():
                self.exists.add(node)
            # One anything-but per node is indexed (as "every node but those excluding this
            # value"); a node's further ones are scanned, as subtracting would lose them.
            case AnythingBut(keys=keys) if node not in self.excluding:
                self.excluding.add(node)
                for key in keys:
                    self.excluded.setdefault(key, set()).add(node)
            case AnythingButIgnoreCase(texts=texts) if node not in self.excluding_ic:
                self.excluding_ic.add(node)
                for text in texts:
                    self.excluded_ic.setdefault(text, set()).add(node)
            case _:
                self.scanned.append((matcher, node))

    def discard(self, matcher: Matcher, node: int) -> None:
        match matcher:
            case Exact(key=key):
                _drop(self.exact, key, node)
            case EqualsIgnoreCase(text=text):
                _drop(self.ignore_case, text, node)
            case Prefix(text=text):
                self.prefixes.discard(text, node)
            case Suffix(text=text):
                self.suffixes.discard(text, node)
            case PrefixIgnoreCase(text=text):
                self.prefixes_ic.discard(text, node)
            case SuffixIgnoreCase(text=text):
                self.suffixes_ic.discard(text, node)
            case Cidr(version=version, bits=bits, network=network):
                blocks = self.cidrs[(version, bits)]
                _drop(blocks, network, node)
                if not blocks:
                    del self.cidrs[(version, bits)]
            case Numeric(low=low, high=high) if low == high:
                _drop(self.exact, (NUM, low), node)
            case Numeric(low=low, low_open=strict, high=high) if high == math.inf:
                self.above.discard(low, strict, node)
            case Numeric(low=low, high=high, high_open=strict) if low == -math.inf:
                self.below.discard(high, strict, node)
            case Numeric():
                self.ranges.remove((matcher, node))
            case Exists():
                self.exists.discard(node)
            case _ if (matcher, node) in self.scanned:
                self.scanned.remove((matcher, node))
            case AnythingBut(keys=keys):
                self.excluding.discard(node)
                for key in keys:
                    _drop(self.excluded, key, node)
            case AnythingButIgnoreCase(texts=texts):
                self.excluding_ic.discard(node)
                for text in texts:
                    _drop(self.excluded_ic, text, node)

    def find(self, value: Any, kind: int) -> set[int]:
        """The nodes with at least one matcher that this leaf value satisfies."""
        found: set[int] = set()
        if self.exists:
            found |= self.exists
        nodes = self.exact.get((kind, value)) if kind != OTHER else None
        if nodes:
            found |= nodes
        if kind == STR:
            if self.ignore_case or self.prefixes_ic.table or self.suffixes_ic.table:
                folded = fold(value)
                nodes = self.ignore_case.get(folded)
                if nodes:
                    found |= nodes
                self.prefixes_ic.find(folded, found)
                self.suffixes_ic.find(folded, found)
            self.prefixes.find(value, found)
            self.suffixes.find(value, found)
            if self.cidrs:
                address = parse_ip(value)
                if address is not None:
                    version, number = address
                    width = 32 if version == 4 else 128
                    for (block_version, bits), blocks in self.cidrs.items():
                        if block_version == version:
                            nodes = blocks.get(number >> (width - bits))
                            if nodes:
                                found |= nodes
        elif kind == NUM:
            if self.above.nodes:
                self.above.find(value, found)
            if self.below.nodes:
                self.below.find(value, found)
            # Ranges are sorted by lower bound: stop at the first that starts above the value.
            for ranged, node in self.ranges:
                if ranged.low > value:
                    break
                if ranged.contains(value):
                    found.add(node)
        if self.excluding:
            nodes = self.excluded.get((kind, value)) if kind <= NUM else None
            found |= self.excluding - nodes if nodes else self.excluding
        if self.excluding_ic:
            nodes = self.excluded_ic.get(fold(value)) if kind == STR else None
            found |= self.excluding_ic - nodes if nodes else self.excluding_ic
        for matcher, node in self.scanned:
            if node not in found and matcher.test(value, kind):
                found.add(node)
        return found


def _drop(table: dict[Any, set[int]], key: Any, node: int) -> None:
    nodes = table[key]
    nodes.discard(node)
    if not nodes:
        del table[key]


def _exact_key(matcher: Matcher) -> Key | None:
    """The one value ``matcher`` accepts, when it accepts exactly one (an exact or ``=`` value)."""
    if isinstance(matcher, Exact):
        return matcher.key
    if isinstance(matcher, Numeric) and matcher.low == matcher.high:
        return (NUM, matcher.low)
    return None


_Condition = tuple[int, int, bool]
"""(node id or -1, path id, absent_ok)."""

MAX_KEYS = 64
"""Most exact-value combinations one clause is filed under in the trie; conditions with more
values than fit are checked on the candidates instead."""
CROWDED = 4
"""Clauses a trie state holds before its clauses are checked for a less-shared node to move to."""


def _step(children: dict[Key, _State], keys: list[Key], stack: list[_State]) -> None:
    """Push the states that several values of one field lead to, iterating the fewer."""
    if len(keys) <= len(children):
        for key in keys:
            child = children.get(key)
            if child is not None:
                stack.append(child)
    else:
        present = set(keys)
        stack.extend(child for key, child in children.items() if key in present)


def _test(node: _Node, positions: list[int], leaves: list[Leaf]) -> list[int]:
    """The positions of the leaves (at the node's path) that the node's matchers accept."""
    keys, others = node.keys, node.others
    accepted = []
    for position in positions:
        _, value, kind, _ = leaves[position]
        if keys and kind != OTHER and (kind, value) in keys:
            accepted.append(position)
            continue
        for matcher in others:
            if matcher.test(value, kind):
                accepted.append(position)
                break
    return accepted


def _narrow(matcher: Matcher) -> bool:
    if isinstance(matcher, (Prefix, Suffix, PrefixIgnoreCase, SuffixIgnoreCase)):
        return bool(matcher.text)
    return isinstance(matcher, (Exact, EqualsIgnoreCase)) or _exact_key(matcher) is not None


_ALL_READ: Any = object()
"""Stands for the event when every named field has been collected: nothing is left to read."""


class _ArrayMet(Exception):
    """A field read on demand sits in an array: the event must be collected whole."""


@dataclass(eq=False, slots=True)
class _Node:
    id: int
    path_id: int
    matchers: tuple[Matcher, ...]
    keys: frozenset[Key]  # the exact values among the matchers, tested by one hash lookup
    others: tuple[Matcher, ...]  # the other matchers, tested one by one
    refs: int = 0
    anchored: set[int] = field(default_factory=set)  # the node is in its path index iff not empty


@dataclass(eq=False, slots=True)
class _Rest:
    """The conditions left to check on a clause once found, when no arrays are involved; shared
    by the clauses with the same ones, so that an event decides them once."""

    # (node or None for only exists: false, path id, absent_ok, path)
    conditions: tuple[tuple[_Node | None, int, bool, tuple[str, ...]], ...]
    key: tuple[_Condition, ...]  # the same, sorted: what the sharing clauses have in common
    refs: int = 0


@dataclass(eq=False, slots=True)
class _State:
    """A state of the exact-value trie, reached when the event holds every value on the way."""

    edges: dict[int, dict[Key, _State]] = field(default_factory=dict)  # path id -> value -> next
    clauses: dict[int, _Clause] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class _Clause:
    id: int
    rule: _Rule
    conditions: tuple[_Condition, ...]
    required: frozenset[int]  # nodes of the conditions without exists: false
    keys: tuple[tuple[tuple[int, Key], ...], ...]  # exact-value combinations, in trie order
    keyed: tuple[_Condition, ...]  # the conditions the keys stand for
    filed: bool = False  # in the trie, under every one of its keys
    anchor: int = -1  # else anchored on this node; else checked for every event
    rest: _Rest | None = None  # what finding it did not prove


@dataclass(eq=False, slots=True)
class _Rule:
    key: Any
    seq: int
    clauses: list[_Clause] = field(default_factory=list)


class RuleSet(Generic[K]):
    """EventBridge event patterns compiled into one index; ``match`` returns the rules an event
    matches, in the order they were added, agreeing exactly with ``matches``.

    The cost of ``match`` grows with the event's fields that rules name and with the rules that
    share its values, not with the number of rules. Not thread-safe: guard it with a lock if
    rules change while other threads match.

        rules: RuleSet[str] = RuleSet()
        rules.add("ec2-running", {"source": ["aws.ec2"], "detail": {"state": ["running"]}})
        rules.match(event)  # -> ["ec2-running"] or []
    """

    def __init__(self) -> None:
        self._rules: dict[K, _Rule] = {}
        self._seq = 0
        self._nodes: dict[int, _Node] = {}
        self._node_ids: dict[tuple[int, tuple[Matcher, ...]], int] = {}
        self._clauses: dict[int, _Clause] = {}
        self._root = _State()  # the exact-value trie
        self._unanchored: dict[int, _Clause] = {}  # clauses whose conditions all allow absence
        self._rests: dict[tuple[_Condition, ...], _Rest] = {}
        self._next_id = 0
        self._paths: dict[tuple[str, ...], int] = {}
        self._path_of: dict[int, tuple[str, ...]] = {}
        self._path_refs: dict[int, int] = {}
        self._indexes: dict[int, _PathIndex] = {}  # only paths with anchor nodes
        self._trie: TrieNode | None = None  # every path some rule names
        self._eager_refs: dict[int, int] = {}  # paths that find candidates: keys and anchors
        self._eager: TrieNode | None = None  # those paths, collected up front

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __iter__(self) -> Iterator[K]:
        return iter(self._rules)

    def add(self, rule_id: K, pattern: Pattern) -> None:
        """Add a rule, or replace the rule with this id. Validates the pattern first
        (``validate_pattern``), raising ``InvalidPattern`` and leaving the set unchanged."""
        self._add_clauses(rule_id, compile_pattern(pattern, EVENTBRIDGE, check=True))

    def remove(self, rule_id: K) -> None:
        """Remove a rule; KeyError when there is none with this id."""
        rule = self._rules.pop(rule_id)
        for clause in rule.clauses:
            self._drop_clause(clause)

    def match(self, event: Any) -> list[K]:
        """The ids of the rules whose pattern matches ``event``, in insertion order."""
        if self._eager is None:
            self._eager = TrieNode()
            for path_id in self._eager_refs:
                trie_insert(self._eager, self._path_of[path_id], path_id)
        # Read only the fields that find candidates; the others are read for the candidates
        # that name them. Arrays need every named field at once (array ids, element choice).
        leaves = collect(event, self._eager)
        lazy = True
        for leaf in leaves:
            if leaf[3]:
                leaves, lazy = self._collect_all(event), False
                break
        found: list[_Clause] = []
        memo: dict[int, list[int]] = {}  # node -> positions of the leaves it accepts
        at_path = self._find(leaves, found, memo)
        if self._unanchored:
            found.extend(self._unanchored.values())
        if not found:
            return []
        try:
            matched = self._decide(found, event if lazy else _ALL_READ, leaves, at_path, memo)
        except _ArrayMet:
            leaves = self._collect_all(event)
            at_path = {}
            for position, leaf in enumerate(leaves):
                at_path.setdefault(leaf[0], []).append(position)
            matched = self._decide(found, _ALL_READ, leaves, at_path, {})
        if len(matched) < 2:
            return list(matched.values())
        return [matched[seq] for seq in sorted(matched)]

    # --- internals ---------------------------------------------------------------------------

    def _collect_all(self, event: Any) -> list[Leaf]:
        if self._trie is None:
            self._trie = TrieNode()
            for path, path_id in self._paths.items():
                trie_insert(self._trie, path, path_id)
        return collect(event, self._trie)

    def _find(
        self, leaves: list[Leaf], found: list[_Clause], memo: dict[int, list[int]]
    ) -> dict[int, list[int]]:
        """The candidate clauses: those of the trie states the event reaches and those anchored
        on the nodes its leaves hit. Returns the positions of the leaves at each path."""
        at_path: dict[int, list[int]] = {}
        values: dict[int, list[Key]] = {}  # path -> the distinct exact keys of its leaves
        repeated = False
        for position, (path_id, value, kind, _) in enumerate(leaves):
            positions = at_path.get(path_id)
            if positions is None:
                at_path[path_id] = [position]
                if kind != OTHER:
                    values[path_id] = [(kind, value)]
            else:
                positions.append(position)
                repeated = True
                if kind != OTHER:
                    values.setdefault(path_id, []).append((kind, value))
        if repeated:  # repeated values would walk the same trie states again
            for path_id, keys in values.items():
                if len(keys) > 1:
                    values[path_id] = list(dict.fromkeys(keys))
        if self._root.edges:
            self._walk(values, found)
        indexes = self._indexes
        if indexes:
            hit: list[int] = []
            for path_id, positions in at_path.items():
                index = indexes.get(path_id)
                if index is not None:
                    for position in positions:
                        leaf = leaves[position]
                        for node_id in index.find(leaf[1], leaf[2]):
                            hits = memo.get(node_id)
                            if hits is None:
                                memo[node_id] = [position]
                                hit.append(node_id)
                            else:
                                hits.append(position)
            clauses = self._clauses
            nodes = self._nodes
            for node_id in hit:
                for clause_id in nodes[node_id].anchored:
                    found.append(clauses[clause_id])
        return at_path

    def _walk(self, values: dict[int, list[Key]], found: list[_Clause]) -> None:
        """Collect the clauses of every trie state whose values the event holds."""
        stack = [self._root]
        while stack:
            state = stack.pop()
            if state.clauses:
                found.extend(state.clauses.values())
            edges = state.edges
            if not edges:
                continue
            # Step over whichever is smaller: the state's fields or the event's.
            if len(edges) == 1:  # the common case, taken without a loop
                ((path_id, children),) = edges.items()
                keys = values.get(path_id)
                if keys is not None:
                    if len(keys) == 1:
                        child = children.get(keys[0])
                        if child is not None:
                            stack.append(child)
                    else:
                        _step(children, keys, stack)
            elif len(edges) <= len(values):
                for path_id, children in edges.items():
                    keys = values.get(path_id)
                    if keys is not None:
                        if len(keys) == 1:
                            child = children.get(keys[0])
                            if child is not None:
                                stack.append(child)
                        else:
                            _step(children, keys, stack)
            else:
                for path_id, keys in values.items():
                    following = edges.get(path_id)
                    if following is not None:
                        if len(keys) == 1:
                            child = following.get(keys[0])
                            if child is not None:
                                stack.append(child)
                        else:
                            _step(following, keys, stack)

    def _decide(
        self,
        found: list[_Clause],
        event: Any,
        leaves: list[Leaf],
        at_path: dict[int, list[int]],
        memo: dict[int, list[int]],
    ) -> dict[int, K]:
        """The rules (by sequence number) of the candidate clauses that hold."""
        arrays = event is _ALL_READ and any(leaf[3] for leaf in leaves)
        matched: dict[int, K] = {}
        verdicts: dict[_Rest, bool] = {}
        for clause in found:
            rule = clause.rule
            if rule.seq in matched:
                continue
            if arrays:
                holds = self._holds_in_arrays(clause, leaves, at_path, memo)
            else:
                rest = clause.rest
                assert rest is not None
                verdict = verdicts.get(rest)
                if verdict is None:
                    verdict = verdicts[rest] = self._rest_holds(rest, event, leaves, at_path, memo)
                holds = verdict
            if holds:
                matched[rule.seq] = rule.key
        return matched

    def _rest_holds(
        self,
        rest: _Rest,
        event: Any,
        leaves: list[Leaf],
        at_path: dict[int, list[int]],
        memo: dict[int, list[int]],
    ) -> bool:
        # Without arrays every condition stands alone (as in ``decide``), and the ones that
        # found the clause already hold.
        for node, path_id, absent_ok, steps in rest.conditions:
            present = at_path.get(path_id)
            if present is None:
                present = self._read(event, path_id, steps, leaves, at_path)
            if not present:
                if absent_ok:
                    continue
                return False
            if node is None:  # only exists: false, and the field is present
                return False
            hits = memo.get(node.id)
            if hits is None:
                hits = memo[node.id] = _test(node, present, leaves)
            if not hits:
                return False
        return True

    def _read(
        self,
        event: Any,
        path_id: int,
        steps: tuple[str, ...],
        leaves: list[Leaf],
        at_path: dict[int, list[int]],
    ) -> list[int]:
        """The positions of the leaves at a path that was not collected up front: read now,
        straight from the event, when nothing on the way is an array (``_ArrayMet`` if one is:
        the event is then collected whole). Mirrors ``collect`` for arrays-free data."""
        positions: list[int] = []
        at_path[path_id] = positions
        if event is _ALL_READ or path_id in self._eager_refs:
            return positions
        value = event
        for step in steps:
            if isinstance(value, dict):
                if step not in value:
                    return positions
                value = value[step]
            elif isinstance(value, (list, tuple)):
                raise _ArrayMet
            else:
                return positions
        if isinstance(value, (list, tuple)):
            raise _ArrayMet
        if not isinstance(value, dict):  # objects are never leaves
            positions.append(len(leaves))
            leaves.append((path_id, value, kind_of(value), ()))
        return positions

    def _holds_in_arrays(
        self,
        clause: _Clause,
        leaves: list[Leaf],
        at_path: dict[int, list[int]],
        memo: dict[int, list[int]],
    ) -> bool:
        specs: list[Spec] = []
        for node_id, path_id, absent_ok in clause.conditions:
            present = at_path.get(path_id, [])
            if node_id < 0:
                specs.append(((), present, absent_ok))
                continue
            hits = memo.get(node_id)
            if hits is None:
                hits = memo[node_id] = _test(self._nodes[node_id], present, leaves)
            specs.append((hits, present, absent_ok))
        return decide(specs, leaves)

    def _add_clauses(self, rule_id: K, clauses: list[Clause]) -> None:
        if rule_id in self._rules:
            self.remove(rule_id)
        rule = _Rule(rule_id, self._seq)
        self._seq += 1
        self._rules[rule_id] = rule
        for compiled in clauses:
            conditions = []
            for condition in compiled:
                path_id = self._path(condition.path)
                node = self._node(path_id, condition.matchers) if condition.matchers else -1
                conditions.append((node, path_id, condition.absent_ok))
            required = frozenset(node for node, _, absent_ok in conditions if not absent_ok)
            keyed, keys = self._keys(conditions)
            clause = _Clause(self._new_id(), rule, tuple(conditions), required, keys, keyed)
            rule.clauses.append(clause)
            self._clauses[clause.id] = clause
            for node, _, _ in conditions:
                if node >= 0:
                    self._ref(node)
            self._place(clause)

    def _keys(
        self, conditions: list[_Condition]
    ) -> tuple[tuple[_Condition, ...], tuple[tuple[tuple[int, Key], ...], ...]]:
        """The required conditions of only exact values that a clause is filed under (fewest
        values first, while their combinations stay under MAX_KEYS), and those combinations.

        Fields go in the trie from the most named to the least (then by path), so that clauses
        naming the same fields share states: rules that all name ``source`` and ``detail-type``
        share those two steps, and only the ones that also name ``detail.state`` take a third.
        The order is not needed for correctness: the walk follows every field at every state."""
        exact = []
        for condition in conditions:
            node_id, path_id, absent_ok = condition
            if node_id >= 0 and not absent_ok and not self._nodes[node_id].others:
                exact.append((len(self._nodes[node_id].keys), condition))
        exact.sort(key=lambda item: item[0])
        chosen: list[tuple[tuple[int, tuple[str, ...]], _Condition]] = []
        combinations = 1
        for size, condition in exact:
            if not chosen or combinations * size <= MAX_KEYS:
                path_id = condition[1]
                chosen.append(((-self._path_refs[path_id], self._path_of[path_id]), condition))
                combinations *= size
        chosen.sort(key=lambda item: item[0])
        keyed = tuple(condition for _, condition in chosen)
        choices = [
            [(path_id, key) for key in self._nodes[node_id].keys] for node_id, path_id, _ in keyed
        ]
        return keyed, tuple(itertools.product(*choices)) if keyed else ()

    def _set_rest(self, clause: _Clause, conditions: Iterable[_Condition]) -> None:
        self._release_rest(clause)
        key = tuple(sorted(set(conditions)))
        rest = self._rests.get(key)
        if rest is None:
            rest = self._rests[key] = _Rest(
                tuple(
                    (
                        self._nodes[node_id] if node_id >= 0 else None,
                        path_id,
                        absent_ok,
                        self._path_of[path_id],
                    )
                    for node_id, path_id, absent_ok in key
                ),
                key,
            )
        rest.refs += 1
        clause.rest = rest

    def _release_rest(self, clause: _Clause) -> None:
        rest = clause.rest
        if rest is not None:
            clause.rest = None
            rest.refs -= 1
            if not rest.refs:
                del self._rests[rest.key]

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _path(self, path: tuple[str, ...]) -> int:
        path_id = self._paths.get(path)
        if path_id is None:
            path_id = self._paths[path] = self._new_id()
            self._path_of[path_id] = path
            self._path_refs[path_id] = 0
            if self._trie is not None:
                trie_insert(self._trie, path, path_id)
        self._path_refs[path_id] += 1
        return path_id

    def _node(self, path_id: int, matchers: tuple[Matcher, ...]) -> int:
        node_id = self._node_ids.get((path_id, matchers))
        if node_id is None:
            node_id = self._new_id()
            self._node_ids[(path_id, matchers)] = node_id
            keys = {matcher: _exact_key(matcher) for matcher in matchers}
            self._nodes[node_id] = _Node(
                node_id,
                path_id,
                matchers,
                frozenset(key for key in keys.values() if key is not None),
                tuple(matcher for matcher, key in keys.items() if key is None),
            )
        return node_id

    def _ref(self, node_id: int) -> None:
        node = self._nodes[node_id]
        node.refs += 1
        # Re-anchor the clauses of a node that becomes popular, at powers of two so that the
        # work stays proportional to the number of additions.
        if node.refs >= 8 and node.refs & (node.refs - 1) == 0:
            for clause_id in list(node.anchored):
                clause = self._clauses[clause_id]
                best = self._narrow_anchor(clause) if clause.keys else self._best_anchor(clause)
                if best >= 0 and self._nodes[best].refs < node.refs:
                    self._unanchor(clause)
                    self._anchor(clause, best)

    def _best_anchor(self, clause: _Clause) -> int:
        return min(clause.required, key=lambda node: self._nodes[node].refs)

    def _place(self, clause: _Clause) -> None:
        """File a clause in the trie under its exact values; or, when the trie states it would
        join are crowded and it has a narrow node shared by fewer than half as many clauses,
        anchor it on that node; without exact values, anchor it on its least-shared node; with
        no required condition, check it for every event."""
        if not clause.required:
            self._set_rest(clause, clause.conditions)
            self._unanchored[clause.id] = clause
            return
        if clause.keys:
            crowd = 1 + max(len(state.clauses) for state in self._states(clause, create=False))
            narrow = self._narrow_anchor(clause)
            if narrow < 0 or 2 * self._nodes[narrow].refs >= crowd:
                self._file(clause)
                return
            self._anchor(clause, narrow)
            return
        self._anchor(clause, self._best_anchor(clause))

    def _narrow_anchor(self, clause: _Clause) -> int:
        """The least-shared required node outside the clause's trie keys whose matchers an event
        value rarely meets (exact, ignore-case, prefix or suffix values); -1 when none. Ranges,
        anything-but, exists and wildcards make poor anchors however few rules share them: most
        events hit them."""
        keyed = {node_id for node_id, _, _ in clause.keyed}
        narrow = [
            node_id
            for node_id in clause.required
            if node_id not in keyed and all(_narrow(m) for m in self._nodes[node_id].matchers)
        ]
        return min(narrow, key=lambda node: self._nodes[node].refs) if narrow else -1

    def _states(self, clause: _Clause, *, create: bool) -> Iterator[_State]:
        """The trie states a clause is (or would be) filed at; without ``create``, an empty
        state stands for each one that does not exist yet."""
        for combination in clause.keys:
            state = self._root
            for path_id, key in combination:
                children = state.edges.get(path_id)
                child = children.get(key) if children is not None else None
                if child is None:
                    if not create:
                        state = _State()
                        break
                    child = state.edges.setdefault(path_id, {})[key] = _State()
                state = child
            yield state

    def _file(self, clause: _Clause) -> None:
        clause.filed = True
        for path_id in {path_id for _, path_id, _ in clause.keyed}:
            self._eager_ref(path_id, 1)
        self._set_rest(clause, (c for c in clause.conditions if c not in clause.keyed))
        crowded = []
        for state in self._states(clause, create=True):
            state.clauses[clause.id] = clause
            size = len(state.clauses)
            if size >= CROWDED and size & (size - 1) == 0:
                crowded.append(state)
        # A state that keeps growing (rules sharing every exact value, told apart by a prefix,
        # say) moves the clauses that have a narrow, less-shared node onto that node; checked
        # at powers of two so that the work stays proportional to the number of additions.
        for state in crowded:
            for other in list(state.clauses.values()):
                narrow = self._narrow_anchor(other)
                if (
                    other.filed
                    and narrow >= 0
                    and 2 * self._nodes[narrow].refs < len(state.clauses)
                ):
                    self._unfile(other)
                    self._anchor(other, narrow)

    def _unfile(self, clause: _Clause) -> None:
        for combination in clause.keys:
            chain = []
            state = self._root
            for path_id, key in combination:
                chain.append((state, path_id, key))
                state = state.edges[path_id][key]
            state.clauses.pop(clause.id, None)
            for parent, path_id, key in reversed(chain):  # prune the states left empty
                child = parent.edges[path_id][key]
                if child.clauses or child.edges:
                    break
                children = parent.edges[path_id]
                del children[key]
                if not children:
                    del parent.edges[path_id]
        clause.filed = False
        for path_id in {path_id for _, path_id, _ in clause.keyed}:
            self._eager_ref(path_id, -1)

    def _eager_ref(self, path_id: int, delta: int) -> None:
        refs = self._eager_refs.get(path_id, 0) + delta
        if refs:
            self._eager_refs[path_id] = refs
        else:
            del self._eager_refs[path_id]
        if refs == 0 or refs == delta:
            self._eager = None  # rebuilt on the next match

    def _anchor(self, clause: _Clause, node_id: int) -> None:
        node = self._nodes[node_id]
        if not node.anchored:  # only anchor nodes are indexed: the others are tested lazily
            index = self._indexes.get(node.path_id)
            if index is None:
                index = self._indexes[node.path_id] = _PathIndex()
            index.size += 1
            self._eager_ref(node.path_id, 1)
            for matcher in node.matchers:
                index.add(matcher, node_id)
        node.anchored.add(clause.id)
        clause.anchor = node_id
        self._set_rest(clause, (c for c in clause.conditions if c[0] != node_id or c[2]))

    def _unanchor(self, clause: _Clause) -> None:
        node = self._nodes[clause.anchor]
        node.anchored.discard(clause.id)
        clause.anchor = -1
        if not node.anchored:
            index = self._indexes[node.path_id]
            for matcher in node.matchers:
                index.discard(matcher, node.id)
            index.size -= 1
            self._eager_ref(node.path_id, -1)
            if not index.size:
                del self._indexes[node.path_id]

    def _drop_clause(self, clause: _Clause) -> None:
        del self._clauses[clause.id]
        self._release_rest(clause)
        if clause.filed:
            self._unfile(clause)
        elif clause.anchor >= 0:
            self._unanchor(clause)
        else:
            del self._unanchored[clause.id]
        for node_id, path_id, _ in clause.conditions:
            if node_id >= 0:
                node = self._nodes[node_id]
                node.refs -= 1
                if not node.refs:
                    del self._nodes[node_id]
                    del self._node_ids[(path_id, node.matchers)]
            self._path_refs[path_id] -= 1
            if not self._path_refs[path_id]:
                del self._path_refs[path_id]
                del self._paths[self._path_of.pop(path_id)]
                self._trie = None  # rebuilt on the next match
