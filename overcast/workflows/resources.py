"""Task resources: what a Task state's ``Resource`` names, and how it is called.

A resource is an app function (``"charge"``, ``arn:aws:lambda:REGION:ACCOUNT:function:charge``,
or ``arn:aws:states:::lambda:invoke`` with ``FunctionName``), a nested execution
(``arn:aws:states:::states:startExecution`` with ``.sync``/``.sync:2``), or a service
integration ``arn:aws:states:::SERVICE:ACTION`` looked up in a registry that other services fill
with ``register_integration`` (``sqs:sendMessage``, ``sns:publish`` and ``events:putEvents`` are
built in). Any of them may end in ``.waitForTaskToken``.

``sns:publish`` and ``events:putEvents`` commit their messages in one engine transaction together
with a marker keyed by the task's idempotency key (kv ``overcast:workflows:effects``): a task
run again for the same attempt (its lease was lost, the process died before reporting) finds the
marker and returns the first run's result instead of publishing again. A ``Retry`` is a new
attempt with a new key, and publishes again, as in Step Functions.

Before changing: ``call_task`` runs outside any transaction and may run more than once for one
task (at-least-once); it reports a named failure only by raising ``overcast.TaskFailed``, and
``TaskNotRun`` when the task could not even start (the pool is shutting down), so that the task
is tried again rather than failed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overcast.engine.base import ABSENT, Tx
from overcast.errors import (
    ConditionFailed,
    FunctionCrashed,
    FunctionError,
    FunctionTimeout,
    MessageTooLarge,
    OvercastError,
    QueueNotFound,
    TaskFailed,
    ValidationError,
)

if TYPE_CHECKING:
    from overcast.app import App

__all__ = [
    "PENDING_INTEGRATIONS",
    "Integration",
    "Target",
    "TaskCall",
    "TaskNotRun",
    "availability_problems",
    "call_task",
    "form_problems",
    "integration_for",
    "parse_resource",
    "register_integration",
    "task_states",
]

_SERVICE = "arn:aws:states:::"
_SUFFIXES = ((".waitForTaskToken", "token"), (".sync:2", "sync2"), (".sync", "sync"))
#: integrations that other services are building; a definition naming one is refused until then
PENDING_INTEGRATIONS: dict[str, str] = {}
EFFECTS = "overcast:workflows:effects"  # kv: pk = idempotency key -> the result of its effect
EFFECT_TTL = 1_209_600.0  # seconds a marker is kept: the task queue's retention


class TaskNotRun(Exception):
    """The task could not start (the worker pool is closing): try it again later."""


@dataclass(frozen=True)
class Target:
    """A parsed ``Resource``: ``kind`` is ``function``, ``lambda`` (``lambda:invoke``, the
    function comes from ``FunctionName``), ``execution`` (``states:startExecution``) or
    ``integration`` (``name`` is its ``service:action``); ``pattern`` is ``request``, ``sync``,
    ``sync2`` or ``token`` (``.waitForTaskToken``)."""

    resource: str
    kind: str
    name: str
    pattern: str = "request"


@dataclass(frozen=True)
class TaskCall:
    """One invocation of a Task resource, as an integration receives it."""

    app: App
    target: Target
    input: Any
    execution_arn: str
    state_name: str
    task_id: str
    attempt: int
    idempotency_key: str
    token: str
    timeout: float | None = None


Integration = Callable[[TaskCall], Any]
_INTEGRATIONS: dict[str, Integration] = {}


def register_integration(action: str, handler: Integration) -> None:
    """Make ``arn:aws:states:::ACTION`` (e.g. ``"sns:publish"``) callable from Task states.

    ``handler(call)`` gets the task's effective input as ``call.input`` and returns the task's
    result (a JSON value); it raises ``overcast.TaskFailed(error, cause)`` to fail with a name
    that ``Retry``/``Catch`` can match. It may run more than once for one task: use
    ``call.idempotency_key`` to make its effect happen once.
    """
    if ":" not in action or action.count(":") != 1:
        raise ValueError(
            f"an integration is named SERVICE:ACTION (e.g. 'sns:publish'), not {action!r}"
        )
    _INTEGRATIONS[action] = handler


def integration_for(action: str) -> Integration | None:
    return _INTEGRATIONS.get(action)


def parse_resource(resource: str) -> Target:
    """Parse a Task ``Resource``; ``ValueError`` with what is wrong and how to fix it."""
    if not isinstance(resource, str) or not resource:
        raise ValueError("a Task Resource is a non-empty string")
    pattern = "request"
    base = resource
    for suffix, name in _SUFFIXES:
        if resource.endswith(suffix):
            base, pattern = resource[: -len(suffix)], name
            break
    if base.startswith(_SERVICE):
        action = base[len(_SERVICE) :]
        if action.count(":") != 1:
            raise ValueError(
                f"{resource!r} is not a service integration (arn:aws:states:::SERVICE:ACTION)"
            )
        if action == "states:startExecution":
            return Target(resource, "execution", action, pattern)
        if pattern in ("sync", "sync2"):
            raise ValueError(f"{resource!r}: .sync is supported for states:startExecution only")
        if action == "lambda:invoke":
            return Target(resource, "lambda", "", pattern)
        return Target(resource, "integration", action, pattern)
    if pattern != "request":
        raise ValueError(
            f"{resource!r}: {resource[len(base) :]} applies to arn:aws:states:::SERVICE:ACTION "
            "resources (e.g. arn:aws:states:::lambda:invoke.waitForTaskToken)"
        )
    if base.startswith("arn:"):
        parts = base.split(":")
        if len(parts) in (7, 8) and parts[2] == "lambda" and parts[5] == "function":
            return Target(resource, "function", parts[6])
        if len(parts) > 5 and parts[2] == "states" and parts[5] == "activity":
            raise ValueError(f"{resource!r}: activities are not supported; use .waitForTaskToken")
        raise ValueError(
            f"{resource!r} is neither a function (NAME or arn:aws:lambda:REGION:ACCOUNT:function:"
            "NAME) nor a service integration (arn:aws:states:::SERVICE:ACTION)"
        )
    return Target(resource, "function", base)


def task_states(
    definition: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state of a definition with its path, nested machines included."""
    states = definition.get("States")
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        path = f"{prefix}States.{name}"
        kind = state.get("Type")
        if kind == "Task":
            yield path, state
        elif kind == "Parallel":
            for index, branch in enumerate(state.get("Branches") or []):
                if isinstance(branch, dict):
                    yield from task_states(branch, f"{path}.Branches[{index}].")
        elif kind == "Map":
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    yield from task_states(state[key], f"{path}.{key}.")


