"""The workflows service of one app: declared workflows, the executor, and the handles users hold.

``App`` reaches it through the ``WorkflowsAPI`` mixin (``app.workflow()``, ``app.start_execution()``,
...). Declaring validates the definition at once (``InvalidDefinition`` with every problem) and
registers, the first time, the executor's internal queues, its runtime roles and a reconcile hook
that stores the definitions, records each workflow as declared (``store.put_declared``: what bus
and schedule ``workflow`` targets look up) and checks that every Task resource exists in the app.

Before changing: declaring does no I/O beyond reading a definition file (and, when the app has
already opened its engine, recording the declaration at once); everything else that touches the
engine happens on use, through ``app.engine``, so a worker process that imports the app builds
the same service without side effects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overcast.engine.base import NewMessage, Tx
from overcast.errors import (
    ConfigError,
    ExecutionError,
    InvalidDefinition,
    NotFound,
    ValidationError,
)
from overcast.workflows.asl.history import iso_time
from overcast.workflows.asl.validate import validate_definition

from . import store
from .executor import EXPRESS, Executor, queue_specs
from .express import run_in_memory
from .pollers import roles
from .resources import availability_problems, form_problems
from .runner import TaskRunner
from .store import ExecutionDescription, ExecutionSummary
from .tokens import (
    ExecutionKey,
    decode_token,
    execution_arn,
    parse_execution,
    state_machine_arn,
    validate_execution_name,
    validate_workflow_name,
)

if TYPE_CHECKING:
    from overcast.app import App

__all__ = ["ExecutionHandle", "Workflow", "WorkflowDef", "WorkflowService", "load_definition"]

log = logging.getLogger("overcast.workflows")

STANDARD = "STANDARD"
EXPRESS_TYPE = "EXPRESS"
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class WorkflowDef:
    """A declared workflow: its name, definition, type and where the definition came from."""

    name: str
    definition: dict[str, Any]
    type: str
    def_id: str
    source: str


def load_definition(source: Any, base: Path | None = None) -> tuple[dict[str, Any], str]:
    """A definition given as a dict, or a path to an ``.asl.json`` file (relative paths are
    looked up beside ``base``, then in the working directory); returns (definition, source)."""
    if isinstance(source, dict):
        return source, "<dict>"
    if not isinstance(source, str | Path):
        raise ConfigError(
            f"a workflow definition is a dict or a path to a .json file, not {type(source).__name__}"
        )
    path = Path(source)
    candidates = (
        [path] if path.is_absolute() else [*([base / path] if base else []), Path.cwd() / path]
    )
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        looked = ", ".join(str(c.parent) for c in candidates)
        raise ConfigError(f"workflow definition {str(source)!r}: no such file (looked in {looked})")
    try:
        definition = json.loads(found.read_text())
    except OSError as exc:
        raise ConfigError(f"{found}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidDefinition(
            problems=[f"{found}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"]
        ) from None
    if not isinstance(definition, dict):
        raise InvalidDefinition(problems=[f"{found}: a definition is a JSON object"])
    return definition, str(found)


class WorkflowService:
    """Everything workflows keep for one app (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.workflows: dict[str, WorkflowDef] = {}
        self.executor = Executor(self)
        self.tasks = TaskRunner(self.executor)
        for spec in queue_specs():
            app.declare_internal_queue(spec)
        app.runtime_roles.append(roles(self))
        app._reconcile_hooks.append(self._on_reconcile)
        self._checked: set[str] = set()

    # -- declaring -------------------------------------------------------------------------------

    def declare(self, name: str, definition: Any, type: str) -> WorkflowDef:
        validate_workflow_name(name)
        if type not in (STANDARD, EXPRESS_TYPE):
            raise ConfigError(f"workflow {name!r}: type is 'STANDARD' or 'EXPRESS', not {type!r}")
        base = Path(self.app._file).parent if self.app._file else None
        loaded, source = load_definition(definition, base)
        problems = validate_definition(loaded) + form_problems(loaded, type == EXPRESS_TYPE)
        if problems:
            raise InvalidDefinition(
                f"workflow {name!r} ({source}) is invalid:\n  " + "\n  ".join(problems), problems
            )
        wdef = WorkflowDef(name, loaded, type, store.definition_id(loaded), source)
        existing = self.workflows.get(name)
        if existing is not None and (existing.def_id, existing.type) != (wdef.def_id, wdef.type):
            raise ConfigError(
                f"app {self.app.name!r} already has a different workflow named {name!r}"
            )
        self.workflows[name] = wdef
        self._checked.discard(name)
        engine = self.app._engine
        if engine is not None:  # declared after the app opened its engine: record it now
            engine.atomic(lambda tx: self._store_declaration(tx, wdef))
        return wdef

    def _store_declaration(self, tx: Tx, wdef: WorkflowDef) -> None:
        store.put_definition(tx, wdef.def_id, wdef.name, wdef.definition)
        store.put_declared(tx, wdef.name, wdef.def_id, wdef.type, self.app.region, self.app.account)

    def _on_reconcile(self, tx: Tx) -> None:
        for wdef in self.workflows.values():
            self._store_declaration(tx, wdef)
        self.check()

    def check(self, names: list[str] | None = None) -> None:
        """Raise ``ConfigError`` when a workflow names a function or workflow the app lacks."""
        problems = []
        for name in names or list(self.workflows):
            if name in self._checked:
                continue
            wdef = self.workflows[name]
            found = availability_problems(self.app, wdef.definition, set(self.workflows))
            problems += [f"workflow {name!r}: {p}" for p in found]
            if not found:
                self._checked.add(name)
        if problems:
            raise ConfigError(
                "\n  ".join(["the app's workflows name missing resources:", *problems])
            )

    def get(self, name: str) -> WorkflowDef:
        wdef = self.workflows.get(name)
        if wdef is None:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise NotFound(f"app {self.app.name!r} has no workflow {name!r} (workflows: {known})")
        return wdef

    # -- starting -------------------------------------------------------------------------------

    def start(
        self, workflow: str, input: Any, name: str | None, parent: dict[str, Any] | None = None
    ) -> ExecutionHandle:
        wdef = self.get(workflow)
        self.check([workflow])
        name = name or str(uuid.uuid4())
        validate_execution_name(name)
        input = _json(input, f"the input of workflow {workflow!r}")
        key = ExecutionKey(workflow, name)
        if wdef.type == EXPRESS_TYPE:
            self.app.engine.atomic(lambda tx: self.enqueue_express(tx, wdef, name, input))
        else:
            self.executor.atomic(lambda tx: self.executor.create(tx, wdef, key, input, parent))
        return ExecutionHandle(self, key, execution_arn(key, self.app.region, self.app.account))

    def enqueue_express(self, tx: Tx, wdef: WorkflowDef, name: str, input: Any) -> None:
        body = json.dumps({"workflow": wdef.name, "name": name, "input": input})
        tx.queue_send(EXPRESS, [NewMessage(id=str(uuid.uuid4()), body=body)])

    def start_sync(self, workflow: str, input: Any, name: str | None) -> ExecutionDescription:
        wdef = self.get(workflow)
        if wdef.type != EXPRESS_TYPE:
            raise ValidationError(
                f"start_sync_execution runs EXPRESS workflows and {workflow!r} is STANDARD; use "
                "start_execution(...).wait()"
            )
        self.check([workflow])
        name = name or str(uuid.uuid4())
        validate_execution_name(name)
        return self.run_express(wdef, _json(input, f"the input of workflow {workflow!r}"), name)

    def run_express(self, wdef: WorkflowDef, input: Any, name: str) -> ExecutionDescription:
        app = self.app
        description, _ = run_in_memory(
            wdef.definition,
            input,
            workflow=wdef.name,
            name=name,
            app=app,
            clock=app.engine.clock,
            start_child=self._start_child,
            region=app.region,
            account=app.account,
        )
        return description

    def _start_child(self, workflow: str, input: Any, name: str | None) -> Any:
        if isinstance(input, str):
            with contextlib.suppress(ValueError):
                input = json.loads(input)
        handle = self.start(workflow, input, name)
        return {"ExecutionArn": handle.arn, "StartDate": iso_time(self.app.engine.clock.now())}

    def process_express(self) -> int:
        """Run one queued asynchronous Express execution in this thread; 1 if there was one."""
        engine = self.app.engine
        taken = engine.atomic(lambda tx: tx.queue_receive(EXPRESS, 1, 330))
        if not taken:
            return 0
        message = taken[0]
        body = json.loads(message.body)
        wdef = self.workflows.get(body["workflow"])
        if wdef is None:
            log.error(
                "express execution %s: no workflow %r in the app; dropped",
                body["name"],
                body["workflow"],
            )
        else:
            description = self.run_express(wdef, body["input"], body["name"])
            log.info("express execution %s/%s %s", wdef.name, body["name"], description.status)
        engine.atomic(lambda tx: tx.queue_delete_message(EXPRESS, message.receipt))
        return 1

    def trim_history(self) -> int:
        """Delete the history of executions gone for good (``store.HISTORY_HORIZON``); how many
        records went. The runtime calls it every few minutes."""
        engine = self.app.engine
        total = 0
        while True:
            count = engine.atomic(lambda tx: store.trim_history(tx, 1000))
            total += count
            if count < 1000:
                return total

    # -- looking -------------------------------------------------------------------------------

    def describe(self, ref: str) -> ExecutionDescription:
        key = parse_execution(ref)
        record = self.app.engine.read(lambda tx: store.load(tx, key))
        if record is None:
            raise NotFound(f"execution {key} does not exist (ExecutionDoesNotExist)")
        return record.describe()

    def history(self, ref: str) -> list[dict[str, Any]]:
        key = parse_execution(ref)

        def read(tx: Tx) -> list[dict[str, Any]] | None:
            if store.load(tx, key) is None:
                return None
            return store.read_history(tx, key)

        events = self.app.engine.read(read)
        if events is None:
            raise NotFound(f"execution {key} does not exist (ExecutionDoesNotExist)")
        return events

    def list(self, workflow: str | None, status: str | None, limit: int) -> list[ExecutionSummary]:
        if status is not None and status not in STATUSES:
            raise ValidationError(f"status is one of {', '.join(STATUSES)}, not {status!r}")
        names = [self.get(workflow).name] if workflow is not None else sorted(self.workflows)
        statuses = [status] if status else list(STATUSES)

        def read(tx: Tx) -> list[ExecutionSummary]:
            rows = []
            for name in names:
                rows += store.list_summaries(tx, name, statuses, limit)
            rows.sort(key=lambda r: (r.start_date, r.name), reverse=True)
            return rows[:limit]

        return self.app.engine.read(read)

    # -- changing -------------------------------------------------------------------------------

    def stop(self, ref: str, error: str | None, cause: str | None) -> ExecutionDescription:
        key = parse_execution(ref)
        event = {"k": "stop", "error": error, "cause": cause}
        record = self.executor.atomic(lambda tx: self.executor.apply(tx, key, [event]))
        if record is None:
            raise NotFound(f"execution {key} does not exist (ExecutionDoesNotExist)")
        return record.describe()

    def send_task(self, token: str, event: dict[str, Any]) -> None:
        key, task_id = decode_token(token)
        self.executor.callback(key, task_id, event)

    def process(self, max_rounds: int = 100_000) -> int:
        """Drive the executor in this thread until nothing is due (tests, scripts)."""
        total = 0
        for _ in range(max_rounds):
            done = self.executor.process_advance(10)
            done += self.tasks.process_task()
            done += self.process_express()
            if not done:
                return total
            total += done
        raise ExecutionError(
            f"workflows still had work after {max_rounds} rounds; is an execution looping?"
        )


class Workflow:
    """A declared workflow (``app.workflow(...)``): start executions of it and list them."""

    def __init__(self, service: WorkflowService, wdef: WorkflowDef) -> None:
        self._service = service
        self.name = wdef.name
        self.type = wdef.type
        self.definition = wdef.definition
        self.arn = state_machine_arn(wdef.name, service.app.region, service.app.account)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, type={self.type!r})"

    def start(self, input: Any = None, *, name: str | None = None) -> ExecutionHandle:
        """Start an execution (idempotent on ``name``); see ``App.start_execution``."""
        return self._service.start(self.name, input, name)

    def start_sync(self, input: Any = None, *, name: str | None = None) -> ExecutionDescription:
        """Run an EXPRESS execution to its end and return it; see ``App.start_sync_execution``."""
        return self._service.start_sync(self.name, input, name)

    def executions(self, *, status: str | None = None, limit: int = 100) -> list[ExecutionSummary]:
        return self._service.list(self.name, status, limit)


