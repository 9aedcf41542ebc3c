"""What a target receives: the event, a constant ``input``, the part ``input_path`` selects, or
an input transformer's output (``InputPathsMap`` + ``InputTemplate``), as EventBridge builds it.

Pure code. A payload is ``(text, is_json)``: the exact text the target gets and whether it is
JSON (a queue target stores it as a JSON body, a function receives the parsed value).

Quoting, as AWS documents it. A template that starts with ``{``, ``[`` or ``"`` is JSON: a
variable outside quotes becomes its JSON value (strings are quoted and escaped; a path that
matches nothing gives ``null``); a variable inside a JSON string is inserted as text (strings
unquoted but escaped; objects and arrays as JSON with their quotes removed, as EventBridge does;
nothing when the path matches nothing). Any other template is plain text: values are inserted
as they are (objects as JSON). ``<aws.events.event>`` (the event without ``detail``) and
``<aws.events.event.json>`` (the whole event) are meant as JSON field values.

Before changing: the JSONPath subset (``$``, ``.name``, ``['name']``, ``[n]``, ``*``) is the one
EventBridge supports; keep ``validate_path`` and ``select`` in step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from overcast.errors import ValidationError

Payload = tuple[str, bool]  # (text, is_json)

MAX_VARIABLES = 100
MAX_TEMPLATE = 8192
MAX_PATH = 256
PREDEFINED = (
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
)
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_STEP = re.compile(r"""\.([A-Za-z0-9_\-/@:$]+|\*)|\[(\d+|\*|'[^']*'|"[^"]*")\]""")
_MISSING = object()


def validate_path(path: str, where: str) -> None:
    """Raise ``ValidationError`` unless ``path`` is a JSONPath EventBridge accepts."""
    if not isinstance(path, str) or not path.startswith("$") or len(path) > MAX_PATH:
        raise ValidationError(f"{where}: {path!r} is not a JSONPath; write $ or $.detail.field (at most {MAX_PATH} characters)")
    position = 1
    for match in _STEP.finditer(path, 1):
        if match.start() != position:
            break
        position = match.end()
    if position != len(path):
        raise ValidationError(
            f"{where}: {path!r} is not a supported JSONPath at character {position + 1}; use dot "
            "notation ($.detail.id), indexes ($.detail.items[0]) and * wildcards"
        )


def select(value: Any, path: str) -> Any:
    """The value at ``path`` in ``value`` (a list of matches when the path has a wildcard), or
    ``_MISSING``."""
    steps: list[str | int] = []
    wild = False
    for match in _STEP.finditer(path, 1):
        token = match.group(1) if match.group(1) is not None else match.group(2)
        if token == "*":
            steps.append("*")
            wild = True
        elif match.group(2) is not None and token[0] in "'\"":
            steps.append(token[1:-1])
        elif match.group(2) is not None:
            steps.append(int(token))
        else:
            steps.append(token)
    current = [value]
    for step in steps:
        following: list[Any] = []
        for item in current:
            if step == "*":
                if isinstance(item, Mapping):
                    following.extend(item.values())
                elif isinstance(item, list):
                    following.extend(item)
            elif isinstance(step, int):
                if isinstance(item, list) and -len(item) <= step < len(item):
                    following.append(item[step])
            elif isinstance(item, Mapping) and step in item:
                following.append(item[step])
        current = following
    if wild:
        return current
    return current[0] if current else _MISSING


@dataclass(frozen=True)
class InputTransformer:
    """EventBridge's input transformer: variables from JSONPaths, filled into a template.

        InputTransformer({"id": "$.detail.id", "state": "$.detail.state"},
                         '{"order": <id>, "text": "order <id> is <state>"}')
    """

    input_paths_map: dict[str, str] = field(default_factory=dict)
    input_template: str = ""

    def __post_init__(self) -> None:
        validate_transformer(self, "input_transformer")

    def to_dict(self) -> dict[str, Any]:
        return {"InputPathsMap": dict(self.input_paths_map), "InputTemplate": self.input_template}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> InputTransformer:
        return cls(dict(value.get("InputPathsMap") or {}), str(value.get("InputTemplate", "")))


def validate_transformer(transformer: InputTransformer, where: str) -> None:
    paths = transformer.input_paths_map
    template = transformer.input_template
    if not isinstance(paths, Mapping):
        raise ValidationError(f"{where}: input_paths_map must be a dict of variable name to JSONPath")
    if len(paths) > MAX_VARIABLES:
        raise ValidationError(f"{where}: at most {MAX_VARIABLES} variables, not {len(paths)}")
    for key, path in paths.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValidationError(f"{where}: variable name {key!r}: use letters, digits, '_' or '-'")
        if key.lower().startswith("aws") or key in PREDEFINED:
            raise ValidationError(f"{where}: variable name {key!r} is reserved (names may not start with 'AWS')")
        validate_path(path, f"{where}.input_paths_map[{key!r}]")
    if not isinstance(template, str) or not template or len(template) > MAX_TEMPLATE:
        raise ValidationError(f"{where}: input_template must be a non-empty string of at most {MAX_TEMPLATE} characters")
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in paths and name not in PREDEFINED:
            raise ValidationError(
                f"{where}: input_template uses <{name}>, which input_paths_map does not define "
                f"(predefined: {', '.join(PREDEFINED)})"
            )
    if _is_json_template(template):
        for match in _PLACEHOLDER.finditer(template):
            rest = template[match.end():].lstrip()
            if rest.startswith(":") and not _inside_string(template, match.start()):
                raise ValidationError(f"{where}: input_template uses <{match.group(1)}> as an object key, which EventBridge refuses")


def _is_json_template(template: str) -> bool:
    return template.lstrip()[:1] in ("{", "[", '"')


def _inside_string(text: str, position: int) -> bool:
    inside = False
    index = 0
    while index < position:
        char = text[index]
        if char == "\\" and inside:
            index += 2
            continue
        if char == '"':
            inside = not inside
        index += 1
    return inside


def transform(
    transformer: InputTransformer,
    event: Mapping[str, Any],
    *,
    rule_name: str = "",
    rule_arn: str = "",
    ingestion_time: str = "",
) -> Payload:
    """Fill the template from ``event``; returns the payload ``(text, is_json)``."""
    values: dict[str, Any] = {name: select(event, path) for name, path in transformer.input_paths_map.items()}
    values["aws.events.rule-arn"] = rule_arn
    values["aws.events.rule-name"] = rule_name
    values["aws.events.event.ingestion-time"] = ingestion_time or event.get("time", "")
    values["aws.events.event"] = {k: v for k, v in event.items() if k != "detail"}
    values["aws.events.event.json"] = dict(event)
    template = transformer.input_template
    if not _is_json_template(template):
        text = _PLACEHOLDER.sub(lambda m: _as_text(values.get(m.group(1), _MISSING)), template)
        return text, _is_json_text(text)
    out: list[str] = []
    inside = False
    index = 0
    while index < len(template):
        char = template[index]
        if inside and char == "\\":
            out.append(template[index : index + 2])
            index += 2
            continue
        if char == '"':
            inside = not inside
        elif char == "<":
            match = _PLACEHOLDER.match(template, index)
            if match is not None and match.group(1) in values:
                value = values[match.group(1)]
                out.append(_in_string(value) if inside else _as_json(value))
                index = match.end()
                continue
        out.append(char)
        index += 1
    text = "".join(out)
    return text, _is_json_text(text)


def _as_json(value: Any) -> str:
    if value is _MISSING:
        return "null"
    return json.dumps(value, separators=(",", ":"))


def _in_string(value: Any) -> str:
    if value is _MISSING:
        return ""
    if isinstance(value, str):
        return json.dumps(value)[1:-1]
    text = json.dumps(value, separators=(",", ":"))
    return text.replace('"', "") if isinstance(value, dict | list) else text


def _as_text(value: Any) -> str:
    if value is _MISSING:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _is_json_text(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def event_payload(
    event: Mapping[str, Any],
    *,
    input: Any = _MISSING,
    input_path: str | None = None,
    transformer: InputTransformer | None = None,
    rule_name: str = "",
    rule_arn: str = "",
    ingestion_time: str = "",
) -> Payload:
    """What a target with these settings receives for ``event`` (at most one setting is set)."""
    if input is not _MISSING:
        if isinstance(input, str):
            return input, False
        return json.dumps(input, separators=(",", ":")), True
    if input_path is not None:
        selected = select(event, input_path)
        return _as_json(selected), True
    if transformer is not None:
        return transform(transformer, event, rule_name=rule_name, rule_arn=rule_arn, ingestion_time=ingestion_time)
    return json.dumps(event, separators=(",", ":")), True


NOT_SET: Any = _MISSING
"""The "no constant input" marker for ``event_payload``."""
