"""How data moves through one state, in both query languages.

JSONPath: InputPath -> Parameters -> (the work) -> ResultSelector -> ResultPath -> OutputPath,
with ``.$`` fields, intrinsics and ``Assign``. JSONata: ``Arguments`` -> (the work) -> ``Output``
and ``Assign``, with ``$states.input/result/errorOutput/context``. Before changing: ResultPath
merges into the state's *raw* input (not the InputPath-filtered one), and ``Assign`` always sees
the variable values from before the state — the interpreter commits assignments afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import jsonata
from .errors import RESULT_PATH_MATCH_FAILURE, RUNTIME, StatesError
from .intrinsics import Scope, SeededRandom, evaluate_dynamic, read_path
from .paths import PathMissing, set_path, to_json

__all__ = [
    "JSONATA",
    "JSONPATH",
    "Env",
    "assignments",
    "catch_output",
    "effective_input",
    "input_path",
    "plain_output",
    "resolve_jsonata",
    "resolve_template",
    "result_output",
]

JSONPATH = "JSONPath"
JSONATA = "JSONata"


@dataclass
class Env:
    """What the evaluation of one state can see: language, context object, variables, clock."""

    query_language: str
    context: dict[str, Any]
    variables: Mapping[str, Any]
    now: float
    rng: SeededRandom

    @property
    def jsonata(self) -> bool:
        return self.query_language == JSONATA

    def scope(self, document: Any) -> Scope:
        """A JSONPath scope whose ``$`` is ``document``."""
        return Scope(document, self.context, self.variables, self.rng)

    def states(self, raw: Any, **extra: Any) -> dict[str, Any]:
        """The ``$states`` binding of a JSONata expression."""
        bound = {"input": raw, "context": self.context}
        bound.update(extra)
        return bound


# -- templates -----------------------------------------------------------------------------------


def resolve_template(template: Any, document: Any, env: Env, field: str) -> Any:
    """Evaluate a JSONPath payload template (Parameters, ResultSelector, ItemSelector, Assign).

    Keys ending in ``.$`` lose the suffix and take the value of their path or intrinsic; other
    values are literal; nested objects and arrays are processed however deep.
    """
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        scope: Scope | None = None
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                if scope is None:
                    scope = env.scope(document)
                out[key[:-2]] = evaluate_dynamic(value, scope, f"{field}.{key}" if field else key)
            else:
                out[key] = resolve_template(value, document, env, f"{field}.{key}")
        return out
    if isinstance(template, list):
        return [
            resolve_template(item, document, env, f"{field}[{i}]")
            for i, item in enumerate(template)
        ]
    return template


def resolve_jsonata(template: Any, states: Mapping[str, Any], env: Env, field: str) -> Any:
    """Evaluate a JSONata field: a ``{% %}`` string, or a value with ``{% %}`` strings inside."""
    if isinstance(template, str):
        if jsonata.is_expression(template):
            return jsonata.evaluate(
                template,
                states=states,
                variables=env.variables,
                now=env.now,
                rng=env.rng,
                field=field,
            )
        return template
    if isinstance(template, dict):
        return {k: resolve_jsonata(v, states, env, f"{field}.{k}") for k, v in template.items()}
    if isinstance(template, list):
        return [resolve_jsonata(v, states, env, f"{field}[{i}]") for i, v in enumerate(template)]
    return template


# -- the JSONPath steps ----------------------------------------------------------------------------


def input_path(state: Mapping[str, Any], raw: Any, env: Env) -> Any:
    """The state's raw input filtered by its InputPath (null: ``{}``; absent: unchanged)."""
    if "InputPath" not in state:
        return raw
    path = state["InputPath"]
    if path is None:
        return {}
    return read_path(path, env.scope(raw), "InputPath")


def _output_path(state: Mapping[str, Any], value: Any, env: Env) -> Any:
    if "OutputPath" not in state:
        return value
    path = state["OutputPath"]
    if path is None:
        return {}
    return read_path(path, env.scope(value), "OutputPath")


def _result_path(path_present: bool, path: Any, raw: Any, result: Any) -> Any:
    if not path_present:
        return result
    if path is None:
        return raw
    try:
        return set_path(raw, path, result)
    except PathMissing:
        raise StatesError(
            RESULT_PATH_MATCH_FAILURE,
            f'Unable to apply step "{path}" to input {to_json(raw)}',
        ) from None


def effective_input(
    state: Mapping[str, Any], raw: Any, env: Env, *, parameters: bool = True
) -> Any:
    """The input a Task resource, Parallel branches or a Pass state work on.

    JSONPath: InputPath then (when ``parameters``) Parameters. JSONata: Arguments, or the raw
    input when there are none.
    """
    if env.jsonata:
        if "Arguments" in state:
            return resolve_jsonata(state["Arguments"], env.states(raw), env, "Arguments")
        return raw
    value = input_path(state, raw, env)
    if parameters and "Parameters" in state:
        value = resolve_template(state["Parameters"], value, env, "Parameters")
    return value


