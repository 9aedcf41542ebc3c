"""The field-level checks of validation: values, paths, templates, each state type, Retry, Catch.

``StateChecks`` is the base of the validator in ``validate.py``, which walks machines and states
and calls these. Before changing: every message is added with the full path of the field it is
about, and a check never stops the walk — ``validate_definition`` promises every problem at once.
"""

from __future__ import annotations

import re
from typing import Any

from . import jsonata
from .choice import COMPARISONS, TYPE_TESTS, parse_timestamp
from .errors import ALL, KNOWN_STATES_ERRORS
from .intrinsics import IntrinsicError, parse_intrinsic
from .paths import PathError, compile_path, is_reference_path

__all__ = ["StateChecks"]

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 80
MAX_INT = 99_999_999
_RETRIER_FIELDS = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
}
_CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Output", "Assign", "Comment"}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class StateChecks:
    """Checks of single fields and of each state type; problems go to ``self.problems``."""

    problems: list[str]

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def machine(self, m: Any, prefix: str) -> None:
        raise NotImplementedError  # the validator walks nested machines

    def target(self, value: Any, path: str, states: dict[str, Any]) -> None:
        if not isinstance(value, str):
            self.add(path, "must be a state name (string)")
        elif value not in states:
            self.add(path, f'no state named "{value}"')

    # -- value checks -----------------------------------------------------------------------------

    def path_field(self, value: Any, path: str, reference: bool = False) -> None:
        if not isinstance(value, str):
            self.add(path, "must be a path string or null")
            return
        try:
            compiled = compile_path(value)
        except PathError as exc:
            self.add(path, str(exc))
            return
        if reference and not compiled.definite:
            self.add(path, f"{value!r} must be a reference path (no wildcards, filters or slices)")

    def reference_path(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(path, "must be a reference path string or null")
        elif not value.startswith("$") or value.startswith("$$") or not is_reference_path(value):
            self.add(path, f"{value!r} is not a valid reference path")
        elif compile_path(value).root != "input":
            self.add(path, f"{value!r} must start with '$.' (the state input)")

    def dynamic(self, value: Any, path: str) -> None:
        """A ``.$`` value: a path, a context path, a variable or an intrinsic function."""
        if not isinstance(value, str):
            self.add(path, "the value of a field ending in '.$' must be a string")
        elif value.startswith("States."):
            try:
                parse_intrinsic(value)
            except IntrinsicError as exc:
                self.add(path, f"invalid intrinsic function: {exc}")
        elif value.startswith("$"):
            try:
                compile_path(value)
            except PathError as exc:
                self.add(path, str(exc))
        else:
            self.add(path, f"{value!r} is neither a path nor an intrinsic function")

    def template(self, value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key.endswith(".$"):
                    self.dynamic(item, f"{path}.{key}")
                else:
                    self.template(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.template(item, f"{path}[{i}]")

    def jsonata_value(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            if jsonata.is_expression(value):
                try:
                    jsonata.check_syntax(value)
                except jsonata.JsonataError as exc:
                    self.add(path, str(exc))
            elif value.lstrip().startswith("{%"):
                self.add(path, "a JSONata expression must end with '%}'")
        elif isinstance(value, dict):
            for key, item in value.items():
                self.jsonata_value(item, f"{path}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.jsonata_value(item, f"{path}[{i}]")

    def assign(self, value: Any, path: str, jsonata_state: bool) -> None:
        if not isinstance(value, dict):
            self.add(path, "must be a JSON object of variable names to values")
            return
        for key, item in value.items():
            name = key[:-2] if key.endswith(".$") and not jsonata_state else key
            if not _VARIABLE.match(name) or len(name) > MAX_NAME:
                self.add(
                    f"{path}.{key}",
                    f"invalid variable name {name!r} (letters, digits and _, not starting with a digit)",
                )
            elif name == "states":
                self.add(f"{path}.{key}", "'states' is reserved (it is $states in JSONata)")
            if jsonata_state:
                self.jsonata_value(item, f"{path}.{key}")
            elif key.endswith(".$"):
                self.dynamic(item, f"{path}.{key}")
            else:
                self.template(item, f"{path}.{key}")

    def seconds(self, s: dict[str, Any], name: str, path: str, jsonata_state: bool) -> Any:
        value: Any = s.get(name)
        literal = name in s and not (jsonata_state and jsonata.is_expression(value))
        if literal and not (is_int(value) and 0 < value <= MAX_INT):
            self.add(f"{path}.{name}", "must be a positive integer")
        if name in s and name + "Path" in s:
            self.add(path, f"{name} and {name}Path are mutually exclusive")
        if name + "Path" in s:
            self.dynamic(s[name + "Path"], f"{path}.{name}Path")
        if jsonata_state and jsonata.is_expression(value):
            self.jsonata_value(value, f"{path}.{name}")
        return value

    # -- per state type ------------------------------------------------------------------------------

    def check_task(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        if "Resource" not in s:
            self.add(path + ".Resource", "missing required field")
        elif not isinstance(s["Resource"], str) or not s["Resource"]:
            self.add(path + ".Resource", "must be a non-empty string")
        timeout = self.seconds(s, "TimeoutSeconds", path, jsonata_state)
        heartbeat = self.seconds(s, "HeartbeatSeconds", path, jsonata_state)
        if is_int(timeout) and is_int(heartbeat) and heartbeat >= timeout:
            self.add(path + ".HeartbeatSeconds", "must be smaller than TimeoutSeconds")

    def check_pass(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        return None

    def check_succeed(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        return None

    def check_fail(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        for name in ("Error", "Cause"):
            if name in s and name + "Path" in s:
                self.add(path, f"{name} and {name}Path are mutually exclusive")
            if name in s and not isinstance(s[name], str):
                self.add(f"{path}.{name}", "must be a string")
            if name in s and jsonata_state:
                self.jsonata_value(s[name], f"{path}.{name}")
            if name + "Path" in s:
                self.dynamic(s[name + "Path"], f"{path}.{name}Path")

    def check_wait(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in s]
        if len(given) != 1:
            self.add(
                path,
                "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath"
                + (f" (has {', '.join(given)})" if given else ""),
            )
        if "Seconds" in s:
            value = s["Seconds"]
            if jsonata_state and jsonata.is_expression(value):
                self.jsonata_value(value, path + ".Seconds")
            elif not (is_int(value) and 0 <= value <= MAX_INT):
                self.add(path + ".Seconds", "must be a non-negative integer")
        if "Timestamp" in s:
            value = s["Timestamp"]
            if jsonata_state and jsonata.is_expression(value):
                self.jsonata_value(value, path + ".Timestamp")
            elif parse_timestamp(value) is None:
                self.add(
                    path + ".Timestamp",
                    f"{value!r} is not an RFC 3339 timestamp such as 2026-01-01T00:00:00Z",
                )
        for key in ("SecondsPath", "TimestampPath"):
            if key in s:
                self.path_field(s[key], f"{path}.{key}", reference=True)

    def check_choice(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        choices = s.get("Choices")
        if "Choices" not in s:
            self.add(path + ".Choices", "missing required field")
        elif not isinstance(choices, list) or not choices:
            self.add(path + ".Choices", "must be a non-empty array of choice rules")
        else:
            for i, rule in enumerate(choices):
                rpath = f"{path}.Choices[{i}]"
                if not isinstance(rule, dict):
                    self.add(rpath, "a choice rule must be an object")
                    continue
                if "Next" not in rule:
                    self.add(rpath + ".Next", "missing required field")
                else:
                    self.target(rule["Next"], rpath + ".Next", states)
                if "Assign" in rule:
                    self.assign(rule["Assign"], rpath + ".Assign", jsonata_state)
                if jsonata_state:
                    self.jsonata_rule(rule, rpath)
                else:
                    self.rule(rule, rpath, top=True)
        if "Default" in s:
            self.target(s["Default"], path + ".Default", states)

    def jsonata_rule(self, rule: dict[str, Any], path: str) -> None:
        for key in rule:
            if key not in ("Condition", "Next", "Assign", "Output", "Comment"):
                self.add(
                    f"{path}.{key}", "field not allowed in a JSONata choice rule (use Condition)"
                )
        if "Condition" not in rule:
            self.add(path + ".Condition", "missing required field")
        else:
            cond = rule["Condition"]
            if isinstance(cond, bool):
                return
            if not jsonata.is_expression(cond):
                self.add(path + ".Condition", "must be a JSONata expression {% ... %} or a boolean")
            else:
                self.jsonata_value(cond, path + ".Condition")
        if "Output" in rule:
            self.jsonata_value(rule["Output"], path + ".Output")

    def rule(self, rule: Any, path: str, top: bool = False) -> None:
        if not isinstance(rule, dict):
            self.add(path, "a choice rule must be an object")
            return
        if not top and "Next" in rule:
            self.add(path + ".Next", "only top-level choice rules can have Next")
        if "Condition" in rule:
            self.add(path + ".Condition", "JSONata field not allowed in a JSONPath choice rule")
        operators = [
            k for k in rule if k in COMPARISONS or k in TYPE_TESTS or k in ("And", "Or", "Not")
        ]
        unknown = [
            k
            for k in rule
            if k not in operators and k not in ("Variable", "Next", "Comment", "Assign")
        ]
        for key in unknown:
            self.add(f"{path}.{key}", f"unknown comparison operator {key!r}")
        if len(operators) != 1:
            if not unknown:
                self.add(
                    path,
                    "a choice rule needs exactly one comparison operator, And, Or or Not"
                    + (f" (has {', '.join(operators)})" if operators else ""),
                )
            return
        op = operators[0]
        value = rule[op]
        if op in ("And", "Or"):
            if not isinstance(value, list) or not value:
                self.add(f"{path}.{op}", "must be a non-empty array of choice rules")
            else:
                for i, sub in enumerate(value):
                    self.rule(sub, f"{path}.{op}[{i}]")
            return
        if op == "Not":
            if isinstance(value, dict):
                self.rule(value, path + ".Not")
            else:
                self.add(path + ".Not", "must be a single choice rule (an object)")
            return
        if "Variable" not in rule:
            self.add(path + ".Variable", "missing required field")
        else:
            self.path_field(rule["Variable"], path + ".Variable")
        if op in TYPE_TESTS:
            if not isinstance(value, bool):
                self.add(f"{path}.{op}", "must be true or false")
            return
        kind = COMPARISONS[op][0]
        if op.endswith("Path"):
            self.path_field(value, f"{path}.{op}")
            return
        ok = {
            "string": isinstance(value, str),
            "number": is_number(value),
            "boolean": isinstance(value, bool),
            "timestamp": parse_timestamp(value) is not None,
        }[kind]
        if not ok:
            self.add(f"{path}.{op}", f"{op} needs a {kind} value, got {value!r}")

    def check_parallel(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        branches = s.get("Branches")
        if "Branches" not in s:
            self.add(path + ".Branches", "missing required field")
        elif not isinstance(branches, list) or not branches:
            self.add(path + ".Branches", "must be a non-empty array of state machines")
        else:
            for i, branch in enumerate(branches):
                self.machine(branch, f"{path}.Branches[{i}].")

    def check_map(
        self, s: dict[str, Any], path: str, states: dict[str, Any], jsonata_state: bool
    ) -> None:
        has_processor, has_iterator = "ItemProcessor" in s, "Iterator" in s
        if has_processor and has_iterator:
            self.add(path, "ItemProcessor and Iterator are mutually exclusive")
        elif not has_processor and not has_iterator:
            self.add(path + ".ItemProcessor", "missing required field (or the older Iterator)")
        processor = s.get("ItemProcessor", s.get("Iterator"))
        if processor is not None:
            key = "ItemProcessor" if has_processor else "Iterator"
            self.machine(processor, f"{path}.{key}.")
            config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
            if config is not None:
                mode = config.get("Mode") if isinstance(config, dict) else None
                if mode not in (None, "INLINE", "DISTRIBUTED"):
                    self.add(
                        f"{path}.{key}.ProcessorConfig.Mode", 'must be "INLINE" or "DISTRIBUTED"'
                    )
        if "ItemSelector" in s and "Parameters" in s:
            self.add(path, "ItemSelector and Parameters are mutually exclusive")
        for field in ("ItemReader", "ResultWriter"):
            if field in s:
                self.add(
                    f"{path}.{field}",
                    "distributed Map item readers and result writers are not supported",
                )
        for name, low, high in (
            ("MaxConcurrency", 0, MAX_INT),
            ("ToleratedFailureCount", 0, MAX_INT),
            ("ToleratedFailurePercentage", 0, 100),
        ):
            if name in s and name + "Path" in s:
                self.add(path, f"{name} and {name}Path are mutually exclusive")
            value: Any = s.get(name)
            if name in s and not (jsonata_state and jsonata.is_expression(value)):
                number = is_number(value) if name == "ToleratedFailurePercentage" else is_int(value)
                if not number or not low <= value <= high:
                    self.add(f"{path}.{name}", f"must be a number from {low} to {high}")
            if name + "Path" in s:
                self.path_field(s[name + "Path"], f"{path}.{name}Path", reference=True)
            if name in s and jsonata_state:
                self.jsonata_value(value, f"{path}.{name}")
        batcher = s.get("ItemBatcher")
        if batcher is not None:
            if not isinstance(batcher, dict):
                self.add(path + ".ItemBatcher", "must be an object")
            else:
                for key in batcher:
                    if key not in (
                        "MaxItemsPerBatch",
                        "MaxItemsPerBatchPath",
                        "MaxInputBytesPerBatch",
                        "MaxInputBytesPerBatchPath",
                        "BatchInput",
                    ):
                        self.add(f"{path}.ItemBatcher.{key}", "unknown field")
                for key in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
                    literal = key in batcher and not (
                        jsonata_state and jsonata.is_expression(batcher[key])
                    )
                    if literal and not (is_int(batcher[key]) and batcher[key] > 0):
                        self.add(f"{path}.ItemBatcher.{key}", "must be a positive integer")
                if "BatchInput" in batcher:
                    if jsonata_state:
                        self.jsonata_value(batcher["BatchInput"], path + ".ItemBatcher.BatchInput")
                    else:
                        self.template(batcher["BatchInput"], path + ".ItemBatcher.BatchInput")

    # -- Retry and Catch ---------------------------------------------------------------------------

    def error_equals(self, handler: dict[str, Any], path: str, last: bool) -> None:
        names = handler.get("ErrorEquals")
        if "ErrorEquals" not in handler:
            self.add(path + ".ErrorEquals", "missing required field")
            return
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.add(path + ".ErrorEquals", "must be a non-empty array of error names")
            return
        if ALL in names:
            if len(names) > 1:
                self.add(path + ".ErrorEquals", '"States.ALL" must appear alone in ErrorEquals')
            if not last:
                self.add(
                    path + ".ErrorEquals", '"States.ALL" must be in the last retrier or catcher'
                )
        for n in names:
            if n.startswith("States.") and n not in KNOWN_STATES_ERRORS:
                self.add(path + ".ErrorEquals", f"unknown predefined error name {n!r}")

    def retry(self, retriers: Any, path: str) -> None:
        if retriers is None:
            return
        if not isinstance(retriers, list):
            self.add(path, "must be an array of retriers")
            return
        for i, r in enumerate(retriers):
            rpath = f"{path}[{i}]"
            if not isinstance(r, dict):
                self.add(rpath, "a retrier must be an object")
                continue
            for key in r:
                if key not in _RETRIER_FIELDS:
                    self.add(f"{rpath}.{key}", "unknown retrier field")
            self.error_equals(r, rpath, i == len(retriers) - 1)
            if "IntervalSeconds" in r and not (
                is_int(r["IntervalSeconds"]) and 0 < r["IntervalSeconds"] <= MAX_INT
            ):
                self.add(rpath + ".IntervalSeconds", "must be a positive integer")
            if "MaxAttempts" in r and not (
                is_int(r["MaxAttempts"]) and 0 <= r["MaxAttempts"] <= MAX_INT
            ):
                self.add(
                    rpath + ".MaxAttempts", "must be a non-negative integer (0 means never retry)"
                )
            if "BackoffRate" in r and not (is_number(r["BackoffRate"]) and r["BackoffRate"] >= 1.0):
                self.add(rpath + ".BackoffRate", "must be a number greater than or equal to 1.0")
            if "MaxDelaySeconds" in r and not (
                is_int(r["MaxDelaySeconds"]) and 0 < r["MaxDelaySeconds"] < 31_622_401
            ):
                self.add(rpath + ".MaxDelaySeconds", "must be a positive integer below 31622401")
            if "JitterStrategy" in r and r["JitterStrategy"] not in ("FULL", "NONE"):
                self.add(rpath + ".JitterStrategy", 'must be "FULL" or "NONE"')

    def catch(self, catchers: Any, path: str, states: dict[str, Any], jsonata_state: bool) -> None:
        if catchers is None:
            return
        if not isinstance(catchers, list):
            self.add(path, "must be an array of catchers")
            return
        for i, c in enumerate(catchers):
            cpath = f"{path}[{i}]"
            if not isinstance(c, dict):
                self.add(cpath, "a catcher must be an object")
                continue
            for key in c:
                if key not in _CATCHER_FIELDS:
                    self.add(f"{cpath}.{key}", "unknown catcher field")
            self.error_equals(c, cpath, i == len(catchers) - 1)
            if "Next" not in c:
                self.add(cpath + ".Next", "missing required field")
            else:
                self.target(c["Next"], cpath + ".Next", states)
            if "ResultPath" in c:
                if jsonata_state:
                    self.add(
                        cpath + ".ResultPath",
                        "JSONPath field not allowed in a JSONata state (use Output)",
                    )
                elif c["ResultPath"] is not None:
                    self.reference_path(c["ResultPath"], cpath + ".ResultPath")
            if "Output" in c:
                if jsonata_state:
                    self.jsonata_value(c["Output"], cpath + ".Output")
                else:
                    self.add(cpath + ".Output", "JSONata field not allowed in a JSONPath state")
            if "Assign" in c:
                self.assign(c["Assign"], cpath + ".Assign", jsonata_state)
