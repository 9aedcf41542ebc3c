"""The step machine: ``start`` an execution, feed it one event at a time with ``step``, ``stop`` it.

Each call is a pure function of (definition, execution state, event, ``now``): it returns a new
:class:`~overcast.workflows.asl.model.ExecutionState`, the actions a driver must carry out
(invoke a task, start or cancel a timer, finish) and the history events it produced. States that
need nothing from outside (Pass, Choice, Succeed, Fail, a Map over Pass states, ...) all run within
one call. Before changing: every frame write goes through ``_Stepper.frame`` (copy on first
write), which is what keeps the caller's old state untouched; randomness comes only from the
execution's seed and sequence number, so replaying a step gives the same result.
"""

from __future__ import annotations

import json
from typing import Any

from . import errors as E
from .branches import BranchesMixin
from .choice import evaluate_rule, parse_timestamp
from .dataflow import (
    JSONATA,
    catch_output,
    input_path,
    pass_output,
    plain_output,
    read_value,
    resolve_jsonata,
)
from .errors import StatesError, decide_retry, error_output, find_handler
from .history import iso_time
from .model import (
    ABORTED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    CancelTask,
    CancelTimer,
    Event,
    ExecutionState,
    Finish,
    Frame,
    StartTimer,
    TaskFailed,
    TaskHeartbeat,
    TaskSucceeded,
    TimerFired,
    Transition,
)
from .paths import to_json
from .tasks import TaskMixin
from .validate import assert_valid

__all__ = ["MAX_HISTORY_EVENTS", "iso_time", "start", "step", "stop"]

#: Like Step Functions, an execution fails when its history would grow past this many events.
MAX_HISTORY_EVENTS = 25_000

_RETRYABLE = ("Task", "Parallel", "Map")


def start(
    definition: dict[str, Any],
    input: Any,
    *,
    now: float,
    name: str = "execution",
    execution_id: str | None = None,
    state_machine_name: str = "StateMachine",
    seed: int = 0,
    role_arn: str = "",
    validate: bool = True,
    state_machine_id: str | None = None,
) -> Transition:
    """Begin an execution of ``definition`` with ``input`` at epoch second ``now``.

    Runs every state that needs nothing from outside and returns the first actions (usually
    ``InvokeTask`` or ``StartTimer``; ``Finish`` when the execution already ended). ``seed``
    drives ``States.MathRandom``, ``States.UUID``, ``$random``, ``$uuid`` and retry jitter.
    Raises ``overcast.errors.InvalidDefinition`` when ``validate`` and the definition has
    problems. ``state_machine_id`` is ``$$.StateMachine.Id`` (default: a local ARN from
    ``state_machine_name``).
    """
    if validate:
        assert_valid(definition)
    # A private copy (JSON round trip: faster than deepcopy, and proves the definition is JSON).
    definition = json.loads(json.dumps(definition))
    machine_id = (
        state_machine_id or f"arn:aws:states:local:000000000000:stateMachine:{state_machine_name}"
    )
    state = ExecutionState(
        definition=definition,
        execution_id=execution_id
        or f"arn:aws:states:local:000000000000:execution:{state_machine_name}:{name}",
        name=name,
        state_machine_id=machine_id,
        state_machine_name=state_machine_name,
        input=json.loads(json.dumps(input)),
        start_time=now,
        seed=seed,
        role_arn=role_arn,
    )
    stepper = _Stepper(state, now, fresh=True)
    return stepper.begin()


def step(state: ExecutionState, event: Event, *, now: float) -> Transition:
    """Feed one event (a task result, a heartbeat, a fired timer) to a running execution.

    Events for tasks or timers the execution no longer waits for (duplicates, late arrivals
    after a timeout, anything after the end) are ignored: the same state comes back with no
    actions. ``state`` itself is never modified.
    """
    if state.status != RUNNING or event.id not in state.waiting:
        return Transition(state, [], [])
    stepper = _Stepper(state, now)
    stepper.handle(event)
    return stepper.result()