def form_problems(definition: dict[str, Any], express: bool) -> list[str]:
    """Resources Overcast cannot run, whatever the app declares (checked at declaration)."""
    problems = []
    for path, state in task_states(definition):
        try:
            target = parse_resource(state.get("Resource", ""))
        except ValueError as exc:
            problems.append(f"{path}.Resource: {exc}")
            continue
        if express and target.pattern != "request":
            problems.append(
                f"{path}.Resource: EXPRESS workflows cannot wait (.sync, .waitForTaskToken), as "
                "in Step Functions; declare the workflow with type='STANDARD'"
            )
    return problems


def availability_problems(app: App, definition: dict[str, Any], workflows: set[str]) -> list[str]:
    """Resources the app does not provide (checked when the app first uses its engine)."""
    problems = []
    known = ", ".join(sorted(app.functions)) or "none"
    for path, state in task_states(definition):
        try:
            target = parse_resource(state.get("Resource", ""))
        except ValueError:
            continue  # reported at declaration
        params = state.get("Parameters") or state.get("Arguments") or {}
        if target.kind == "function" and target.name not in app.functions:
            problems.append(
                f"{path}.Resource: no function {target.name!r} in the app (functions: {known})"
            )
        elif target.kind == "lambda" and isinstance(params, dict):
            name = params.get("FunctionName")
            if (
                isinstance(name, str)
                and "{%" not in name
                and _function_name(name) not in app.functions
            ):
                problems.append(
                    f"{path}.Parameters.FunctionName: no function {name!r} in the app (functions: {known})"
                )
        elif target.kind == "execution" and isinstance(params, dict):
            arn = params.get("StateMachineArn")
            if isinstance(arn, str) and "{%" not in arn and arn.rsplit(":", 1)[-1] not in workflows:
                problems.append(
                    f"{path}.Parameters.StateMachineArn: no workflow named {arn.rsplit(':', 1)[-1]!r} in the app"
                )
        elif target.kind == "integration" and target.name not in _INTEGRATIONS:
            if target.name in PENDING_INTEGRATIONS:
                problems.append(
                    f"{path}.Resource: {target.name} needs {PENDING_INTEGRATIONS[target.name]}, "
                    "which this version of Overcast does not have yet"
                )
            else:
                available = ", ".join(
                    sorted({*_INTEGRATIONS, "lambda:invoke", "states:startExecution"})
                )
                problems.append(
                    f"{path}.Resource: no service integration {target.name!r} (available: {available})"
                )
    return problems


