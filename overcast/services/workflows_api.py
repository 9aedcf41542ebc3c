"""The App's methods for workflows (state machines run by the durable executor).

Mixed into ``App``; everything here only registers (no I/O at import time) and reaches the
engine through ``self.engine``, the runtime through ``self.runtime_roles``. The work is done by
``overcast.workflows.service.WorkflowService``, created on first use and kept on the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pathlib import Path

    from overcast.app import App
    from overcast.workflows.service import ExecutionHandle, Workflow, WorkflowService
    from overcast.workflows.store import ExecutionDescription, ExecutionSummary


def _service(api: WorkflowsAPI) -> WorkflowService:
    app = cast("App", api)
    service: WorkflowService | None = app.__dict__.get("_workflow_service")
    if service is None:
        from overcast.workflows.service import WorkflowService

        with app._lock:
            service = app.__dict__.get("_workflow_service")
            if service is None:
                service = WorkflowService(app)
                app.__dict__["_workflow_service"] = service
    return service


def _ref(execution: Any) -> str:
    return execution.arn if hasattr(execution, "arn") else execution  # type: ignore[no-any-return]


class WorkflowsAPI:
    """``app.workflow()``, ``app.start_execution()`` and the execution handles."""

    def workflow(
        self, name: str, definition: dict[str, Any] | str | Path, *, type: str = "STANDARD"
    ) -> Workflow:
        """Declare a workflow from an ASL definition (a dict, or a path to an ``.asl.json`` file
        beside the app's module) and return its handle.

        The definition is validated at once: ``InvalidDefinition`` lists every problem with its
        path. Task ``Resource``s name app functions (``"charge"`` or
        ``arn:aws:lambda:REGION:ACCOUNT:function:charge``), ``arn:aws:states:::lambda:invoke``,
        ``arn:aws:states:::sqs:sendMessage``, ``arn:aws:states:::sns:publish``,
        ``arn:aws:states:::events:putEvents`` and ``arn:aws:states:::states:startExecution``
        (with ``.sync``/``.sync:2``), each optionally ``.waitForTaskToken``. ``type="STANDARD"``
        executions are durable (every step committed in the engine, resumed after a crash);
        ``"EXPRESS"`` executions run in memory, at-least-once.
        """
        from overcast.workflows.service import Workflow

        service = _service(self)
        return Workflow(service, service.declare(name, definition, type))

    @property
    def workflows(self) -> dict[str, Workflow]:
        """The declared workflows by name."""
        from overcast.workflows.service import Workflow

        service = _service(self)
        return {name: Workflow(service, wdef) for name, wdef in service.workflows.items()}

    def start_execution(
        self, workflow: str, input: Any = None, execution_name: str | None = None
    ) -> ExecutionHandle:
        """Start an execution of ``workflow`` with ``input`` and return its handle at once.

        Idempotent on ``execution_name``: the same name with the same input gives the same
        execution (started once); with another input, ``AlreadyExists`` (Step Functions'
        ``ExecutionAlreadyExists``). The runtime (``overcast run``) runs it.
        """
        return _service(self).start(workflow, input, execution_name)

    def start_sync_execution(
        self, workflow: str, input: Any = None, execution_name: str | None = None
    ) -> ExecutionDescription:
        """Run an EXPRESS execution in this process to its end and return its description."""
        return _service(self).start_sync(workflow, input, execution_name)

    def describe_execution(self, execution: str | ExecutionHandle) -> ExecutionDescription:
        """An execution (by ARN, ``WORKFLOW/NAME`` or handle): status, input, output, error."""
        return _service(self).describe(_ref(execution))

    def execution_history(self, execution: str | ExecutionHandle) -> list[dict[str, Any]]:
        """An execution's history events, as Step Functions' ``GetExecutionHistory`` gives them."""
        return _service(self).history(_ref(execution))

    def stop_execution(
        self,
        execution: str | ExecutionHandle,
        *,
        error: str | None = None,
        cause: str | None = None,
    ) -> ExecutionDescription:
        """Stop a running execution (status ``ABORTED``); a finished one is left as it is."""
        return _service(self).stop(_ref(execution), error, cause)

    def list_executions(
        self, workflow: str | None = None, *, status: str | None = None, limit: int = 100
    ) -> list[ExecutionSummary]:
        """Executions of one workflow (or all), newest first, optionally of one ``status``."""
        return _service(self).list(workflow, status, limit)

    def send_task_success(self, token: str, output: Any = None) -> None:
        """Complete the ``.waitForTaskToken`` task whose ``$$.Task.Token`` is ``token``."""
        from overcast.workflows.service import _json

        _service(self).send_task(token, {"k": "ok", "output": _json(output, "the task output")})

    def send_task_failure(
        self, token: str, error: str | None = None, cause: str | None = None
    ) -> None:
        """Fail the ``.waitForTaskToken`` task whose ``$$.Task.Token`` is ``token``."""
        _service(self).send_task(token, {"k": "fail", "error": error, "cause": cause})

    def send_task_heartbeat(self, token: str) -> None:
        """Tell a ``.waitForTaskToken`` task with ``HeartbeatSeconds`` that its worker lives."""
        _service(self).send_task(token, {"k": "beat"})

    def process_workflows(self) -> int:
        """Run the workflow executor in this thread until nothing is due: every event whose time
        has come, every queued task and Express execution. Returns how much it processed.

        ``overcast run`` does this continuously; call it in tests (with a ``ManualClock``:
        ``clock.advance(...)`` makes Waits and retries due) and in scripts.
        """
        return _service(self).process()
