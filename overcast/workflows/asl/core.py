"""The stepper's bookkeeping: copy-on-write frames, ids, randomness, history events, timers.

``StepperCore`` is the base of the interpreter's ``_Stepper`` and of its Task and Parallel/Map
mixins. Before changing: ``frame()`` is the only way to get a frame you may write to (it copies
the frame the first time a step touches it), and ids/randomness come from the execution's
sequence number only, so that a step replayed on the same state gives the same result.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import Any

from .dataflow import JSONPATH, Env
from .history import details_key, iso_time
from .intrinsics import SeededRandom
from .model import Action, CancelTask, CancelTimer, ExecutionState, Frame, StartTimer, Transition

__all__ = ["StepperCore"]


class StepperCore:
    """One step's worth of work on a private copy of an execution state."""

    def __init__(self, state: ExecutionState, now: float, fresh: bool = False) -> None:
        if not fresh:
            state = copy.copy(state)
            state.frames = dict(state.frames)
            state.waiting = dict(state.waiting)
        self.state = state
        self.now = now
        self.actions: list[Action] = []
        self.history: list[dict[str, Any]] = []
        self.queue: deque[str] = deque()
        self._owned: set[str] = set(state.frames) if fresh else set()
        self._machines: dict[tuple[str | int, ...], dict[str, Any]] = {}
        self.top_language = state.definition.get("QueryLanguage", JSONPATH)

    # -- bookkeeping -------------------------------------------------------------------------

    def result(self) -> Transition:
        return Transition(self.state, self.actions, self.history)

    def frame(self, fid: str) -> Frame:
        """The frame ``fid``, copied the first time this step writes to it."""
        frame = self.state.frames[fid]
        if fid not in self._owned:
            frame = frame.clone()
            self.state.frames[fid] = frame
            self._owned.add(fid)
        return frame

    def new_frame(self, **fields: Any) -> Frame:
        frame = Frame(id=self.next_id("f"), **fields)
        self.state.frames[frame.id] = frame
        self._owned.add(frame.id)
        return frame

    def next_id(self, prefix: str) -> str:
        self.state.seq += 1
        return f"{prefix}{self.state.seq}" if prefix == "f" else f"{prefix}-{self.state.seq}"

    def rng(self) -> SeededRandom:
        self.state.seq += 1
        return SeededRandom(self.state.seed * 1_000_003 + self.state.seq)

    def emit(self, frame: Frame | None, type_: str, details: dict[str, Any] | None = None) -> None:
        self.state.event_id += 1
        event: dict[str, Any] = {
            "id": self.state.event_id,
            "previousEventId": frame.last_event if frame else self.state.event_id - 1,
            "timestamp": iso_time(self.now),
            "type": type_,
        }
        if details is not None:
            event[details_key(type_)] = details
        if frame is not None:
            frame.last_event = self.state.event_id
        self.history.append(event)

    def wait_for(self, frame: Frame, wid: str) -> None:
        self.state.waiting[wid] = frame.id
        frame.waits.append(wid)

    def start_timer(self, frame: Frame, until: float, purpose: str) -> str:
        tid = self.next_id("timer")
        self.actions.append(StartTimer(tid, until, purpose))
        self.wait_for(frame, tid)
        return tid

    def cancel_waits(self, frame: Frame, keep: str | None = None) -> None:
        for wid in frame.waits:
            if wid == keep:
                continue
            self.state.waiting.pop(wid, None)
            self.actions.append(CancelTask(wid) if wid.startswith("task-") else CancelTimer(wid))
        frame.waits = []

    # -- definition access ---------------------------------------------------------------------

    def machine(self, path: tuple[str | int, ...]) -> dict[str, Any]:
        found = self._machines.get(path)
        if found is None:
            node: Any = self.state.definition
            for key in path:
                node = node[key]
            found = self._machines[path] = node
        return found

    def state_def(self, frame: Frame) -> dict[str, Any]:
        states: dict[str, Any] = self.machine(frame.machine)["States"]
        return states[frame.state_name]  # type: ignore[no-any-return]

    def visible_variables(self, frame: Frame) -> dict[str, Any]:
        chain = []
        current: Frame | None = frame
        while current is not None:
            chain.append(current.variables)
            current = self.state.frames.get(current.parent) if current.parent else None
        if len(chain) == 1:
            return chain[0]
        merged: dict[str, Any] = {}
        for scope in reversed(chain):
            merged.update(scope)
        return merged

    def context(self, frame: Frame, sdef: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        return {
            "Execution": {
                "Id": s.execution_id,
                "Input": s.input,
                "Name": s.name,
                "RoleArn": s.role_arn,
                "StartTime": iso_time(s.start_time),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": iso_time(frame.entered_at),
                "Name": frame.state_name,
                "RetryCount": sum(frame.retries),
            },
            "StateMachine": {"Id": s.state_machine_id, "Name": s.state_machine_name},
        }

    def env(self, frame: Frame, sdef: dict[str, Any]) -> Env:
        return Env(
            query_language=sdef.get("QueryLanguage", self.top_language),
            context=self.context(frame, sdef),
            variables=self.visible_variables(frame),
            now=self.now,
            rng=self.rng(),
        )

    # -- implemented by the interpreter's _Stepper -----------------------------------------------

    def child_done(
        self,
        parent_id: str,
        child: Frame,
        status: str,
        output: Any,
        error: str | None,
        cause: str | None,
    ) -> None:
        raise NotImplementedError

    def fail_state(self, frame: Frame, sdef: dict[str, Any], error: str, cause: str | None) -> None:
        raise NotImplementedError

    def exit_state(
        self,
        frame: Frame,
        sdef: dict[str, Any],
        output: Any,
        assigned: dict[str, Any] | None,
        next_name: str | None = None,
    ) -> None:
        raise NotImplementedError
