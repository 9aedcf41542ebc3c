"""EventBridge event patterns: ``validate_pattern`` and the reference matcher ``matches``.

The one thing to know before changing it: ``matches`` is the reference the compiled
``RuleSet`` is tested against (tests/unit/test_ruleset_property.py); both decide through
``_core.decide``, so semantic changes belong in ``_core``, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from overcast.matching._compile import EVENTBRIDGE, compile_pattern
from overcast.matching._core import evaluate

Pattern = Mapping[str, Any] | str
"""An event pattern as a mapping, or as its JSON text (as the AWS APIs take it)."""


def validate_pattern(pattern: Pattern, *, max_size: int | None = None) -> None:
    """Raise ``InvalidPattern`` for every event pattern EventBridge would reject.

    The message starts with the offending path, e.g. ``detail.price.numeric[1]: must be a
    number, got string "5"``. Beyond the grammar (leaf values in arrays, one operator per match
    expression, numeric ranges as ``[">", low, "<", high]`` within +-5e9, all-string or
    all-number ``anything-but`` lists, well-formed CIDRs and wildcard escapes, ``$or`` with two
    or more objects) it enforces the pattern size (``max_size`` characters, default 2048, the
    default EventBridge quota; JSON text is measured as given, a mapping in compact form) and
    event-ruler's wildcard complexity limit.
    """
    compile_pattern(pattern, EVENTBRIDGE, check=True, max_size=max_size)


def matches(pattern: Pattern, event: Any) -> bool:
    """Whether ``event`` matches the EventBridge event ``pattern``.

    Fields are AND-ed, the values listed for a field OR-ed; an array in the event matches when
    any element does (nested arrays are flattened), and fields matched inside an array of
    objects must come from the same element. Types are strict: ``true`` never equals ``1`` or
    ``"true"``, numbers compare numerically (``300`` equals ``3.0e2``), and prefix, suffix,
    wildcard, equals-ignore-case and cidr only match strings. ``exists`` concerns leaf values
    (an object is not one; ``null`` is).

    Assumes a valid pattern (see ``validate_pattern``; grammar errors still raise
    ``InvalidPattern``) and never fails on the event's shape. It compiles the pattern on every
    call: to match many patterns, use ``RuleSet``.
    """
    return evaluate(compile_pattern(pattern, EVENTBRIDGE, check=False), event)