# -- calling ---------------------------------------------------------------------------------


def call_task(call: TaskCall) -> Any:
    """Run a function or integration task and return its result (``TaskFailed`` to fail it)."""
    target = call.target
    if target.kind == "function":
        return _invoke(call, target.name, call.input)
    if target.kind == "lambda":
        return _lambda_invoke(call)
    if target.kind == "integration":
        handler = _INTEGRATIONS.get(target.name)
        if handler is None:
            raise TaskFailed(
                "States.Runtime", f"no service integration {target.name!r} is registered"
            )
        return handler(call)
    raise TaskFailed("States.Runtime", f"{target.resource!r} is not run by the task poller")


def _function_name(name: str) -> str:
    if name.startswith("arn:"):
        parts = name.split(":")
        return parts[6] if len(parts) > 6 else name
    if ":function:" in name:
        return name.split(":function:", 1)[1].split(":")[0]
    return name.split(":")[0]


def _invoke(call: TaskCall, name: str, payload: Any) -> Any:
    app = call.app
    fn = app.functions.get(name)
    if fn is None:
        raise TaskFailed(
            "Lambda.ResourceNotFoundException", f"Function not found: {name} (app {app.name!r})"
        )
    timeout = fn.timeout if call.timeout is None else min(fn.timeout, call.timeout)
    try:
        return app.pool.invoke(
            fn,
            payload,
            invocation_id=str(uuid.uuid4()),
            timeout=timeout,
            attempt=call.attempt,
            idempotency_key=call.idempotency_key,
        )
    except FunctionTimeout as exc:
        raise TaskFailed("Sandbox.Timedout", exc.error_message) from None
    except FunctionCrashed as exc:
        raise TaskFailed("Runtime.ExitError", exc.error_message) from None
    except FunctionError as exc:
        if exc.error_type == "PoolClosed":
            raise TaskNotRun(str(exc)) from None
        if exc.error_type == "TaskFailed":  # the handler raised overcast.TaskFailed(error, cause)
            error, _, cause = exc.error_message.partition(": ")
            raise TaskFailed(error, cause or None) from None
        cause = json.dumps(
            {
                "errorMessage": exc.error_message,
                "errorType": exc.error_type,
                "stackTrace": exc.traceback.splitlines(),
            }
        )
        raise TaskFailed(exc.error_type, cause) from None


