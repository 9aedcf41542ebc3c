"""The JSONata adapter: ``{% expr %}`` strings, ``$states``, variables and the Step Functions
functions (``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid``, ``$parse``).

Built on ``jsonata-python``. Before changing: the library's compiled expressions keep per-call
state, so they are cached per thread; results come back with the library's own list and null
types and are normalised to plain JSON here; ``$now()`` and ``$millis()`` are rebound to the
interpreter's clock so that evaluation stays a pure function of its arguments.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import QUERY_EVALUATION_ERROR, StatesError
from .intrinsics import SeededRandom

__all__ = ["JsonataError", "check_syntax", "evaluate", "expression_of", "is_expression"]


class JsonataError(ValueError):
    """A JSONata expression that does not compile (a definition problem)."""


def _library() -> Any:
    try:
        import jsonata  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "JSONata states need the 'jsonata-python' package: pip install 'jsonata-python>=0.7'"
        ) from exc
    return jsonata


def is_expression(value: Any) -> bool:
    """Whether ``value`` is a JSONata string: it starts with ``{%`` and ends with ``%}``."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def expression_of(value: str) -> str:
    """The expression inside ``{% ... %}``."""
    return value[2:-2].strip()


_local = threading.local()


def _compiled(expression: str) -> Any:
    cache: dict[str, Any] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    expr = cache.get(expression)
    if expr is None:
        jsonata = _library()
        try:
            expr = jsonata.Jsonata(expression)
        except Exception as exc:
            raise JsonataError(f"JSONata syntax error in {expression!r}: {exc}") from None
        expr.set_output_convert_nulls(False)
        if len(cache) > 4096:
            cache.clear()
        cache[expression] = expr
    return expr


def check_syntax(value: str) -> None:
    """Raise :class:`JsonataError` when the expression in ``{% ... %}`` does not compile."""
    expression = expression_of(value)
    if not expression:
        raise JsonataError("empty JSONata expression")
    _compiled(expression)


def evaluate(
    value: str,
    *,
    states: Mapping[str, Any],
    variables: Mapping[str, Any],
    now: float,
    rng: SeededRandom,
    field: str,
) -> Any:
    """Evaluate one ``{% ... %}`` string with ``$states`` and the visible variables bound.

    Returns plain JSON values. A runtime error, or an expression that returns nothing
    (undefined), raises ``States.QueryEvaluationError`` naming ``field``.
    """
    expression = expression_of(value)
    try:
        expr = _compiled(expression)
    except JsonataError as exc:
        raise StatesError(QUERY_EVALUATION_ERROR, str(exc)) from None
    jsonata = _library()
    bindings: dict[str, Any] = dict(variables)
    bindings["states"] = states
    bindings.update(_functions(jsonata, now, rng))
    try:
        result = expr.evaluate(None, bindings)
    except StatesError:
        raise
    except Exception as exc:
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"An error occurred while evaluating the JSONata expression {expression!r} "
            f"specified for the field '{field}': {exc}",
        ) from None
    if result is None:
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"The JSONata expression {expression!r} specified for the field '{field}' "
            "returned nothing (undefined).",
        )
    return _plain(result, jsonata.Jsonata, jsonata.utils.Utils.NULL_VALUE)


def _plain(value: Any, jsonata_cls: Any, null: Any) -> Any:
    if value is null or value is None:
        return None
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return [_plain(v, jsonata_cls, null) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, jsonata_cls, null) for k, v in value.items()}
    # A function or another library object cannot leave the expression as JSON.
    raise StatesError(QUERY_EVALUATION_ERROR, f"JSONata returned a non-JSON value: {value!r}")


def _iso(now: float) -> str:
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _functions(jsonata: Any, now: float, rng: SeededRandom) -> dict[str, Any]:
    lam = jsonata.Jsonata.JLambda

    def partition(array: Any, size: Any) -> Any:
        if (
            not isinstance(array, list)
            or isinstance(size, bool)
            or not isinstance(size, int | float)
        ):
            raise ValueError("$partition(array, size) needs an array and a number")
        n = int(size)
        if n <= 0:
            raise ValueError("$partition: size must be positive")
        return [list(array[i : i + n]) for i in range(0, len(array), n)]

    def range_(start: Any, end: Any, step: Any = 1) -> Any:
        s, e, k = int(start), int(end), int(step)
        if k == 0:
            raise ValueError("$range: step must not be 0")
        out = list(range(s, e + (1 if k > 0 else -1), k))
        if len(out) > 1000:
            raise ValueError("$range: at most 1000 items")
        return out

    def hash_(data: Any, algorithm: Any) -> Any:
        names = {
            "MD5": "md5",
            "SHA-1": "sha1",
            "SHA-256": "sha256",
            "SHA-384": "sha384",
            "SHA-512": "sha512",
        }
        if algorithm not in names:
            raise ValueError(f"$hash: unknown algorithm {algorithm!r}")
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        return hashlib.new(names[algorithm], text.encode()).hexdigest()

    def random_(seed: Any = None) -> Any:
        return (random.Random(seed) if seed is not None else rng.get()).random()

    def uuid_() -> Any:
        return str(uuid.UUID(int=rng.get().getrandbits(128), version=4))

    def parse(text: Any) -> Any:
        if not isinstance(text, str):
            raise ValueError("$parse needs a string")
        return json.loads(text)

    def forbidden(*args: Any) -> Any:
        raise ValueError("$eval is not available in Step Functions; use $parse")

    return {
        "partition": lam(partition),
        "range": lam(range_),
        "hash": lam(hash_),
        "random": lam(random_),
        "uuid": lam(uuid_),
        "parse": lam(parse),
        "eval": lam(forbidden),
        "now": lam(lambda *a: _iso(now)),
        "millis": lam(lambda: int(now * 1000)),
    }
