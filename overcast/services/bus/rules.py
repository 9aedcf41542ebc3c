"""Rules of one bus: event patterns compiled into one ``RuleSet``, each rule with its targets,
and what each matched target receives (a ``Delivery``).

Before changing: matching goes through ``overcast.matching.RuleSet`` only (its cost does not
grow with the number of rules); a rule is validated completely when it is declared, so routing
never meets a bad pattern or target.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from overcast.errors import InvalidPattern, ValidationError
from overcast.events import function_arn, queue_arn
from overcast.matching import RuleSet, validate_pattern
from overcast.services.bus.cloudevents import CONTENT_TYPE, to_cloudevent
from overcast.services.bus.delivery import Delivery
from overcast.services.bus.events import bus_arn, iso_time, rule_arn
from overcast.services.bus.targets import Target
from overcast.services.bus.transform import event_payload

MAX_TARGETS = 5
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Rule:
    """A rule: an event pattern on a bus and the targets matched events go to."""

    name: str
    bus: str
    pattern: dict[str, Any]
    targets: tuple[Target, ...]
    description: str | None = None
    enabled: bool = True

    def arn(self, region: str, account: str) -> str:
        return rule_arn(self.bus, self.name, region, account)

    def describe(self, region: str, account: str) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Arn": self.arn(region, account),
            "EventBusName": self.bus,
            "EventPattern": json.dumps(self.pattern, separators=(",", ":")),
            "State": "ENABLED" if self.enabled else "DISABLED",
            "Description": self.description,
            "Targets": [t.describe() for t in self.targets],
        }


def make_rule(
    bus: str,
    name: str,
    pattern: Mapping[str, Any] | str,
    targets: Sequence[Target],
    *,
    description: str | None = None,
    enabled: bool = True,
) -> Rule:
    """Validate a rule completely: its name, pattern and targets."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"rule name {name!r} on bus {bus!r}: use 1-64 letters, digits, '.', '_' or '-'")
    where = f"rule {name!r} on bus {bus!r}"
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except ValueError as exc:
            raise InvalidPattern(f"{where}: the event pattern is not valid JSON: {exc}") from None
    if not isinstance(pattern, Mapping):
        raise InvalidPattern(f"{where}: the event pattern must be a JSON object")
    try:
        validate_pattern(pattern)
    except InvalidPattern as exc:
        raise InvalidPattern(f"{where}: {exc}") from None
    targets = tuple(targets)
    if len(targets) > MAX_TARGETS:
        raise ValidationError(f"{where}: a rule has at most {MAX_TARGETS} targets, not {len(targets)}")
    seen: set[str] = set()
    for target in targets:
        if not isinstance(target, Target):
            raise ValidationError(f"{where}: targets must be Target objects (Target.function(...), Target.queue(...), ...), not {target!r}")
        if target.id in seen:
            raise ValidationError(f"{where}: two targets have the id {target.id!r}; give one an id=")
        seen.add(target.id)
    return Rule(name, bus, dict(pattern), targets, description, enabled)


class BusRules:
    """The rules of one bus, compiled; safe to match from several threads while rules change."""

    def __init__(self, bus: str) -> None:
        self.bus = bus
        self.rules: dict[str, Rule] = {}
        self._set: RuleSet[str] = RuleSet()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.rules)

    def add(self, rule: Rule) -> None:
        with self._lock:
            self._set.add(rule.name, rule.pattern)
            self.rules[rule.name] = rule

    def remove(self, name: str) -> None:
        with self._lock:
            self._set.remove(name)
            del self.rules[name]

    def match(self, event: Mapping[str, Any], only: Sequence[str] | None = None) -> list[Rule]:
        """The enabled rules ``event`` matches (restricted to the names in ``only``)."""
        with self._lock:
            names = self._set.match(event)
            rules = [self.rules[n] for n in names]
        return [r for r in rules if r.enabled and (only is None or r.name in only)]


