"""Archives (every event of a bus, or those a pattern matches, kept for a retention period) and
replays of a time range from them, over the engine's log primitive.

An archive is the log stream ``overcast:archive:NAME`` (one shard); the router appends to it in
the same transaction that fans the event out, so an archived event was routed and vice versa.
A replay reads the archive in pages and puts the events whose ingestion time lies in
``[start, end]`` back on the bus's ingress queue, marked with ``replay-name`` (and, optionally,
restricted to some rules); replayed events are not archived again. Its progress is a kv record
updated in the same transaction as each page, so a replay interrupted half way resumes where it
stopped when run again under the same name.

Before changing: the time range is the time the bus received an event (``ingested``), not the
event's own ``time`` field, which a producer may set to anything.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from overcast.engine.base import ABSENT, Engine, LogRecord, NewMessage, Tx
from overcast.errors import (
    AlreadyExists,
    ConditionFailed,
    InvalidPattern,
    NotFound,
    ValidationError,
)
from overcast.matching import RuleSet, validate_pattern
from overcast.services.bus.events import archive_arn, iso_time
from overcast.services.queues import INTERNAL_PREFIX

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,48}$")
_REPLAY = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REPLAYS = f"{INTERNAL_PREFIX}replays"
PAGE = 500


def archive_stream(name: str) -> str:
    return f"{INTERNAL_PREFIX}archive:{name}"


@dataclass(frozen=True)
class Archive:
    """An archive of a bus: every event (``pattern=None``) or those matching ``pattern``, kept
    ``retention_days`` days (0: forever)."""

    name: str
    bus: str
    pattern: dict[str, Any] | None = None
    retention_days: int = 0
    description: str | None = None

    def arn(self, region: str, account: str) -> str:
        return archive_arn(self.name, region, account)

    def describe(self, region: str, account: str) -> dict[str, Any]:
        return {
            "ArchiveName": self.name,
            "ArchiveArn": self.arn(region, account),
            "EventSourceArn": f"arn:aws:events:{region}:{account}:event-bus/{self.bus}",
            "EventPattern": None if self.pattern is None else json.dumps(self.pattern, separators=(",", ":")),
            "RetentionDays": self.retention_days,
            "Description": self.description,
        }


def make_archive(bus: str, name: str, pattern: Mapping[str, Any] | str | None, retention_days: int,
                 description: str | None) -> Archive:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"archive name {name!r}: use 1-48 letters, digits, '.', '_' or '-'")
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 0:
        raise ValidationError(f"archive {name!r}: retention_days must be a whole number of days >= 0 (0 keeps events forever)")
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except ValueError as exc:
            raise InvalidPattern(f"archive {name!r}: the event pattern is not valid JSON: {exc}") from None
    if pattern is not None:
        if not isinstance(pattern, Mapping):
            raise InvalidPattern(f"archive {name!r}: the event pattern must be a JSON object")
        try:
            validate_pattern(pattern)
        except InvalidPattern as exc:
            raise InvalidPattern(f"archive {name!r}: {exc}") from None
        pattern = dict(pattern)
    return Archive(name, bus, pattern, retention_days, description)


class BusArchives:
    """The archives of one bus, with their patterns compiled."""

    def __init__(self, bus: str) -> None:
        self.bus = bus
        self.archives: dict[str, Archive] = {}
        self._everything: list[str] = []
        self._set: RuleSet[str] = RuleSet()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.archives)

    def add(self, archive: Archive) -> None:
        with self._lock:
            if archive.pattern is None:
                self._everything.append(archive.name)
            else:
                self._set.add(archive.name, archive.pattern)
            self.archives[archive.name] = archive

    def match(self, event: Mapping[str, Any]) -> list[str]:
        """The archives that keep ``event``."""
        if not self.archives:
            return []
        with self._lock:
            return [*self._everything, *self._set.match(event)]


def append_in_tx(tx: Tx, archive: str, record: Mapping[str, Any]) -> None:
    data = {"event": record["event"], "ingested": record.get("ingested")}
    if record.get("ce"):
        data["ce"] = record["ce"]
    tx.log_append(archive_stream(archive), "0", json.dumps(data, separators=(",", ":")))


def _page(engine: Engine, stream: str, after: int) -> list[LogRecord]:
    return engine.read(lambda tx: tx.log_read(stream, "0", after=after, limit=PAGE))


def _trim(engine: Engine, stream: str, before: float) -> int:
    return engine.atomic(lambda tx: tx.log_trim(stream, before, 1000))


def archive_stats(engine: Engine, archive: str, *, limit: int = 1_000_000) -> dict[str, Any]:
    """Count an archive's events and bytes (reads it through; for listings)."""
    stream = archive_stream(archive)
    count = size = 0
    after = 0
    first = last = None
    while count < limit:
        page = _page(engine, stream, after)
        for record in page:
            count += 1
            size += len(record.data.encode())
            first = record.appended_at if first is None else first
            last = record.appended_at
        if len(page) < PAGE:
            break
        after = page[-1].seq
    return {"events": count, "bytes": size, "first": first, "last": last}


