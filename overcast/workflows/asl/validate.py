"""Static validation of a state machine definition: every problem, each with its path.

``validate_definition`` walks the definition once (nested Parallel branches and Map processors
too) and returns messages like ``States.Route.Choices[1].Next: no state named "Shipp"``. It
follows what Step Functions rejects at CreateStateMachine time, including unreachable states and
fields of the wrong query language. Before changing: the interpreter trusts what is checked here
(types of Retry fields, the presence of Next/End, Resource, ...) and does not check it again.
"""

from __future__ import annotations

from typing import Any

from overcast.errors import InvalidDefinition

from .checks import MAX_INT, MAX_NAME, StateChecks, is_int

__all__ = ["assert_valid", "validate_definition"]

_TOP_FIELDS = {"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}
_COMMON = {"Type", "Comment", "QueryLanguage"}
_FIELDS: dict[str, set[str]] = {
    "Task": {
        "Next",
        "End",
        "Resource",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "InputPath",
        "OutputPath",
        "Retry",
        "Catch",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Credentials",
        "Arguments",
        "Output",
        "Assign",
    },
    "Pass": {
        "Next",
        "End",
        "InputPath",
        "OutputPath",
        "ResultPath",
        "Parameters",
        "Result",
        "Output",
        "Assign",
    },
    "Choice": {"Choices", "Default", "InputPath", "OutputPath", "Output", "Assign"},
    "Wait": {
        "Next",
        "End",
        "InputPath",
        "OutputPath",
        "Seconds",
        "SecondsPath",
        "Timestamp",
        "TimestampPath",
        "Output",
        "Assign",
    },
    "Succeed": {"InputPath", "OutputPath", "Output"},
    "Fail": {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": {
        "Next",
        "End",
        "Branches",
        "InputPath",
        "OutputPath",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Retry",
        "Catch",
        "Arguments",
        "Output",
        "Assign",
    },
    "Map": {
        "Next",
        "End",
        "InputPath",
        "OutputPath",
        "ItemsPath",
        "Items",
        "ItemSelector",
        "Parameters",
        "ItemProcessor",
        "Iterator",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
        "ResultSelector",
        "ResultPath",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailureCount",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath",
        "Label",
        "Retry",
        "Catch",
        "Output",
        "Assign",
    },
}
_JSONPATH_ONLY = {
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "ItemsPath",
    "Result",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "ErrorPath",
    "CausePath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
}
_JSONATA_ONLY = {"Arguments", "Output", "Items"}
_TERMINAL = {"Choice", "Succeed", "Fail"}


def validate_definition(definition: Any) -> list[str]:
    """Every problem of ``definition``, each prefixed with where it is; empty when valid."""
    checker = _Checker(definition)
    checker.run()
    return checker.problems


def assert_valid(definition: Any) -> None:
    """Raise ``overcast.errors.InvalidDefinition(problems=[...])`` when the definition has problems."""
    problems = validate_definition(definition)
    if problems:
        raise InvalidDefinition(problems=problems)


class _Checker(StateChecks):
    def __init__(self, definition: Any) -> None:
        self.definition = definition
        self.problems: list[str] = []
        self.top_language = "JSONPath"

    def run(self) -> None:
        d = self.definition
        if not isinstance(d, dict):
            self.add("", "a state machine definition must be a JSON object")
            return
        for key in d:
            if key not in _TOP_FIELDS:
                self.add(key, "unknown top-level field")
        language = d.get("QueryLanguage", "JSONPath")
        if language not in ("JSONPath", "JSONata"):
            self.add("QueryLanguage", f'must be "JSONPath" or "JSONata", not {language!r}')
            language = "JSONPath"
        self.top_language = language
        if "TimeoutSeconds" in d and not (
            is_int(d["TimeoutSeconds"]) and 0 < d["TimeoutSeconds"] <= MAX_INT
        ):
            self.add("TimeoutSeconds", "must be a positive integer")
        if "Version" in d and not isinstance(d["Version"], str):
            self.add("Version", "must be a string")
        if "Comment" in d and not isinstance(d["Comment"], str):
            self.add("Comment", "must be a string")
        self.machine(d, "")

    # -- machines -------------------------------------------------------------------------------

    def machine(self, m: Any, prefix: str) -> None:
        where = prefix.rstrip(".")
        if not isinstance(m, dict):
            self.add(where, "must be an object with StartAt and States")
            return
        states = m.get("States")
        if "States" not in m:
            self.add(
                where or "States",
                "missing required field States" if where else "missing required field",
            )
        elif not isinstance(states, dict) or not states:
            self.add(prefix + "States", "must be a non-empty object of states")
            states = None
        start = m.get("StartAt")
        if "StartAt" not in m:
            self.add(prefix + "StartAt", "missing required field")
        elif not isinstance(start, str):
            self.add(prefix + "StartAt", "must be a string")
        elif states is not None and start not in states:
            self.add(prefix + "StartAt", f'no state named "{start}"')
        if prefix:
            for key in m:
                if key not in ("StartAt", "States", "Comment", "ProcessorConfig"):
                    self.add(prefix + key, "unknown field")
        if not isinstance(states, dict):
            return
        for name, state in states.items():
            path = f"{prefix}States.{name}"
            if len(name) > MAX_NAME:
                self.add(path, f"state names are at most {MAX_NAME} characters")
            # The ASL spec wants names unique in the whole machine, but the conformance vectors
            # (map_nested) reuse a name inside a nested Map processor, so only each scope's own
            # names must differ (which a JSON object guarantees).
            self.state(name, state, path, states)
        if isinstance(start, str) and start in states:
            self.reachability(start, states, prefix)

    def reachability(self, start: str, states: dict[str, Any], prefix: str) -> None:
        seen = {start}
        todo = [start]
        while todo:
            state = states.get(todo.pop())
            if not isinstance(state, dict):
                continue
            targets = [state.get("Next"), state.get("Default")]
            for key in ("Choices", "Catch"):
                items = state.get(key)
                if isinstance(items, list):
                    targets += [r.get("Next") for r in items if isinstance(r, dict)]
            for target in targets:
                if isinstance(target, str) and target in states and target not in seen:
                    seen.add(target)
                    todo.append(target)
        for name in states:
            if name not in seen:
                self.add(f"{prefix}States.{name}", f'state "{name}" is not reachable from StartAt')

    # -- one state --------------------------------------------------------------------------------

    def state(self, name: str, s: Any, path: str, states: dict[str, Any]) -> None:
        if not isinstance(s, dict):
            self.add(path, "a state must be a JSON object")
            return
        type_ = s.get("Type")
        if "Type" not in s:
            self.add(path + ".Type", "missing required field")
            return
        if type_ not in _FIELDS:
            self.add(path + ".Type", f"unknown state type {type_!r}")
            return
        language = s.get("QueryLanguage", self.top_language)
        if language not in ("JSONPath", "JSONata"):
            self.add(path + ".QueryLanguage", f'must be "JSONPath" or "JSONata", not {language!r}')
            language = self.top_language
        elif self.top_language == "JSONata" and language == "JSONPath":
            self.add(
                path + ".QueryLanguage",
                "a state cannot use JSONPath when the machine's QueryLanguage is JSONata",
            )
        jsonata_state = language == "JSONata"
        for key in s:
            if key not in _FIELDS[type_] and key not in _COMMON:
                self.add(f"{path}.{key}", f"field not allowed in a {type_} state")
            elif jsonata_state and key in _JSONPATH_ONLY:
                self.add(
                    f"{path}.{key}",
                    "JSONPath field not allowed in a JSONata state (use Arguments/Output)",
                )
            elif not jsonata_state and key in _JSONATA_ONLY:
                self.add(
                    f"{path}.{key}",
                    "JSONata field not allowed in a JSONPath state (set QueryLanguage to JSONata)",
                )
        if "Comment" in s and not isinstance(s["Comment"], str):
            self.add(path + ".Comment", "must be a string")
        self.transitions(type_, s, path, states)
        for field in ("InputPath", "OutputPath", "ItemsPath"):
            if field in s and s[field] is not None:
                self.path_field(s[field], f"{path}.{field}", field == "ItemsPath")
        if "ResultPath" in s and s["ResultPath"] is not None:
            self.reference_path(s["ResultPath"], path + ".ResultPath")
        for field in ("Parameters", "ResultSelector", "ItemSelector"):
            if field in s:
                if jsonata_state:
                    self.jsonata_value(s[field], f"{path}.{field}")
                else:
                    self.template(s[field], f"{path}.{field}")
        for field in ("Arguments", "Output", "Items"):
            if field in s and jsonata_state:
                self.jsonata_value(s[field], f"{path}.{field}")
        if "Assign" in s:
            self.assign(s["Assign"], path + ".Assign", jsonata_state)
        getattr(self, f"check_{type_.lower()}")(s, path, states, jsonata_state)
        if type_ in ("Task", "Parallel", "Map"):
            self.retry(s.get("Retry"), path + ".Retry")
            self.catch(s.get("Catch"), path + ".Catch", states, jsonata_state)

    def transitions(self, type_: str, s: dict[str, Any], path: str, states: dict[str, Any]) -> None:
        if type_ in _TERMINAL:
            for key in ("Next", "End"):
                if key in s:
                    self.add(f"{path}.{key}", f"a {type_} state cannot have {key}")
            return
        has_next, end = "Next" in s, s.get("End")
        if "End" in s and not isinstance(end, bool):
            self.add(path + ".End", "must be a boolean")
        if has_next and end is True:
            self.add(path, "a state cannot have both Next and End")
        elif not has_next and end is not True:
            self.add(path, 'a non-terminal state needs Next or "End": true')
        if has_next:
            self.target(s["Next"], path + ".Next", states)