def target_arn(target: Target, region: str, account: str) -> str:
    if target.kind == "function":
        return function_arn(target.name, region, account)
    if target.kind == "queue":
        return queue_arn(target.name, region, account)
    if target.kind == "topic":
        return f"arn:aws:sns:{region}:{account}:{target.name}"
    if target.kind == "bus":
        return bus_arn(target.name, region, account)
    if target.kind == "workflow":
        return f"arn:aws:states:{region}:{account}:stateMachine:{target.name}"
    return target.name


def delivery_for(
    target: Target,
    record: Mapping[str, Any],
    *,
    origin: dict[str, str],
    now: float,
    rule_name: str = "",
) -> Delivery:
    """What ``target`` receives for the event ``record`` (``{"event", "ingested", "ce"}``)."""
    event = record["event"]
    headers = dict(target.headers)
    if target.cloudevents:
        body = json.dumps(to_cloudevent(event, record.get("ce")), separators=(",", ":"))
        is_json = True
        headers.setdefault("content-type", CONTENT_TYPE)
    else:
        body, is_json = event_payload(
            event,
            input=target.input,
            input_path=target.input_path,
            transformer=target.input_transformer,
            rule_name=rule_name,
            rule_arn=origin.get("arn", ""),
            ingestion_time=iso_time(record.get("ingested", now)) if target.input_transformer else "",
        )
    return Delivery(
        kind=target.kind,
        dest=target.name,
        body=body,
        is_json=is_json,
        group_id=target.message_group_id,
        dedup_id=str(event.get("id")) if target.message_group_id else None,
        method=target.method,
        headers=headers,
        timeout=target.timeout,
        origin=origin,
        max_attempts=target.retry_policy.max_retries + 1,
        max_age=float(target.retry_policy.max_event_age),
        dead_letter=target.dead_letter,
        first_at=now,
    )


def rule_deliveries(rule: Rule, record: Mapping[str, Any], *, region: str, account: str, now: float) -> list[Delivery]:
    """One delivery per target of a matched rule."""
    arn = rule.arn(region, account)
    return [
        delivery_for(
            target, record, now=now, rule_name=rule.name,
            origin={"type": "rule", "arn": arn, "target_arn": target_arn(target, region, account), "id": target.id},
        )
        for target in rule.targets
    ]


def explain_match(pattern: Mapping[str, Any], event: Any) -> list[dict[str, Any]]:
    """Field by field, whether ``event`` satisfies each leaf of ``pattern`` (for ``overcast
    rules test``): ``[{"field", "pattern", "value", "matched"}]``; ``$or`` branches are marked."""
    from overcast.matching import matches

    rows: list[dict[str, Any]] = []

    def nest(path: tuple[str, ...], leaf: Any) -> dict[str, Any]:
        out: Any = leaf
        for key in reversed(path):
            out = {key: out}
        return dict(out)

    def lookup(path: tuple[str, ...]) -> Any:
        found: list[Any] = [event]
        for key in path:
            following: list[Any] = []
            for item in found:
                for element in item if isinstance(item, list) else [item]:
                    if isinstance(element, Mapping) and key in element:
                        following.append(element[key])
            found = following
        if not found:
            return None
        return found[0] if len(found) == 1 else found

    def walk(node: Mapping[str, Any], path: tuple[str, ...], label: str) -> None:
        for key, value in node.items():
            if key == "$or" and isinstance(value, list):
                for index, branch in enumerate(value):
                    if isinstance(branch, Mapping):
                        walk(branch, path, f"{label}$or[{index}] ")
            elif isinstance(value, Mapping):
                walk(value, (*path, key), label)
            else:
                field_path = (*path, key)
                rows.append({
                    "field": label + ".".join(field_path),
                    "pattern": value,
                    "value": lookup(field_path),
                    "matched": matches(nest(field_path, value), event),
                })

    walk(pattern, (), "")
    return rows