def assignments(
    assign: Any, document: Any, env: Env, states: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Evaluate an ``Assign`` block; JSONPath reads ``$`` as ``document``, JSONata ``$states``."""
    if not isinstance(assign, dict):
        raise StatesError(RUNTIME, "Assign must be a JSON object")
    if env.jsonata:
        values = resolve_jsonata(assign, states or env.states(document), env, "Assign")
    else:
        values = resolve_template(assign, document, env, "Assign")
    assert isinstance(values, dict)
    return values


def result_output(
    state: Mapping[str, Any], raw: Any, result: Any, env: Env
) -> tuple[Any, dict[str, Any] | None]:
    """The output and the assignments of a Task, Parallel or Map state that produced ``result``."""
    if env.jsonata:
        states = env.states(raw, result=result)
        assigned = assignments(state["Assign"], raw, env, states) if "Assign" in state else None
        if "Output" in state:
            return resolve_jsonata(state["Output"], states, env, "Output"), assigned
        return result, assigned
    if "ResultSelector" in state:
        result = resolve_template(state["ResultSelector"], result, env, "ResultSelector")
    assigned = assignments(state["Assign"], result, env) if "Assign" in state else None
    merged = _result_path("ResultPath" in state, state.get("ResultPath"), raw, result)
    return _output_path(state, merged, env), assigned


def pass_output(state: Mapping[str, Any], raw: Any, env: Env) -> tuple[Any, dict[str, Any] | None]:
    """The output and the assignments of a Pass state."""
    if env.jsonata:
        states = env.states(raw)
        assigned = assignments(state["Assign"], raw, env, states) if "Assign" in state else None
        if "Output" in state:
            return resolve_jsonata(state["Output"], states, env, "Output"), assigned
        return raw, assigned
    result = state["Result"] if "Result" in state else effective_input(state, raw, env)
    assigned = assignments(state["Assign"], result, env) if "Assign" in state else None
    merged = _result_path("ResultPath" in state, state.get("ResultPath"), raw, result)
    return _output_path(state, merged, env), assigned


def plain_output(
    state: Mapping[str, Any], raw: Any, env: Env, extra_assign: Any = None
) -> tuple[Any, dict[str, Any] | None]:
    """The output and the assignments of a Choice, Wait or Succeed state.

    ``extra_assign`` is the ``Assign`` of the Choice rule that matched, applied over the state's.
    """
    blocks = [b for b in (state.get("Assign"), extra_assign) if b is not None]
    if env.jsonata:
        states = env.states(raw)
        assigned = _merge([assignments(b, raw, env, states) for b in blocks])
        if "Output" in state:
            return resolve_jsonata(state["Output"], states, env, "Output"), assigned
        return raw, assigned
    value = input_path(state, raw, env)
    assigned = _merge([assignments(b, value, env) for b in blocks])
    return _output_path(state, value, env), assigned


def catch_output(
    catcher: Mapping[str, Any], raw: Any, error_output: dict[str, Any], env: Env
) -> tuple[Any, dict[str, Any] | None]:
    """The output and the assignments of a state whose error ``catcher`` caught."""
    if env.jsonata:
        states = env.states(raw, errorOutput=error_output)
        assigned = assignments(catcher["Assign"], raw, env, states) if "Assign" in catcher else None
        if "Output" in catcher:
            return resolve_jsonata(catcher["Output"], states, env, "Catch.Output"), assigned
        return error_output, assigned
    assigned = assignments(catcher["Assign"], error_output, env) if "Assign" in catcher else None
    output = _result_path("ResultPath" in catcher, catcher.get("ResultPath"), raw, error_output)
    return output, assigned


def _merge(blocks: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not blocks:
        return None
    out: dict[str, Any] = {}
    for block in blocks:
        out.update(block)
    return out


def read_value(state: Mapping[str, Any], name: str, raw: Any, env: Env) -> Any:
    """A field that may be given as a literal, a ``NamePath`` (JSONPath) or an expression.

    Used for TimeoutSeconds, HeartbeatSeconds, MaxConcurrency, ToleratedFailureCount, Seconds,
    Timestamp, ... Returns None when the state has neither form.
    """
    if env.jsonata:
        if name not in state:
            return None
        return resolve_jsonata(state[name], env.states(raw), env, name)
    if name + "Path" in state:
        return evaluate_dynamic(state[name + "Path"], env.scope(raw), name + "Path")
    return state.get(name)