def _lambda_invoke(call: TaskCall) -> Any:
    params = call.input
    if not isinstance(params, dict) or not isinstance(params.get("FunctionName"), str):
        raise TaskFailed(
            "States.Runtime", "lambda:invoke needs Parameters with a FunctionName string"
        )
    name = _function_name(params["FunctionName"])
    if params.get("InvocationType") == "Event":
        try:
            call.app.invoke_async(name, params.get("Payload"))
        except OvercastError as exc:
            raise TaskFailed("Lambda.ResourceNotFoundException", str(exc)) from None
        return {"StatusCode": 202, "Payload": ""}
    result = _invoke(call, name, params.get("Payload"))
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": result,
        "SdkHttpMetadata": {"HttpStatusCode": 200},
        "StatusCode": 200,
    }


def _sqs_send_message(call: TaskCall) -> Any:
    params = call.input
    if not isinstance(params, dict):
        raise TaskFailed(
            "States.Runtime", "sqs:sendMessage needs Parameters with QueueUrl and MessageBody"
        )
    url, body = params.get("QueueUrl"), params.get("MessageBody")
    if not isinstance(url, str) or "MessageBody" not in params:
        raise TaskFailed(
            "States.Runtime", "sqs:sendMessage needs Parameters with QueueUrl and MessageBody"
        )
    name = url.rstrip("/").rsplit("/", 1)[-1]
    try:
        message_id = call.app.get_queue(name).send(
            body,
            attributes=params.get("MessageAttributes"),
            delay=params.get("DelaySeconds"),
            group_id=params.get("MessageGroupId"),
            dedup_id=params.get("MessageDeduplicationId"),
        )
    except QueueNotFound as exc:
        raise TaskFailed("SQS.QueueDoesNotExistException", str(exc)) from None
    except MessageTooLarge as exc:
        raise TaskFailed("SQS.InvalidMessageContentsException", str(exc)) from None
    except ValidationError as exc:
        raise TaskFailed("SQS.InvalidParameterValueException", str(exc)) from None
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return {"MessageId": message_id, "MD5OfMessageBody": hashlib.md5(text.encode()).hexdigest()}


register_integration("sqs:sendMessage", _sqs_send_message)


# -- effects committed once per idempotency key ----------------------------------------------


def once(call: TaskCall, write: Callable[[Tx], dict[str, Any]]) -> dict[str, Any]:
    """Run ``write(tx)`` — which makes the task's effect and returns its result — in one engine
    transaction with a marker under ``call.idempotency_key``; when the marker exists already (the
    task runs again for the same attempt), return the result stored with it and write nothing."""
    engine = call.app.engine

    def run(tx: Tx) -> dict[str, Any]:
        item = tx.kv_get(EFFECTS, call.idempotency_key)
        if item is not None:
            return dict(item.value)
        result = write(tx)
        tx.kv_put(
            EFFECTS,
            call.idempotency_key,
            "",
            result,
            condition=ABSENT,
            expires_at=tx.now() + EFFECT_TTL,
        )
        return result

    for _ in range(5):
        try:
            return engine.atomic(run)
        except ConditionFailed:
            continue  # a concurrent run of the same task committed first: read its result
    raise TaskNotRun(f"task {call.task_id} of {call.execution_arn} kept conflicting with itself")


# -- sns:publish -----------------------------------------------------------------------------


def _sns_publish(call: TaskCall) -> Any:
    from overcast.services.topics.topic import Topic, ingress_queue, validate_topic_name

    params = call.input
    usage = "sns:publish needs Parameters with TopicArn (a topic ARN or name) and Message"
    if not isinstance(params, dict) or "Message" not in params:
        raise TaskFailed("States.Runtime", usage)
    arn = params.get("TopicArn", params.get("TargetArn"))
    if not isinstance(arn, str) or not arn:
        raise TaskFailed("States.Runtime", usage)
    name = arn.rsplit(":", 1)[-1]
    app = call.app
    try:
        validate_topic_name(name)
        handle = _topic_handle(app, name, Topic)
        message = handle._prepare(
            params["Message"],
            params.get("Subject"),
            params.get("MessageAttributes"),
            params.get("MessageGroupId"),
            params.get("MessageDeduplicationId"),
            params.get("MessageStructure"),
        )
    except ValidationError as exc:  # MessageTooLarge and InvalidAttribute included
        raise TaskFailed("SNS.InvalidParameterException", str(exc)) from None
    queue = ingress_queue(name)

    def write(tx: Tx) -> dict[str, Any]:
        if tx.queue_get(queue) is None:
            return {"$error": ["SNS.NotFoundException", f"Topic does not exist: {arn}"]}
        [message_id] = tx.queue_send(queue, [message])
        return {"MessageId": message_id}

    result = once(call, write)
    if "$error" in result:
        error, cause = result["$error"]
        raise TaskFailed(error, cause)
    return result


