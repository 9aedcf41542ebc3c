"""The ``workflow`` target kind of bus rules and schedules (``Target.workflow(name)``).

A matched event (or a schedule's tick) starts an execution of the workflow with the delivered
payload as its input — the event, or what ``input``/``input_path``/``input_transformer`` made of
it — inside the routing transaction, as the other direct kinds write: the execution exists if and
only if the routing committed. The workflow is found in the engine (``store.get_declared``, kept
by every app that declares it when it reconciles), so a rule of one app may start a workflow of
another app on the same engine; any process whose app declares the workflow runs it.

Before changing: ``deliver_in_tx`` checks everything before it writes and raises
``DeliveryFailed`` (the delivery is then retried by the deliverer, or dead-lettered), never
anything else; it must not call ``engine.atomic`` (it runs inside the routing transaction).
``register()`` is idempotent and does no I/O: the ``overcast.workflows`` package calls it on
import, and ``Target.validate`` imports that package the first time it meets a workflow target.
"""

from __future__ import annotations

import json
import uuid

from overcast.engine.base import NewMessage, Tx
from overcast.services.bus.delivery import (
    TARGET_KINDS,
    Delivery,
    DeliveryFailed,
    register_target_kind,
)

from . import store
from .executor import ADVANCE, EXPRESS, new_execution
from .tokens import ExecutionKey

__all__ = ["WorkflowKind", "register"]

MAX_INPUT = 262_144  # bytes: Step Functions' limit on an execution's input


class WorkflowKind:
    """Starts an execution in the routing transaction (a direct kind)."""

    direct = True

    def deliver_in_tx(self, tx: Tx, delivery: Delivery) -> None:
        workflow = delivery.dest.rsplit(":", 1)[-1]  # a name, or a state machine ARN
        declared = store.get_declared(tx, workflow)
        if declared is None or tx.queue_get(ADVANCE) is None:
            raise DeliveryFailed(
                "StateMachineDoesNotExist",
                f"workflow {workflow!r} is not declared by any app on this engine",
            )
        if len(delivery.body.encode()) > MAX_INPUT:
            raise DeliveryFailed(
                "InvalidExecutionInput",
                f"the input is over Step Functions' {MAX_INPUT}-byte limit for workflow {workflow!r}",
                retryable=False,
            )
        input = delivery.payload
        name = str(uuid.uuid4())
        if declared["type"] == "EXPRESS":
            if tx.queue_get(EXPRESS) is None:  # pragma: no cover - declared with the service
                raise DeliveryFailed(
                    "StateMachineDoesNotExist", f"workflow {workflow!r}: no executor"
                )
            body = json.dumps({"workflow": workflow, "name": name, "input": input})
            tx.queue_send(EXPRESS, [NewMessage(id=str(uuid.uuid4()), body=body)])
            return
        if store.get_definition(tx, declared["definition"]) is None:
            raise DeliveryFailed(
                "StateMachineDoesNotExist",
                f"workflow {workflow!r}: its definition is missing from the engine",
            )
        new_execution(
            tx,
            ExecutionKey(workflow, name),
            declared["definition"],
            declared["type"],
            input,
            declared["region"],
            declared["account"],
        )

    def deliver(self, delivery: Delivery) -> None:  # pragma: no cover - direct kind
        raise NotImplementedError


def register() -> None:
    """Register the ``workflow`` target kind (once; no I/O)."""
    if not isinstance(TARGET_KINDS.get("workflow"), WorkflowKind):
        register_target_kind("workflow", WorkflowKind())
