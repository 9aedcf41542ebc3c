"""The durable executor: Standard executions advanced one committed step at a time.

Every event of an execution (its start, a task's result, a timer, a stop) is applied by
``Executor.apply`` inside one engine transaction that loads the record, runs the pure
interpreter's ``start``/``step``/``stop``, stores the new state under the record's version,
appends the step's history, enqueues what the step asks for (task invocations on the internal
task queue, timers as delayed messages on the advance queue, nested executions created in place)
and deletes the message that carried the event. A crash anywhere therefore resumes from the last
committed step, and each step's effects are committed once; a redelivered event is ignored by the
interpreter because the state already moved past it.

Before changing: nothing in ``apply`` may call ``engine.atomic`` (it runs inside one), and
nothing in it may call user code; tasks run outside transactions in ``runner.TaskRunner`` and
report their result with ``apply``. Timers longer than a queue's 900 s delay limit are re-armed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from overcast.engine.base import NewMessage, QueueSpec, StoredMessage, Tx
from overcast.errors import (
    AlreadyExists,
    ConditionFailed,
    EngineError,
    ExecutionError,
    ValidationError,
)
from overcast.services.queues import make_spec
from overcast.workflows.asl.history import iso_time
from overcast.workflows.asl.interpreter import start, step, stop
from overcast.workflows.asl.model import (
    RUNNING,
    CancelTask,
    Event,
    ExecutionState,
    Finish,
    InvokeTask,
    StartTimer,
    TaskHeartbeat,
    TimerFired,
    Transition,
)
from overcast.workflows.asl.model import TaskFailed as TaskFailedEvent
from overcast.workflows.asl.model import TaskSucceeded as TaskSucceededEvent

from . import store
from .resources import Target, parse_resource
from .store import ExecutionRecord
from .tokens import (
    ExecutionKey,
    execution_arn,
    idempotency_key,
    state_machine_arn,
    validate_execution_name,
)

if TYPE_CHECKING:
    from .service import WorkflowDef, WorkflowService

__all__ = ["ADVANCE", "EXPRESS", "TASKS", "Executor", "new_execution", "queue_specs"]

log = logging.getLogger("overcast.workflows")
T = TypeVar("T")

ADVANCE = "overcast:workflows:advance"  # execution events: start, timers, results of children
TASKS = "overcast:workflows:tasks"  # Task invocations for the task runner
EXPRESS = "overcast:workflows:express"  # asynchronous Express executions
MAX_DELAY = 900.0  # the queue primitive's longest delay: longer timers are re-armed
TASK_LEASE = 5.0  # seconds a received task stays hidden; renewed while it runs
ADVANCE_VISIBILITY = 10.0  # seconds before an event whose step failed is tried again
MAX_RECEIVES = 5  # an event whose step failed this often fails its execution
_CHILD_NAMES = uuid.UUID("0b6f4f7e-6c1f-4c43-8f0e-51f3a1a1d0c2")
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def queue_specs() -> list[QueueSpec]:
    """The internal queues the executor keeps."""
    return [
        make_spec(
            ADVANCE, visibility_timeout=ADVANCE_VISIBILITY, retention=1_209_600, internal=True
        ),
        make_spec(TASKS, visibility_timeout=TASK_LEASE, retention=1_209_600, internal=True),
        make_spec(EXPRESS, visibility_timeout=330, retention=1_209_600, internal=True),
    ]


@lru_cache(maxsize=4096)
def _target(resource: str) -> Target:
    return parse_resource(resource)


def _message(body: dict[str, Any], delay: float = 0.0) -> NewMessage:
    return NewMessage(id=str(uuid.uuid4()), body=_dumps(body), delay=delay)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _seed(arn: str) -> int:
    return int(hashlib.sha256(arn.encode()).hexdigest()[:12], 16)


def new_execution(
    tx: Tx,
    key: ExecutionKey,
    def_id: str,
    type: str,
    input: Any,
    region: str,
    account: str,
    parent: dict[str, Any] | None = None,
) -> ExecutionRecord:
    """Store a new RUNNING Standard execution (its definition already stored) and queue its
    start, in ``tx``; ``ConditionFailed`` if the name is taken. Any process whose app has the
    workflows service runs it (the executor reads the definition from the engine)."""
    record = ExecutionRecord(
        key=key,
        arn=execution_arn(key, region, account),
        state_machine_arn=state_machine_arn(key.workflow, region, account),
        type=type,
        status=RUNNING,
        input=input,
        started=tx.now(),
        definition=def_id,
        parent=parent,
    )
    store.create(tx, record)
    tx.queue_send(ADVANCE, [_message({"x": str(key), "k": "start"})])
    return record


class Executor:
    """Applies events to Standard executions and runs their tasks (see the module docstring)."""

    def __init__(self, service: WorkflowService) -> None:
        self.service = service
        self.app = service.app
        self._definitions: dict[str, dict[str, Any]] = {}

    # -- transactions ----------------------------------------------------------------------------

    def atomic(self, fn: Callable[[Tx], T]) -> T:
        """``engine.atomic`` that retries when a concurrent step of the same execution won."""
        engine = self.app.engine
        for _ in range(20):
            try:
                return engine.atomic(fn)
            except ConditionFailed:
                time.sleep(0.001)
        raise ExecutionError("a workflow step kept conflicting with concurrent steps; try again")

    # -- creating executions ------------------------------------------------------------------------

    def create(
        self,
        tx: Tx,
        wdef: WorkflowDef,
        key: ExecutionKey,
        input: Any,
        parent: dict[str, Any] | None = None,
    ) -> tuple[ExecutionRecord, bool]:
        """Create a Standard execution and queue its start; with a name already used, return
        the existing one when the input is the same (``AlreadyExists`` otherwise)."""
        existing = store.load(tx, key)
        if existing is not None:
            if _canonical(existing.input) == _canonical(input):
                return existing, False
            raise AlreadyExists(
                f"execution {key.name!r} of workflow {key.workflow!r} already exists with another "
                "input (ExecutionAlreadyExists); start it under another name, or with the same "
                "input to get the existing execution"
            )
        app = self.app
        store.put_definition(tx, wdef.def_id, wdef.name, wdef.definition)
        self._definitions[wdef.def_id] = wdef.definition
        record = new_execution(
            tx, key, wdef.def_id, wdef.type, input, app.region, app.account, parent
        )
        return record, True

    def definition(self, tx: Tx, def_id: str) -> dict[str, Any]:
        found = self._definitions.get(def_id)
        if found is None:
            found = store.get_definition(tx, def_id)
            if found is None:
                raise ExecutionError(
                    f"the definition {def_id} of an execution is missing from the engine"
                )
            self._definitions[def_id] = found
        return found

    # -- applying events ---------------------------------------------------------------------------

    def apply(
        self, tx: Tx, key: ExecutionKey, events: list[dict[str, Any]]
    ) -> ExecutionRecord | None:
        """Apply events (message bodies) to one execution, in this transaction."""
        record = store.load(tx, key)
        if record is None:
            log.warning("workflow event for execution %s, which does not exist: dropped", key)
            return None
        if record.status != RUNNING:
            return record
        previous = record.status
        definition = self.definition(tx, record.definition)
        state = (
            None
            if record.state is None
            else ExecutionState.from_dict({**record.state, "definition": definition})
        )
        now = tx.now()
        pending = deque(events)
        history: list[dict[str, Any]] = []
        changed = False
        while pending:
            event = pending.popleft()
            kind = event["k"]
            transition: Transition
            if kind in ("start", "stop") and state is None:
                transition = start(
                    definition,
                    record.input,
                    now=now,
                    name=key.name,
                    execution_id=record.arn,
                    state_machine_name=key.workflow,
                    state_machine_id=record.state_machine_arn,
                    seed=_seed(record.arn),
                    validate=False,
                )
                if kind == "stop":  # stopped before it started: its first actions never run
                    history += transition.history
                    transition = stop(
                        transition.state,
                        now=now,
                        error=event.get("error"),
                        cause=event.get("cause"),
                    )
            elif state is None or kind == "start":
                continue
            elif kind == "stop":
                transition = stop(
                    state, now=now, error=event.get("error"), cause=event.get("cause")
                )
            elif kind == "timer" and event["until"] - now > 0.001:
                self._timer(tx, key, event["id"], event["until"], now)  # a long timer: re-arm
                continue
            else:
                transition = step(state, _event(event), now=now)
            if transition.state is state and not transition.actions and not transition.history:
                continue  # a duplicate or late event
            state = transition.state
            history += transition.history
            changed = True
            self._dispatch(tx, record, state, transition.actions, pending, now)
        if not changed or state is None:
            return record
        if state.done:
            record.state = None
        else:
            saved = state.to_dict()
            del saved["definition"]
            record.state = saved
        store.append_history(tx, key, history)
        store.save(tx, record, previous)
        return record

    def _dispatch(
        self,
        tx: Tx,
        record: ExecutionRecord,
        state: ExecutionState,
        actions: list[Any],
        pending: deque[dict[str, Any]],
        now: float,
    ) -> None:
        key = record.key
        tasks = []
        for action in actions:
            if isinstance(action, InvokeTask):
                target = _target(action.resource)
                if target.kind == "execution":
                    self._start_child(tx, record, action, target, pending)
                    continue
                frame = state.frames.get(state.waiting.get(action.id, ""))
                attempt = sum(frame.retries) + 1 if frame is not None else 1
                tasks.append(
                    _message(
                        {
                            "x": str(key),
                            "arn": record.arn,
                            "id": action.id,
                            "resource": action.resource,
                            "input": action.input,
                            "state": action.state_name,
                            "token": action.task_token,
                            "timeout": action.timeout_seconds,
                            "attempt": attempt,
                            "key": idempotency_key(
                                record.arn, action.state_name, action.id, attempt
                            ),
                        }
                    )
                )
            elif isinstance(action, StartTimer):
                self._timer(tx, key, action.id, action.until, now)
            elif isinstance(action, CancelTask):
                child = record.children.pop(action.id, None)
                if child is not None:  # a nested .sync execution nobody waits for any more
                    body = {
                        "x": child,
                        "k": "stop",
                        "error": "States.Aborted",
                        "cause": f"its parent {record.arn} stopped waiting for it",
                    }
                    tx.queue_send(ADVANCE, [_message(body)])
            elif isinstance(action, Finish):
                record.status = action.status
                record.output = action.output
                record.error, record.cause = action.error, action.cause
                record.stopped = now
                if record.parent is not None and record.parent.get("task"):
                    tx.queue_send(ADVANCE, [_message(self._parent_event(record))])
        if tasks:
            tx.queue_send(TASKS, tasks)

    def _timer(self, tx: Tx, key: ExecutionKey, timer: str, until: float, now: float) -> None:
        delay = min(MAX_DELAY, max(0.0, until - now))
        tx.queue_send(
            ADVANCE, [_message({"x": str(key), "k": "timer", "id": timer, "until": until}, delay)]
        )

    # -- nested executions -------------------------------------------------------------------------

    def _start_child(
        self,
        tx: Tx,
        record: ExecutionRecord,
        action: InvokeTask,
        target: Target,
        pending: deque[dict[str, Any]],
    ) -> None:
        def fail(error: str, cause: str) -> None:
            pending.append({"k": "fail", "id": action.id, "error": error, "cause": cause})

        params = action.input
        if not isinstance(params, dict) or not isinstance(params.get("StateMachineArn"), str):
            fail("States.Runtime", "states:startExecution needs Parameters with a StateMachineArn")
            return
        workflow = params["StateMachineArn"].rsplit(":", 1)[-1]
        wdef = self.service.workflows.get(workflow)
        if wdef is None:
            fail(
                "StepFunctions.StateMachineDoesNotExistException",
                f"State Machine Does Not Exist: '{params['StateMachineArn']}'",
            )
            return
        child_input = params.get("Input", {})
        if isinstance(child_input, str):
            with contextlib.suppress(ValueError):
                child_input = json.loads(child_input)
        name = params.get("Name") or str(uuid.uuid5(_CHILD_NAMES, f"{record.arn}#{action.id}"))
        try:
            validate_execution_name(name)
        except ValidationError as exc:
            fail("StepFunctions.InvalidNameException", str(exc))
            return
        waits = target.pattern in ("sync", "sync2")
        if wdef.type == "EXPRESS":
            if waits:
                fail("States.Runtime", f"workflow {workflow!r} is EXPRESS: start it without .sync")
                return
            self.service.enqueue_express(tx, wdef, name, child_input)
            arn = execution_arn(ExecutionKey(workflow, name), self.app.region, self.app.account)
            pending.append(
                {
                    "k": "ok",
                    "id": action.id,
                    "output": {"ExecutionArn": arn, "StartDate": iso_time(tx.now())},
                }
            )
            return
        parent: dict[str, Any] = {"arn": record.arn}
        if waits:
            parent.update(x=str(record.key), task=action.id, mode=target.pattern)
        try:
            child, created = self.create(
                tx, wdef, ExecutionKey(workflow, name), child_input, parent
            )
        except AlreadyExists as exc:
            fail("StepFunctions.ExecutionAlreadyExistsException", str(exc))
            return
        if waits:
            record.children[action.id] = str(child.key)
            if not created and child.status != RUNNING:
                pending.append(self._parent_event(child, action.id, target.pattern))
        elif target.pattern == "request":
            output = {"ExecutionArn": child.arn, "StartDate": iso_time(child.started)}
            pending.append({"k": "ok", "id": action.id, "output": output})

    def _parent_event(
        self, child: ExecutionRecord, task: str | None = None, mode: str | None = None
    ) -> dict[str, Any]:
        """The event that ends a parent's ``.sync`` task when ``child`` has finished."""
        parent = child.parent or {}
        mode = mode or parent.get("mode", "sync")
        data: dict[str, Any] = {
            "ExecutionArn": child.arn,
            "StateMachineArn": child.state_machine_arn,
            "Name": child.key.name,
            "Status": child.status,
            "StartDate": iso_time(child.started),
            "StopDate": iso_time(child.stopped or child.started),
            "Input": child.input if mode == "sync2" else _dumps(child.input),
            "InputDetails": {"Included": True},
        }
        body: dict[str, Any] = {"x": parent.get("x"), "id": task or parent.get("task")}
        if child.status == "SUCCEEDED":
            data["Output"] = child.output if mode == "sync2" else _dumps(child.output)
            data["OutputDetails"] = {"Included": True}
            body.update(k="ok", output=data)
        else:
            if child.error is not None:
                data["Error"] = child.error
            if child.cause is not None:
                data["Cause"] = child.cause
            body.update(k="fail", error="States.TaskFailed", cause=_dumps(data))
        return body

    # -- the advance queue -------------------------------------------------------------------------

    def process_advance(self, limit: int = 10) -> int:
        """Apply up to ``limit`` due events (one transaction); return how many were taken."""
        try:
            return self.atomic(lambda tx: self._advance_batch(tx, limit))
        except EngineError:
            raise
        except Exception:
            log.exception("a workflow step failed; applying the events one at a time")
            return self._advance_one_by_one(limit)

    def _advance_batch(self, tx: Tx, limit: int) -> int:
        messages = tx.queue_receive(ADVANCE, limit, ADVANCE_VISIBILITY)
        groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        for message in messages:
            body = json.loads(message.body)
            groups.setdefault(body["x"], []).append(body)
        for ref, events in groups.items():
            self.apply(tx, _key(ref), events)
        for message in messages:
            tx.queue_delete_message(ADVANCE, message.receipt)
        return len(messages)

    def _advance_one_by_one(self, limit: int) -> int:
        engine = self.app.engine
        done = 0
        for _ in range(limit):
            taken: list[StoredMessage] = engine.atomic(
                lambda tx: tx.queue_receive(ADVANCE, 1, ADVANCE_VISIBILITY)
            )
            if not taken:
                break
            message = taken[0]
            body = json.loads(message.body)
            key = _key(body["x"])

            def apply_one(
                tx: Tx, message: StoredMessage = message, body: dict[str, Any] = body
            ) -> None:
                self.apply(tx, _key(body["x"]), [body])
                tx.queue_delete_message(ADVANCE, message.receipt)

            try:
                self.atomic(apply_one)
            except EngineError:
                raise
            except Exception as exc:
                log.exception("workflow execution %s: applying %s failed", key, body.get("k"))
                if message.receive_count >= MAX_RECEIVES:

                    def give_up(tx: Tx, m: StoredMessage = message, e: Exception = exc) -> None:
                        self._break(tx, _key(json.loads(m.body)["x"]), m, e)

                    self.atomic(give_up)
            done += 1
        return done

    def _break(self, tx: Tx, key: ExecutionKey, message: StoredMessage, exc: Exception) -> None:
        """Fail an execution whose event cannot be applied (a bug, a corrupt record)."""
        tx.queue_delete_message(ADVANCE, message.receipt)
        record = store.load(tx, key)
        if record is None or record.status != RUNNING:
            return
        now = tx.now()
        cause = f"the executor could not apply an event {MAX_RECEIVES} times: {type(exc).__name__}: {exc}"
        last = int((record.state or {}).get("event_id", 0))
        event = {
            "id": last + 1,
            "previousEventId": last,
            "timestamp": iso_time(now),
            "type": "ExecutionFailed",
            "executionFailedEventDetails": {"error": "States.Runtime", "cause": cause},
        }
        record.status, record.error, record.cause, record.stopped = (
            "FAILED",
            "States.Runtime",
            cause,
            now,
        )
        record.state = None
        store.append_history(tx, key, [event])
        store.save(tx, record, RUNNING)
        if record.parent is not None and record.parent.get("task"):
            tx.queue_send(ADVANCE, [_message(self._parent_event(record))])

    # -- callbacks (.waitForTaskToken) and stops ------------------------------------------------------

    def callback(self, key: ExecutionKey, task_id: str, event: dict[str, Any]) -> ExecutionRecord:
        """Apply ``send_task_success/failure/heartbeat`` for a task that waits for its token."""

        def run(tx: Tx) -> ExecutionRecord:
            record = store.load(tx, key)
            if record is None:
                raise ExecutionError(
                    f"task token of execution {key}, which does not exist (TaskDoesNotExist)"
                )
            if not _waits_for_record(record, task_id):
                raise ExecutionError(
                    f"execution {key} no longer waits for this task token: the task ended, timed "
                    f"out or was cancelled, or the execution is {record.status} (TaskTimedOut)"
                )
            applied = self.apply(tx, key, [{**event, "id": task_id}])
            assert applied is not None
            return applied

        return self.atomic(run)


def _event(body: dict[str, Any]) -> Event:
    kind = body["k"]
    if kind == "ok":
        return TaskSucceededEvent(body["id"], body.get("output"))
    if kind == "fail":
        return TaskFailedEvent(
            body["id"], body.get("error") or "States.TaskFailed", body.get("cause")
        )
    if kind == "beat":
        return TaskHeartbeat(body["id"])
    if kind == "timer":
        return TimerFired(body["id"])
    raise ExecutionError(f"unknown workflow event kind {kind!r}")


def _key(ref: str) -> ExecutionKey:
    workflow, _, name = ref.partition("/")
    return ExecutionKey(workflow, name)


def _waits_for_record(record: ExecutionRecord, task_id: str) -> bool:
    return record.status == RUNNING and task_id in ((record.state or {}).get("waiting") or {})