def stop(
    state: ExecutionState, *, now: float, error: str | None = None, cause: str | None = None
) -> Transition:
    """Abort a running execution (``StopExecution``): status ``ABORTED``, everything cancelled."""
    if state.status != RUNNING:
        return Transition(state, [], [])
    stepper = _Stepper(state, now)
    stepper.finish_execution(ABORTED, None, error, cause)
    return stepper.result()


class _Stepper(TaskMixin, BranchesMixin):
    """Control flow of one step: run frames until they wait, leave states, handle errors."""

    # -- driving -----------------------------------------------------------------------------

    def begin(self) -> Transition:
        s = self.state
        self.emit(
            None,
            "ExecutionStarted",
            {
                "input": to_json(s.input),
                "inputDetails": {"truncated": False},
                "roleArn": s.role_arn,
            },
        )
        root = self.new_frame(
            parent=None, machine=(), state_name=s.definition["StartAt"], input=s.input
        )
        root.last_event = s.event_id
        timeout = s.definition.get("TimeoutSeconds")
        if timeout is not None:
            tid = self.next_id("timer")
            s.timeout_timer = tid
            s.waiting[tid] = "execution"
            self.actions.append(StartTimer(tid, self.now + float(timeout), "execution-timeout"))
        self.queue.append(root.id)
        self.run()
        return self.result()

    def handle(self, event: Event) -> None:
        s = self.state
        if event.id == s.timeout_timer:
            s.waiting.pop(event.id, None)
            self.finish_execution(
                TIMED_OUT, None, E.TIMEOUT, "The execution ran longer than its TimeoutSeconds."
            )
            return
        fid = s.waiting[event.id]
        frame = self.frame(fid)
        sdef = self.state_def(frame)
        if isinstance(event, TaskHeartbeat):
            self.on_heartbeat(frame, event)
        elif isinstance(event, TaskSucceeded | TaskFailed):
            self.on_task_result(frame, sdef, event)
        elif isinstance(event, TimerFired):
            self.on_timer(frame, sdef, event.id)
        self.run()

    def run(self) -> None:
        while self.queue and self.state.status == RUNNING:
            fid = self.queue.popleft()
            if fid in self.state.frames:
                self.advance(self.frame(fid))

    def advance(self, frame: Frame) -> None:
        """Run ``frame`` until it waits for something or ends."""
        while self.state.status == RUNNING:
            if self.state.event_id > MAX_HISTORY_EVENTS:
                self.finish_execution(
                    FAILED,
                    None,
                    E.RUNTIME,
                    f"The execution reached the limit of {MAX_HISTORY_EVENTS} history events.",
                )
                return
            sdef = self.state_def(frame)
            type_ = sdef["Type"]
            if frame.phase == "enter":
                frame.entered_at = self.now
                frame.retries = [0] * len(sdef.get("Retry", ()))
                frame.pending = {}
                self.emit(
                    frame,
                    f"{type_}StateEntered",
                    {"name": frame.state_name, "input": to_json(frame.input)},
                )
                frame.phase = "exec"
            if frame.phase != "exec":
                return
            try:
                getattr(self, f"exec_{type_.lower()}")(frame, sdef)
            except StatesError as exc:
                self.fail_state(frame, sdef, exc.error, exc.cause)
            if frame.phase != "enter" or frame.id not in self.state.frames:
                return

    # -- leaving a state -----------------------------------------------------------------------

    def commit(self, frame: Frame, assigned: dict[str, Any] | None) -> None:
        if not assigned:
            return
        parent = self.state.frames.get(frame.parent) if frame.parent else None
        while parent is not None:
            for name in assigned:
                if name in parent.variables:
                    raise StatesError(
                        E.RUNTIME,
                        f"Cannot assign the variable '{name}' in state '{frame.state_name}': "
                        "it belongs to an outer scope, which inner states can only read.",
                    )
            parent = self.state.frames.get(parent.parent) if parent.parent else None
        frame.variables.update(assigned)

    def exit_state(
        self,
        frame: Frame,
        sdef: dict[str, Any],
        output: Any,
        assigned: dict[str, Any] | None,
        next_name: str | None = None,
    ) -> None:
        """Leave the current state with ``output``: emit its Exited event and move on."""
        try:
            self.commit(frame, assigned)
        except StatesError as exc:
            self.finish_frame(frame, FAILED, None, exc.error, exc.cause)
            return
        details: dict[str, Any] = {"name": frame.state_name, "output": to_json(output)}
        if assigned:
            details["assignedVariables"] = {k: to_json(v) for k, v in assigned.items()}
        self.emit(frame, f"{sdef['Type']}StateExited", details)
        target = next_name if next_name is not None else sdef.get("Next")
        if target is None:  # End: true, or a Succeed state
            self.finish_frame(frame, SUCCEEDED, output)
            return
        frame.state_name = target
        frame.input = output
        frame.phase = "enter"

    def fail_state(self, frame: Frame, sdef: dict[str, Any], error: str, cause: str | None) -> None:
        """The current state failed: retry it, catch the error, or fail the frame."""
        type_ = sdef["Type"]
        if type_ in _RETRYABLE:
            decision = decide_retry(sdef.get("Retry"), frame.retries, error, self.rng().get())
            if decision is not None and decision.delay is not None:
                frame.retries[decision.retrier] += 1
                frame.phase = "retry"
                frame.pending = {}
                self.start_timer(frame, self.now + decision.delay, "retry")
                return
            index = find_handler(sdef.get("Catch"), error)
            if index is not None:
                catcher = sdef["Catch"][index]
                env = self.env(frame, sdef)
                try:
                    output, assigned = catch_output(
                        catcher, frame.input, error_output(error, cause), env
                    )
                except StatesError as exc:
                    self.finish_frame(frame, FAILED, None, exc.error, exc.cause)
                    return
                self.exit_state(frame, sdef, output, assigned, catcher["Next"])
                return
        self.finish_frame(frame, FAILED, None, error, cause)

    def finish_frame(
        self,
        frame: Frame,
        status: str,
        output: Any,
        error: str | None = None,
        cause: str | None = None,
    ) -> None:
        self.cancel_waits(frame)
        frame.phase = "done"
        del self.state.frames[frame.id]
        if frame.parent is None:
            self.finish_execution(status, output, error, cause)
        else:
            self.child_done(frame.parent, frame, status, output, error, cause)

    def finish_execution(
        self, status: str, output: Any, error: str | None, cause: str | None
    ) -> None:
        s = self.state
        for wid in list(s.waiting):
            self.actions.append(CancelTask(wid) if wid.startswith("task-") else CancelTimer(wid))
        s.waiting = {}
        s.frames = {}
        s.status, s.output, s.error, s.cause = status, output, error, cause
        s.stop_time = self.now
        if status == SUCCEEDED:
            self.emit(
                None,
                "ExecutionSucceeded",
                {"output": to_json(output), "outputDetails": {"truncated": False}},
            )
        else:
            details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
            kind = {FAILED: "Failed", TIMED_OUT: "TimedOut", ABORTED: "Aborted"}[status]
            self.emit(None, f"Execution{kind}", details)
        self.actions.append(Finish(status, output, error, cause))
        self.queue.clear()

    # -- the simple states ---------------------------------------------------------------------

    def exec_pass(self, frame: Frame, sdef: dict[str, Any]) -> None:
        output, assigned = pass_output(sdef, frame.input, self.env(frame, sdef))
        self.exit_state(frame, sdef, output, assigned)

    def exec_succeed(self, frame: Frame, sdef: dict[str, Any]) -> None:
        output, _ = plain_output(sdef, frame.input, self.env(frame, sdef))
        self.exit_state(frame, sdef, output, None)

    def exec_fail(self, frame: Frame, sdef: dict[str, Any]) -> None:
        env = self.env(frame, sdef)
        values = []
        for name in ("Error", "Cause"):
            if env.query_language == JSONATA:
                value = resolve_jsonata(sdef.get(name), env.states(frame.input), env, name)
            else:
                value = read_value(sdef, name, frame.input, env)
            if value is not None and not isinstance(value, str):
                raise StatesError(
                    E.RUNTIME, f"The {name} of a Fail state must be a string, got {to_json(value)}"
                )
            values.append(value)
        self.finish_frame(frame, FAILED, None, values[0], values[1])

    def exec_choice(self, frame: Frame, sdef: dict[str, Any]) -> None:
        env = self.env(frame, sdef)
        raw = frame.input
        chosen: dict[str, Any] | None = None
        if env.jsonata:
            states = env.states(raw)
            for rule in sdef.get("Choices", ()):
                verdict = resolve_jsonata(rule.get("Condition"), states, env, "Condition")
                if not isinstance(verdict, bool):
                    raise StatesError(
                        E.QUERY_EVALUATION_ERROR,
                        f"The Condition {rule.get('Condition')!r} returned {to_json(verdict)}, not a boolean.",
                    )
                if verdict:
                    chosen = rule
                    break
        else:
            value = input_path(sdef, raw, env)
            scope = env.scope(value)
            for rule in sdef.get("Choices", ()):
                if evaluate_rule(rule, scope):
                    chosen = rule
                    break
        if chosen is None:
            if "Default" not in sdef:
                raise StatesError(
                    E.NO_CHOICE_MATCHED,
                    f"No Choice rule of state '{frame.state_name}' matched and it has no Default.",
                )
            output, assigned = plain_output(sdef, raw, env)
            self.exit_state(frame, sdef, output, assigned, sdef["Default"])
            return
        if env.jsonata and "Output" in chosen:
            states = env.states(raw)
            output = resolve_jsonata(chosen["Output"], states, env, "Output")
            _, assigned = plain_output(sdef, raw, env, chosen.get("Assign"))
        else:
            output, assigned = plain_output(sdef, raw, env, chosen.get("Assign"))
        self.exit_state(frame, sdef, output, assigned, chosen["Next"])

    def exec_wait(self, frame: Frame, sdef: dict[str, Any]) -> None:
        env = self.env(frame, sdef)
        document = frame.input
        if not env.jsonata and "InputPath" in sdef:
            document = input_path(sdef, frame.input, env)
        seconds = read_value(sdef, "Seconds", document, env)
        timestamp = read_value(sdef, "Timestamp", document, env)
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise StatesError(
                    E.RUNTIME,
                    f"The Wait seconds must be a non-negative integer, got {to_json(seconds)}",
                )
            until = self.now + float(seconds)
        elif timestamp is not None:
            moment = parse_timestamp(timestamp)
            if moment is None:
                raise StatesError(
                    E.RUNTIME,
                    f"The Wait timestamp {to_json(timestamp)} is not an RFC 3339 timestamp",
                )
            until = moment.timestamp()
        else:
            raise StatesError(E.RUNTIME, "The Wait state has no Seconds or Timestamp")
        if until <= self.now:
            output, assigned = plain_output(sdef, frame.input, env)
            self.exit_state(frame, sdef, output, assigned)
            return
        frame.phase = "wait"
        self.start_timer(frame, until, "wait")

    def on_timer(self, frame: Frame, sdef: dict[str, Any], timer: str) -> None:
        self.state.waiting.pop(timer, None)
        frame.waits = [w for w in frame.waits if w != timer]
        if frame.phase == "wait":
            frame.phase = "exec"
            try:
                output, assigned = plain_output(sdef, frame.input, self.env(frame, sdef))
            except StatesError as exc:
                self.fail_state(frame, sdef, exc.error, exc.cause)
            else:
                self.exit_state(frame, sdef, output, assigned)
        elif frame.phase == "retry":
            frame.phase = "exec"
        elif frame.phase == "task":
            self.on_task_timer(frame, sdef, timer)
        if frame.id in self.state.frames and frame.phase in ("enter", "exec"):
            self.queue.append(frame.id)
