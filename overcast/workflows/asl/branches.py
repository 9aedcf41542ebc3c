"""Parallel and Map: states that run nested executions (child frames) of the same step machine.

A Parallel state starts one child frame per branch; a Map state one per item (or batch), at most
``MaxConcurrency`` at a time. A child reports back through ``child_done``; the parent state ends
when every child has, or fails as soon as one fails (beyond ``ToleratedFailureCount`` /
``ToleratedFailurePercentage`` for a Map), stopping the others. Before changing: children are
created and finished inside ``_Stepper`` steps, so everything here must go through the stepper's
``frame``/``new_frame`` helpers (copy on write) and queue frames rather than recurse into them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import errors as E
from .core import StepperCore
from .dataflow import (
    Env,
    effective_input,
    read_value,
    resolve_jsonata,
    resolve_template,
    result_output,
)
from .errors import StatesError, error_output
from .intrinsics import read_path
from .model import SUCCEEDED, CancelTask, CancelTimer, Frame
from .paths import to_json

__all__ = ["BranchesMixin"]


class BranchesMixin(StepperCore):
    """Parallel and Map handling for the interpreter's stepper."""

    # -- Parallel ------------------------------------------------------------------------------

    def exec_parallel(self, frame: Frame, sdef: dict[str, Any]) -> None:
        env = self.env(frame, sdef)
        effective = effective_input(sdef, frame.input, env)
        branches = sdef["Branches"]
        self.emit(frame, "ParallelStateStarted")
        frame.phase = "children"
        frame.pending = {
            "kind": "parallel",
            "results": [None] * len(branches),
            "children": {},
            "left": len(branches),
        }
        for index, branch in enumerate(branches):
            child = self.new_frame(
                parent=frame.id,
                machine=frame.machine + ("States", frame.state_name, "Branches", index),
                state_name=branch["StartAt"],
                input=effective,
                index=index,
                last_event=frame.last_event,
            )
            frame.pending["children"][child.id] = index
            self.queue.append(child.id)

    # -- Map -------------------------------------------------------------------------------------

    def exec_map(self, frame: Frame, sdef: dict[str, Any]) -> None:
        env = self.env(frame, sdef)
        raw = frame.input
        if env.jsonata:
            document = raw
            items = (
                resolve_jsonata(sdef["Items"], env.states(raw), env, "Items")
                if "Items" in sdef
                else raw
            )
        else:
            document = effective_input(sdef, raw, env, parameters=False)
            items = read_path(sdef.get("ItemsPath", "$"), env.scope(document), "ItemsPath")
        if not isinstance(items, list):
            raise StatesError(
                E.RUNTIME,
                f"The Map state '{frame.state_name}' needs a JSON array of items, got {to_json(items)}",
            )
        selector_key = (
            "ItemSelector"
            if "ItemSelector" in sdef
            else "Parameters"
            if "Parameters" in sdef
            else None
        )
        inputs: list[Any] = []
        for index, value in enumerate(items):
            if selector_key is None or (env.jsonata and selector_key == "Parameters"):
                inputs.append(value)
                continue
            env.context["Map"] = {"Item": {"Index": index, "Value": value}}
            selector = sdef[selector_key]
            if env.jsonata:
                inputs.append(resolve_jsonata(selector, env.states(raw), env, selector_key))
            else:
                inputs.append(resolve_template(selector, document, env, selector_key))
        env.context.pop("Map", None)
        if "ItemBatcher" in sdef:
            inputs = self._batches(sdef["ItemBatcher"], inputs, document, env)
        limit = _count(read_value(sdef, "MaxConcurrency", document, env), "MaxConcurrency")
        tolerated = _count(
            read_value(sdef, "ToleratedFailureCount", document, env), "ToleratedFailureCount"
        )
        percentage = read_value(sdef, "ToleratedFailurePercentage", document, env)
        if percentage is not None and (
            isinstance(percentage, bool)
            or not isinstance(percentage, int | float)
            or not 0 <= percentage <= 100
        ):
            raise StatesError(
                E.RUNTIME, f"ToleratedFailurePercentage must be 0-100, got {to_json(percentage)}"
            )
        self.emit(frame, "MapStateStarted", {"length": len(inputs)})
        frame.phase = "children"
        frame.pending = {
            "kind": "map",
            "inputs": inputs,
            "results": [None] * len(inputs),
            "children": {},
            "next": 0,
            "left": len(inputs),
            "failures": 0,
            "limit": limit or 0,
            "tolerated": tolerated,
            "percentage": percentage,
        }
        if not inputs:
            self._children_succeeded(frame, sdef)
            return
        self._launch(frame, sdef)

    def _batches(
        self, batcher: dict[str, Any], inputs: list[Any], document: Any, env: Env
    ) -> list[Any]:
        max_items = _count(
            read_value(batcher, "MaxItemsPerBatch", document, env), "MaxItemsPerBatch"
        )
        max_bytes = _count(
            read_value(batcher, "MaxInputBytesPerBatch", document, env), "MaxInputBytesPerBatch"
        )
        extra: Any = {}
        if "BatchInput" in batcher:
            if env.jsonata:
                extra = resolve_jsonata(
                    batcher["BatchInput"], env.states(document), env, "BatchInput"
                )
            else:
                extra = resolve_template(batcher["BatchInput"], document, env, "BatchInput")
        batches: list[list[Any]] = []
        size = 0
        for item in inputs:
            item_size = len(json.dumps(item, separators=(",", ":")))
            current = batches[-1] if batches else None
            if (
                current is None
                or (max_items and len(current) >= max_items)
                or (max_bytes and size + item_size > max_bytes and current)
            ):
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += item_size
        out = []
        for batch in batches:
            entry = {"Items": batch}
            if extra:
                entry["BatchInput"] = extra
            out.append(entry)
        return out

    def _launch(self, frame: Frame, sdef: dict[str, Any]) -> None:
        pending = frame.pending
        key = "ItemProcessor" if "ItemProcessor" in sdef else "Iterator"
        machine = frame.machine + ("States", frame.state_name, key)
        start_at = sdef[key]["StartAt"]
        inputs = pending["inputs"]
        while pending["next"] < len(inputs) and (
            not pending["limit"] or len(pending["children"]) < pending["limit"]
        ):
            index = pending["next"]
            pending["next"] = index + 1
            self.emit(frame, "MapIterationStarted", {"name": frame.state_name, "index": index})
            child = self.new_frame(
                parent=frame.id,
                machine=machine,
                state_name=start_at,
                input=inputs[index],
                index=index,
                last_event=frame.last_event,
            )
            pending["children"][child.id] = index
            self.queue.append(child.id)

    # -- children reporting back -------------------------------------------------------------------

    def child_done(
        self,
        parent_id: str,
        child: Frame,
        status: str,
        output: Any,
        error: str | None,
        cause: str | None,
    ) -> None:
        parent = self.frame(parent_id)
        pending = parent.pending
        if parent.phase != "children" or child.id not in pending.get("children", {}):
            return
        sdef = self.state_def(parent)
        is_map = pending["kind"] == "map"
        del pending["children"][child.id]
        index = child.index if child.index is not None else 0
        detail = {"name": parent.state_name, "index": index}
        if status == SUCCEEDED:
            pending["results"][index] = output
            pending["left"] -= 1
            if is_map:
                self.emit(parent, "MapIterationSucceeded", detail)
        else:
            if not is_map:
                self._children_failed(parent, sdef, error or "", cause)
                return
            self.emit(parent, "MapIterationFailed", detail)
            pending["failures"] += 1
            if not self._tolerates(pending):
                if pending["tolerated"] is None and pending["percentage"] is None:
                    self._children_failed(parent, sdef, error or "", cause)
                else:
                    self._children_failed(
                        parent,
                        sdef,
                        E.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        f"The Map state '{parent.state_name}' failed because {pending['failures']} of "
                        f"{len(pending['inputs'])} iterations failed, more than it tolerates.",
                    )
                return
            pending["results"][index] = error_output(error or "", cause)
            pending["left"] -= 1
        if pending["left"] == 0:
            self._children_succeeded(parent, sdef)
        elif is_map:
            self._launch(parent, sdef)

    def _tolerates(self, pending: dict[str, Any]) -> bool:
        failures, total = pending["failures"], len(pending["inputs"])
        count, percentage = pending["tolerated"], pending["percentage"]
        if count is None and percentage is None:
            return False
        if count is not None and failures > count:
            return False
        return percentage is None or failures * 100 <= percentage * total

    def _children_succeeded(self, frame: Frame, sdef: dict[str, Any]) -> None:
        kind = "Map" if frame.pending["kind"] == "map" else "Parallel"
        results = frame.pending["results"]
        self.emit(frame, f"{kind}StateSucceeded")
        frame.phase = "exec"
        frame.pending = {}
        try:
            output, assigned = result_output(sdef, frame.input, results, self.env(frame, sdef))
        except StatesError as exc:
            self.fail_state(frame, sdef, exc.error, exc.cause)
        else:
            self.exit_state(frame, sdef, output, assigned)
        if frame.id in self.state.frames and frame.phase == "enter":
            self.queue.append(frame.id)

    def _children_failed(
        self, frame: Frame, sdef: dict[str, Any], error: str, cause: str | None
    ) -> None:
        kind = "Map" if frame.pending["kind"] == "map" else "Parallel"
        for child_id in list(frame.pending["children"]):
            self.abort_frame(child_id)
            if kind == "Map":
                index = frame.pending["children"][child_id]
                self.emit(frame, "MapIterationAborted", {"name": frame.state_name, "index": index})
        self.emit(frame, f"{kind}StateFailed")
        frame.phase = "exec"
        frame.pending = {}
        self.fail_state(frame, sdef, error, cause)
        if frame.id in self.state.frames and frame.phase in ("enter", "exec"):
            self.queue.append(frame.id)

    def abort_frame(self, fid: str) -> None:
        """Stop frame ``fid`` and everything under it, cancelling what they wait for."""
        frame = self.state.frames.get(fid)
        if frame is None:
            return
        for wid in frame.waits:
            self.state.waiting.pop(wid, None)
            self.actions.append(CancelTask(wid) if wid.startswith("task-") else CancelTimer(wid))
        for child_id in list(frame.pending.get("children", {})):
            self.abort_frame(child_id)
        del self.state.frames[fid]


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or not math.isfinite(value)
    ):
        raise StatesError(E.RUNTIME, f"{name} must be a non-negative integer, got {to_json(value)}")
    return int(value)