def _topic_handle(app: App, name: str, topic_class: Any) -> Any:
    """The app's own handle of topic ``name`` (it knows content-based dedup), or a bare one
    (another app on the engine declares the topic; a FIFO message without a dedup id is then
    deduplicated on its content)."""
    registry = app.__dict__.get("_events_registry")
    declared = registry.topics.get(name) if registry is not None else None
    if declared is not None:
        return declared[0]
    return topic_class(
        name,
        lambda: app.engine,
        region=app.region,
        account=app.account,
        content_based_dedup=name.endswith(".fifo"),
    )


register_integration("sns:publish", _sns_publish)


# -- events:putEvents ------------------------------------------------------------------------


def _events_put_events(call: TaskCall) -> Any:
    from overcast.services.bus import bus as bus_module

    params = call.input
    entries = params.get("Entries") if isinstance(params, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TaskFailed(
            "States.Runtime", "events:putEvents needs Parameters with Entries (a list of entries)"
        )
    if len(entries) > bus_module.MAX_ENTRIES:
        raise TaskFailed(
            "EventBridge.ValidationException",
            f"PutEvents takes at most {bus_module.MAX_ENTRIES} entries, not {len(entries)}",
        )
    app = call.app
    handle = bus_module.Bus("default", lambda: app.engine, region=app.region, account=app.account)
    machine = _state_machine_of(call.execution_arn)
    now = app.engine.clock.now()
    results: list[dict[str, str] | None] = [None] * len(entries)
    accepted: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("Resources", []), list):
            # as Step Functions does: the execution and its state machine join the resources
            entry = {
                **entry,
                "Resources": [*entry.get("Resources", []), call.execution_arn, machine],
            }
        try:
            bus, record = handle._record(entry, now)
        except bus_module._EntryError as exc:
            results[index] = {"ErrorCode": exc.code, "ErrorMessage": exc.message}
            continue
        accepted.setdefault(bus, []).append((index, record["event"]["id"], record))

    def write(tx: Tx) -> dict[str, Any]:
        out = list(results)
        for bus, items in accepted.items():
            queue = bus_module.ingress_queue(bus)
            if tx.queue_get(queue) is None:
                for index, _, _ in items:
                    out[index] = {
                        "ErrorCode": "ResourceNotFoundException",
                        "ErrorMessage": f"Event bus {bus} does not exist.",
                    }
                continue
            tx.queue_send(queue, [bus_module._message(record) for _, _, record in items])
            for index, event_id, _ in items:
                out[index] = {"EventId": event_id}
        failed = sum(1 for e in out if e is None or "ErrorCode" in e)
        return {"Entries": out, "FailedEntryCount": failed}

    response = once(call, write)
    if response["FailedEntryCount"]:
        # Step Functions fails the task when PutEvents reports any failed entry
        raise TaskFailed("EventBridge.FailedEntry", json.dumps(response, separators=(",", ":")))
    return response


def _state_machine_of(execution_arn: str) -> str:
    parts = execution_arn.split(":")
    if len(parts) >= 8 and parts[5] == "execution":
        return ":".join([*parts[:5], "stateMachine", parts[6]])
    return execution_arn


register_integration("events:putEvents", _events_put_events)
