"""Execution records over the engine's primitives: what a durable execution is, once stored.

Layout (every name starts ``overcast:workflows:``):

- kv ``executions`` — pk = workflow, sk = execution name: the record (status, input, output, the
  interpreter's ``ExecutionState`` without its definition, the parent/children links of nested
  executions). Its item version is the optimistic lock every step writes under.
- kv ``by-status`` — pk = ``WORKFLOW|STATUS``, sk = ``START|NAME``: the index ``list`` reads.
- kv ``definitions`` — pk = the definition's hash: each definition an execution ran, so a
  redeployed workflow never changes the definition of an execution already running.
- log ``history`` — one shard per execution, one record per step holding that step's events.
- kv ``declared`` — pk = workflow name: the definition id, type, region and account it was last
  declared with (written when an app reconciles), so that a bus rule or a schedule of any app on
  the engine can start an execution of it inside its own transaction.

Before changing: everything here runs inside the caller's transaction (``tx``); the functions
never open one. A record and its index entry are always written together.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from overcast.engine.base import ABSENT, Tx
from overcast.workflows.asl.history import iso_time

from .tokens import ExecutionKey

__all__ = [
    "BY_STATUS",
    "DECLARED",
    "DEFINITIONS",
    "EXECUTIONS",
    "HISTORY",
    "HISTORY_HORIZON",
    "RETENTION",
    "ExecutionDescription",
    "ExecutionRecord",
    "ExecutionSummary",
    "append_history",
    "create",
    "definition_id",
    "get_declared",
    "get_definition",
    "list_summaries",
    "load",
    "put_declared",
    "put_definition",
    "read_history",
    "save",
    "trim_history",
]

EXECUTIONS = "overcast:workflows:executions"
BY_STATUS = "overcast:workflows:by-status"
DEFINITIONS = "overcast:workflows:definitions"
DECLARED = "overcast:workflows:declared"
HISTORY = "overcast:workflows:history"
RETENTION = 90 * 86_400.0  # seconds a finished execution stays describable, as Step Functions
# history records older than this belong to executions gone for good: a Standard execution runs
# at most a year in Step Functions, and stays describable for RETENTION after it ends
HISTORY_HORIZON = 365 * 86_400.0 + RETENTION

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


@dataclass
class ExecutionRecord:
    """One execution as stored. ``state`` is ``ExecutionState.to_dict()`` minus ``definition``
    (None until the executor has taken the first step)."""

    key: ExecutionKey
    arn: str
    state_machine_arn: str
    type: str
    status: str
    input: Any
    started: float
    definition: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    stopped: float | None = None
    state: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None
    children: dict[str, str] = field(default_factory=dict)
    version: int = 0  # the kv item's version; 0 for a record not stored yet

    def to_value(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "sm": self.state_machine_arn,
            "type": self.type,
            "status": self.status,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
            "started": self.started,
            "stopped": self.stopped,
            "def": self.definition,
            "state": self.state,
            "parent": self.parent,
            "children": self.children,
        }

    @classmethod
    def from_value(cls, key: ExecutionKey, value: dict[str, Any], version: int) -> ExecutionRecord:
        return cls(
            key=key,
            arn=value["arn"],
            state_machine_arn=value["sm"],
            type=value["type"],
            status=value["status"],
            input=value["input"],
            started=value["started"],
            definition=value["def"],
            output=value.get("output"),
            error=value.get("error"),
            cause=value.get("cause"),
            stopped=value.get("stopped"),
            state=value.get("state"),
            parent=value.get("parent"),
            children=dict(value.get("children") or {}),
            version=version,
        )

    def describe(self) -> ExecutionDescription:
        parent = self.parent.get("arn") if self.parent else None
        return ExecutionDescription(
            arn=self.arn,
            workflow=self.key.workflow,
            name=self.key.name,
            status=self.status,
            type=self.type,
            input=self.input,
            output=self.output,
            error=self.error,
            cause=self.cause,
            start_date=self.started,
            stop_date=self.stopped,
            state_machine_arn=self.state_machine_arn,
            parent_arn=parent,
        )


@dataclass(frozen=True)
class ExecutionDescription:
    """What ``describe_execution`` returns (Step Functions' ``DescribeExecution``).

    ``status`` is ``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED``;
    ``output`` is set when it succeeded, ``error``/``cause`` when it did not; dates are epoch
    seconds. ``to_dict()`` gives the AWS shape (input and output as JSON text).
    """

    arn: str
    workflow: str
    name: str
    status: str
    type: str
    input: Any
    output: Any
    error: str | None
    cause: str | None
    start_date: float
    stop_date: float | None
    state_machine_arn: str
    parent_arn: str | None = None

    @property
    def done(self) -> bool:
        """Whether the execution has ended (any status but RUNNING)."""
        return self.status != "RUNNING"

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": iso_time(self.start_date),
            "input": _dumps(self.input),
            "inputDetails": {"included": True},
        }
        if self.stop_date is not None:
            data["stopDate"] = iso_time(self.stop_date)
        if self.status == "SUCCEEDED":
            data["output"] = _dumps(self.output)
            data["outputDetails"] = {"included": True}
        if self.error is not None:
            data["error"] = self.error
        if self.cause is not None:
            data["cause"] = self.cause
        if self.parent_arn is not None:
            data["parentExecutionArn"] = self.parent_arn
        return data


@dataclass(frozen=True)
class ExecutionSummary:
    """One row of ``list_executions`` (Step Functions' ``ListExecutions``)."""

    arn: str
    workflow: str
    name: str
    status: str
    start_date: float
    stop_date: float | None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "executionArn": self.arn,
            "name": self.name,
            "workflow": self.workflow,
            "status": self.status,
            "startDate": iso_time(self.start_date),
        }
        if self.stop_date is not None:
            data["stopDate"] = iso_time(self.stop_date)
        return data


# -- records ---------------------------------------------------------------------------------


def load(tx: Tx, key: ExecutionKey) -> ExecutionRecord | None:
    item = tx.kv_get(EXECUTIONS, key.workflow, key.name)
    if item is None:
        return None
    return ExecutionRecord.from_value(key, item.value, item.version)


def create(tx: Tx, record: ExecutionRecord) -> None:
    """Store a new record (``ConditionFailed`` if the name is taken) and index it."""
    item = tx.kv_put(
        EXECUTIONS, record.key.workflow, record.key.name, record.to_value(), condition=ABSENT
    )
    record.version = item.version
    _index(tx, record)


def save(tx: Tx, record: ExecutionRecord, previous_status: str) -> None:
    """Write a record back under its version (``ConditionFailed`` if another step wrote it
    since it was loaded); move its index entry when its status changed."""
    done = record.status != "RUNNING"
    expires = (record.stopped or tx.now()) + RETENTION if done else None
    item = tx.kv_put(
        EXECUTIONS,
        record.key.workflow,
        record.key.name,
        record.to_value(),
        condition=record.version,
        expires_at=expires,
    )
    record.version = item.version
    if record.status != previous_status:
        tx.kv_delete(BY_STATUS, _index_pk(record.key.workflow, previous_status), _index_sk(record))
        _index(tx, record, expires)


def _index_pk(workflow: str, status: str) -> str:
    return f"{workflow}|{status}"


def _index_sk(record: ExecutionRecord) -> str:
    return f"{record.started:017.6f}|{record.key.name}"


def _index(tx: Tx, record: ExecutionRecord, expires: float | None = None) -> None:
    tx.kv_put(
        BY_STATUS,
        _index_pk(record.key.workflow, record.status),
        _index_sk(record),
        {"arn": record.arn, "started": record.started, "stopped": record.stopped},
        expires_at=expires,
    )


def list_summaries(
    tx: Tx, workflow: str, statuses: list[str], limit: int
) -> list[ExecutionSummary]:
    """Executions of ``workflow`` with one of ``statuses``, newest first."""
    rows: list[ExecutionSummary] = []
    for status in statuses:
        for item in tx.kv_query(BY_STATUS, _index_pk(workflow, status), limit=limit, reverse=True):
            name = item.sk.partition("|")[2]
            rows.append(
                ExecutionSummary(
                    arn=item.value["arn"],
                    workflow=workflow,
                    name=name,
                    status=status,
                    start_date=item.value["started"],
                    stop_date=item.value.get("stopped"),
                )
            )
    rows.sort(key=lambda r: (r.start_date, r.name), reverse=True)
    return rows[:limit]


# -- history -----------------------------------------------------------------------------------


def append_history(tx: Tx, key: ExecutionKey, events: list[dict[str, Any]]) -> None:
    if events:
        tx.log_append(HISTORY, str(key), _dumps(events))


def read_history(tx: Tx, key: ExecutionKey) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        records = tx.log_read(HISTORY, str(key), after=after, limit=500)
        for record in records:
            events.extend(json.loads(record.data))
        if len(records) < 500:
            return events
        after = records[-1].seq


def trim_history(tx: Tx, limit: int = 1000) -> int:
    """Delete up to ``limit`` history records appended more than ``HISTORY_HORIZON`` ago."""
    return tx.log_trim(HISTORY, tx.now() - HISTORY_HORIZON, limit)


# -- definitions -------------------------------------------------------------------------------


def definition_id(definition: dict[str, Any]) -> str:
    """A stable id of a definition's content (its canonical JSON's hash)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def put_definition(tx: Tx, def_id: str, workflow: str, definition: dict[str, Any]) -> None:
    if tx.kv_get(DEFINITIONS, def_id) is None:
        tx.kv_put(DEFINITIONS, def_id, "", {"workflow": workflow, "definition": definition})


def get_definition(tx: Tx, def_id: str) -> dict[str, Any] | None:
    item = tx.kv_get(DEFINITIONS, def_id)
    return None if item is None else item.value["definition"]


def put_declared(tx: Tx, workflow: str, def_id: str, type: str, region: str, account: str) -> None:
    """Record that ``workflow`` is declared with this definition (stored beforehand)."""
    value = {"definition": def_id, "type": type, "region": region, "account": account}
    item = tx.kv_get(DECLARED, workflow)
    if item is None or item.value != value:
        tx.kv_put(DECLARED, workflow, "", value)


def get_declared(tx: Tx, workflow: str) -> dict[str, Any] | None:
    """``{"definition", "type", "region", "account"}`` of a declared workflow, or None."""
    item = tx.kv_get(DECLARED, workflow)
    return None if item is None else dict(item.value)