def trim(engine: Engine, archive: Archive) -> int:
    """Delete the events of ``archive`` older than its retention; return how many."""
    if not archive.retention_days:
        return 0
    stream = archive_stream(archive.name)
    removed = 0
    while True:
        cutoff = engine.clock.now() - archive.retention_days * 86_400
        count = _trim(engine, stream, cutoff)
        removed += count
        if count < 1000:
            return removed


def replay(
    engine: Engine,
    archive: Archive,
    ingress: str,
    *,
    start: float,
    end: float,
    name: str | None = None,
    rules: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Put the events ``archive`` received in ``[start, end]`` back on its bus; see the module
    docstring. Returns the replay's final state."""
    name = name or f"{archive.name}-{uuid.uuid4().hex[:12]}"
    if not _REPLAY.match(name):
        raise ValidationError(f"replay name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if end < start:
        raise ValidationError(f"replay {name!r}: the end ({iso_time(end)}) is before the start ({iso_time(start)})")
    stream = archive_stream(archive.name)
    only = list(rules) if rules is not None else None

    def begin(tx: Tx) -> dict[str, Any]:
        item = tx.kv_get(REPLAYS, "replay", name)
        if item is not None:
            state = dict(item.value)
            if state["state"] == "COMPLETED":
                raise AlreadyExists(f"replay {name!r} already ran ({state['replayed']} events); pick another name")
            if state["archive"] != archive.name:
                raise AlreadyExists(f"replay {name!r} exists for archive {state['archive']!r}; pick another name")
            return state
        state = {"name": name, "archive": archive.name, "bus": archive.bus, "start": start, "end": end,
                 "rules": only, "state": "RUNNING", "after": 0, "replayed": 0, "started_at": tx.now(),
                 "finished_at": None}
        tx.kv_put(REPLAYS, "replay", name, state, condition=ABSENT)
        return state

    state = engine.atomic(begin)
    while state["state"] == "RUNNING":
        after = int(state["after"])
        page = _page(engine, stream, after)
        messages = []
        for record in page:
            data = json.loads(record.data)
            ingested = data.get("ingested") or record.appended_at
            if not state["start"] <= ingested <= state["end"]:
                continue
            event = dict(data["event"])
            event["replay-name"] = name
            body = {"event": event, "ingested": ingested, "ce": data.get("ce"),
                    "replay": {"name": name, "rules": state["rules"]}}
            messages.append(NewMessage(id=str(uuid.uuid4()), body=json.dumps(body, separators=(",", ":"))))
        following = dict(state)
        following["after"] = page[-1].seq if page else after
        following["replayed"] = state["replayed"] + len(messages)
        if len(page) < PAGE:
            following["state"] = "COMPLETED"

        def commit(tx: Tx, following: dict[str, Any] = following, messages: list[NewMessage] = messages,
                   after: int = after) -> dict[str, Any]:
            if tx.queue_get(ingress) is None:
                raise NotFound(f"bus {archive.bus!r} does not exist on this engine (no {ingress!r})")
            if messages:
                tx.queue_send(ingress, messages)
            if following["state"] == "COMPLETED":
                following["finished_at"] = tx.now()
            item = tx.kv_get(REPLAYS, "replay", name)
            if item is None or item.value.get("after") != after:
                raise ConditionFailed(f"replay {name!r} is being run by another process")
            tx.kv_put(REPLAYS, "replay", name, following, condition=item.version)
            return following

        state = engine.atomic(commit)
        if progress is not None and messages:
            progress(len(messages))
    return state


def list_replays(engine: Engine) -> list[dict[str, Any]]:
    return [dict(item.value) for item in engine.read(lambda tx: tx.kv_query(REPLAYS, "replay"))]