class ExecutionHandle:
    """A started execution: ``describe()``, ``history()``, ``stop()``, ``wait()``."""

    def __init__(self, service: WorkflowService, key: ExecutionKey, arn: str) -> None:
        self._service = service
        self.workflow = key.workflow
        self.name = key.name
        self.arn = arn

    def __repr__(self) -> str:
        return f"ExecutionHandle({self.arn!r})"

    def __str__(self) -> str:
        return self.arn

    def describe(self) -> ExecutionDescription:
        return self._service.describe(self.arn)

    @property
    def status(self) -> str:
        return self.describe().status

    def history(self) -> list[dict[str, Any]]:
        return self._service.history(self.arn)

    def stop(self, *, error: str | None = None, cause: str | None = None) -> ExecutionDescription:
        return self._service.stop(self.arn, error, cause)

    def wait(self, timeout: float = 30.0, *, interval: float = 0.02) -> ExecutionDescription:
        """Wait (real time) until the execution ends, as the runtime runs it; return it."""
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe()
            if description.done:
                return description
            if time.monotonic() >= deadline:
                raise ExecutionError(
                    f"execution {self.arn} is still RUNNING after {timeout:g} s; is the runtime "
                    "(overcast run) running?"
                )
            time.sleep(interval)


def _json(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is not a JSON value: {exc}") from None
