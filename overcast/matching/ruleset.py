"""``RuleSet``: many patterns compiled into one shared index, matched against an event at once.

Shape (after AWS event-ruler): every distinct (field path, matcher list) of every rule is one
*node*; each field path has a ``_PathIndex`` from values to nodes: hash maps for exact and
ignore-case values, prefix and suffix tables probed at each length in use, CIDR blocks keyed by
mask length, sorted bounds for one-sided numeric ranges, "all but these" sets for anything-but;
only two-sided ranges, wildcards and anything-but prefix/suffix/wildcard are scanned. Matching
an event reads only the fields some rule names, collects the nodes its leaves hit, then looks
only at the clauses *anchored* on those nodes: each clause is anchored on its least-shared
required node, so a value every rule shares (``"source": ["my.app"]``) does not make every rule
a candidate. Clauses made only of ``exists: false`` conditions are checked for every event.

The one thing to know before changing it: the index only finds candidates; clauses are decided
by ``_core.decide``, the function ``matches`` uses (``match`` skips it only for all-required
clauses when no leaf sits in an array, where it would answer yes). The property tests hold the
two to the same answers.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Hashable, Iterator
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


@dataclass(eq=False, slots=True)
class _Node:
    id: int
    path_id: int
    matchers: tuple[Matcher, ...]
    refs: int = 0
    anchored: set[int] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class _Clause:
    id: int
    rule: _Rule
    conditions: tuple[tuple[int, int, bool], ...]  # (node id or -1, path id, absent_ok)
    required: frozenset[int]  # nodes of the conditions without exists: false
    simple: bool  # every condition required: holds outright when no arrays are involved
    anchor: int = -1


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
        self._unanchored: dict[int, _Clause] = {}  # clauses whose conditions all allow absence
        self._next_id = 0
        self._paths: dict[tuple[str, ...], int] = {}
        self._path_of: dict[int, tuple[str, ...]] = {}
        self._path_refs: dict[int, int] = {}
        self._indexes: dict[int, _PathIndex] = {}
        self._trie: TrieNode | None = None

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
        if self._trie is None:
            self._trie = TrieNode()
            for path, path_id in self._paths.items():
                trie_insert(self._trie, path, path_id)
        leaves = collect(event, self._trie)
        at_path: dict[int, list[int]] = {}
        hits: dict[int, list[int]] = {}
        indexes = self._indexes
        for position, (path_id, value, kind, _) in enumerate(leaves):
            at_path.setdefault(path_id, []).append(position)
            for node in indexes[path_id].find(value, kind):
                hits.setdefault(node, []).append(position)
        matched: dict[int, K] = {}
        found = hits.keys()
        # Without arrays, a clause whose conditions are all required holds once all are hit.
        arrays = any(leaf[3] for leaf in leaves)
        for node_id in hits:
            for clause_id in self._nodes[node_id].anchored:
                clause = self._clauses[clause_id]
                rule = clause.rule
                if rule.seq in matched or not found >= clause.required:
                    continue
                if (clause.simple and not arrays) or self._holds(clause, hits, at_path, leaves):
                    matched[rule.seq] = rule.key
        for clause in self._unanchored.values():
            rule = clause.rule
            if rule.seq not in matched and self._holds(clause, hits, at_path, leaves):
                matched[rule.seq] = rule.key
        return [matched[seq] for seq in sorted(matched)]

    # --- internals ---------------------------------------------------------------------------

    @staticmethod
    def _holds(
        clause: _Clause,
        hits: dict[int, list[int]],
        at_path: dict[int, list[int]],
        leaves: list[Leaf],
    ) -> bool:
        specs: list[Spec] = [
            (hits.get(node, ()), at_path.get(path_id, ()), absent_ok)
            for node, path_id, absent_ok in clause.conditions
        ]
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
            simple = all(node >= 0 and not absent_ok for node, _, absent_ok in conditions)
            clause = _Clause(self._new_id(), rule, tuple(conditions), required, simple)
            rule.clauses.append(clause)
            self._clauses[clause.id] = clause
            for node, _, _ in conditions:
                if node >= 0:
                    self._ref(node)
            self._anchor(clause)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _path(self, path: tuple[str, ...]) -> int:
        path_id = self._paths.get(path)
        if path_id is None:
            path_id = self._paths[path] = self._new_id()
            self._path_of[path_id] = path
            self._path_refs[path_id] = 0
            self._indexes[path_id] = _PathIndex()
            if self._trie is not None:
                trie_insert(self._trie, path, path_id)
        self._path_refs[path_id] += 1
        return path_id

    def _node(self, path_id: int, matchers: tuple[Matcher, ...]) -> int:
        node_id = self._node_ids.get((path_id, matchers))
        if node_id is None:
            node_id = self._new_id()
            self._node_ids[(path_id, matchers)] = node_id
            self._nodes[node_id] = _Node(node_id, path_id, matchers)
            index = self._indexes[path_id]
            for matcher in matchers:
                index.add(matcher, node_id)
        return node_id

    def _ref(self, node_id: int) -> None:
        node = self._nodes[node_id]
        node.refs += 1
        # Re-anchor the clauses of a node that becomes popular, at powers of two so that the
        # work stays proportional to the number of additions.
        if node.refs >= 8 and node.refs & (node.refs - 1) == 0:
            for clause_id in list(node.anchored):
                clause = self._clauses[clause_id]
                best = self._best_anchor(clause)
                if self._nodes[best].refs < node.refs:
                    node.anchored.discard(clause_id)
                    clause.anchor = best
                    self._nodes[best].anchored.add(clause_id)

    def _best_anchor(self, clause: _Clause) -> int:
        return min(clause.required, key=lambda node: self._nodes[node].refs)

    def _anchor(self, clause: _Clause) -> None:
        if not clause.required:
            self._unanchored[clause.id] = clause
            return
        clause.anchor = self._best_anchor(clause)
        self._nodes[clause.anchor].anchored.add(clause.id)

    def _drop_clause(self, clause: _Clause) -> None:
        del self._clauses[clause.id]
        if clause.anchor < 0:
            del self._unanchored[clause.id]
        else:
            self._nodes[clause.anchor].anchored.discard(clause.id)
        for node_id, path_id, _ in clause.conditions:
            if node_id >= 0:
                node = self._nodes[node_id]
                node.refs -= 1
                if not node.refs:
                    del self._nodes[node_id]
                    del self._node_ids[(path_id, node.matchers)]
                    index = self._indexes[path_id]
                    for matcher in node.matchers:
                        index.discard(matcher, node_id)
            self._path_refs[path_id] -= 1
            if not self._path_refs[path_id]:
                del self._path_refs[path_id]
                del self._indexes[path_id]
                del self._paths[self._path_of.pop(path_id)]
                self._trie = None  # rebuilt on the next match
