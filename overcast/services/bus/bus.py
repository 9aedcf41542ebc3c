"""The event bus handle: ``put_events`` (EventBridge's PutEvents), rules, archives and replays.

``put_events`` validates each entry, fills in the envelope (id, version, account, region, time)
and commits the accepted events to the bus's ingress queue (``overcast:bus:NAME``) in one
transaction before it returns; the runtime's router then archives and fans them out. So an
accepted event reaches every matching target even if this process dies right after.

Before changing: limits and error codes follow the PutEvents documentation — at most 10 entries,
each at most 256 KB counted as EventBridge counts it, failures reported per entry with
``FailedEntryCount`` — and ``put_events`` never half-commits a batch.
"""

from __future__ import annotations

import json
import time as _time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overcast.engine.base import Engine, NewMessage, Tx
from overcast.errors import BatchLimitExceeded, NotFound, ValidationError
from overcast.events import DEFAULT_ACCOUNT, DEFAULT_REGION
from overcast.services.bus.cloudevents import check_cloudevent, from_cloudevent, is_cloudevent
from overcast.services.bus.events import bus_arn, iso_time, parse_time
from overcast.services.queues import INTERNAL_PREFIX

if TYPE_CHECKING:
    from overcast.services.bus.archive import Archive, BusArchives
    from overcast.services.bus.rules import BusRules, Rule
    from overcast.services.bus.targets import Target

MAX_ENTRIES = 10
MAX_ENTRY_SIZE = 262_144
_SPEC_TTL = 1.0
_ENTRY_KEYS = {"Source", "DetailType", "Detail", "Resources", "Time", "EventBusName", "TraceHeader"}


def ingress_queue(bus: str) -> str:
    """The internal queue where a bus's accepted events wait for the router."""
    return f"{INTERNAL_PREFIX}bus:{bus}"


def bus_name_of(value: str) -> str:
    """A bus name from a name or an ARN (``arn:aws:events:...:event-bus/NAME``)."""
    return value.rsplit("event-bus/", 1)[1] if value.startswith("arn:") and "event-bus/" in value else value


@dataclass(frozen=True)
class PutEventsResultEntry:
    """One entry's outcome: ``event_id``, or ``error_code`` and ``error_message``."""

    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def to_dict(self) -> dict[str, str]:
        if self.error_code is None:
            return {"EventId": self.event_id or ""}
        return {"ErrorCode": self.error_code, "ErrorMessage": self.error_message or ""}


@dataclass(frozen=True)
class PutEventsResult:
    """What ``put_events`` returns: one entry per input entry, in order."""

    entries: tuple[PutEventsResultEntry, ...]

    @property
    def failed_entry_count(self) -> int:
        return sum(1 for e in self.entries if not e.ok)

    @property
    def event_ids(self) -> list[str | None]:
        return [e.event_id for e in self.entries]

    def to_dict(self) -> dict[str, Any]:
        """PutEvents' response: ``{"FailedEntryCount": n, "Entries": [...]}``."""
        return {"FailedEntryCount": self.failed_entry_count, "Entries": [e.to_dict() for e in self.entries]}


class _EntryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def entry_size(entry: Mapping[str, Any], detail_text: str) -> int:
    """An entry's size as EventBridge counts it: Time (14 bytes), Source, DetailType, Detail and
    each resource, in UTF-8 bytes."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType"):
        value = entry.get(key)
        if isinstance(value, str):
            size += len(value.encode())
    size += len(detail_text.encode())
    for resource in entry.get("Resources") or ():
        if isinstance(resource, str):
            size += len(resource.encode())
    return size


class Bus:
    """An event bus. Get it from ``app.bus(name)`` (which also declares it and lets you add
    rules and archives), or build one on an engine to put events only."""

    def __init__(
        self,
        name: str,
        engine: Callable[[], Engine],
        *,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        rules: BusRules | None = None,
        archives: BusArchives | None = None,
        declare: Callable[[Any], Any] | None = None,
    ) -> None:
        self.name = name
        self.region = region
        self.account = account
        self._engine = engine
        self._rules = rules
        self._archives = archives
        self._declare = declare
        self._known: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Bus({self.name!r})"

    @property
    def arn(self) -> str:
        return bus_arn(self.name, self.region, self.account)

    @property
    def engine(self) -> Engine:
        return self._engine()

    # -- declarations (app buses only) ---------------------------------------------------------------

    def rule(
        self,
        name: str,
        pattern: Mapping[str, Any] | str,
        *,
        targets: Sequence[Target] = (),
        description: str | None = None,
        enabled: bool = True,
    ) -> Rule:
        """Declare a rule: events matching ``pattern`` go to each of ``targets`` (at most 5)."""
        from overcast.services.bus.rules import make_rule

        rules = self._require(self._rules, "rules")
        rule = make_rule(self.name, name, pattern, targets, description=description, enabled=enabled)
        if self._declare is not None:
            self._declare(rule)
        rules.add(rule)
        return rule

    def archive(
        self,
        name: str,
        *,
        pattern: Mapping[str, Any] | str | None = None,
        retention_days: int = 0,
        description: str | None = None,
    ) -> Archive:
        """Declare an archive of this bus's events (all, or those matching ``pattern``)."""
        from overcast.services.bus.archive import make_archive

        archives = self._require(self._archives, "archives")
        archive = make_archive(self.name, name, pattern, retention_days, description)
        if self._declare is not None:
            self._declare(archive)
        archives.add(archive)
        return archive

    @property
    def rules(self) -> dict[str, Rule]:
        return dict(self._rules.rules) if self._rules is not None else {}

    @property
    def archives(self) -> dict[str, Archive]:
        return dict(self._archives.archives) if self._archives is not None else {}

    def _require(self, value: Any, what: str) -> Any:
        if value is None:
            raise ValidationError(f"bus {self.name!r}: declare {what} on the bus from app.bus({self.name!r})")
        return value

    # -- putting events --------------------------------------------------------------------------

    def put_events(self, entries: Sequence[Mapping[str, Any]]) -> PutEventsResult:
        """Put up to 10 events (PutEvents entries, or CloudEvents). Invalid entries fail alone,
        with an error code and message; the others are committed together before this returns."""
        if isinstance(entries, Mapping | str | bytes) or not isinstance(entries, Sequence):
            raise ValidationError("put_events takes a list of entries")
        if not entries:
            raise ValidationError("put_events needs at least one entry")
        if len(entries) > MAX_ENTRIES:
            raise BatchLimitExceeded(f"put_events takes at most {MAX_ENTRIES} entries, not {len(entries)}")
        engine = self.engine
        now = engine.clock.now()
        results: list[PutEventsResultEntry | None] = [None] * len(entries)
        accepted: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        for index, entry in enumerate(entries):
            try:
                bus, record = self._record(entry, now)
            except _EntryError as exc:
                results[index] = PutEventsResultEntry(error_code=exc.code, error_message=exc.message)
                continue
            accepted.setdefault(bus, []).append((index, record["event"]["id"], record))

        def commit(tx: Tx) -> set[str]:
            missing = {bus for bus in accepted if not self._exists(tx, bus)}
            for bus, items in accepted.items():
                if bus not in missing:
                    tx.queue_send(ingress_queue(bus), [_message(record) for _, _, record in items])
            return missing

        missing = engine.atomic(commit) if accepted else set()
        for bus, items in accepted.items():
            for index, event_id, _ in items:
                if bus in missing:
                    results[index] = PutEventsResultEntry(
                        error_code="ResourceNotFoundException", error_message=f"Event bus {bus} does not exist."
                    )
                else:
                    results[index] = PutEventsResultEntry(event_id=event_id)
        return PutEventsResult(tuple(r for r in results if r is not None))

    def put_event(
        self,
        source: str,
        detail_type: str,
        detail: Mapping[str, Any] | str,
        *,
        resources: Sequence[str] = (),
        time: Any = None,
    ) -> str:
        """Put one event and return its id; raise ``ValidationError`` if it is refused."""
        entry: dict[str, Any] = {"Source": source, "DetailType": detail_type, "Detail": detail, "Resources": list(resources)}
        if time is not None:
            entry["Time"] = time
        [result] = self.put_events([entry]).entries
        if not result.ok:
            raise ValidationError(f"bus {self.name!r}: event refused: {result.error_code}: {result.error_message}")
        return result.event_id or ""

    def _exists(self, tx: Tx, bus: str) -> bool:
        checked = self._known.get(bus)
        if checked is not None and _time.monotonic() - checked < _SPEC_TTL:
            return True
        if tx.queue_get(ingress_queue(bus)) is None:
            return False
        self._known[bus] = _time.monotonic()
        return True

    def _record(self, entry: Any, now: float) -> tuple[str, dict[str, Any]]:
        if not isinstance(entry, Mapping):
            raise _EntryError("InvalidArgument", f"an entry must be a dict, not {type(entry).__name__}")
        sidecar = None
        if is_cloudevent(entry):
            problem = check_cloudevent(entry)
            if problem:
                raise _EntryError("InvalidArgument", f"Parameter CloudEvent is not valid. Reason: {problem}")
            fields, sidecar = from_cloudevent(entry)
            detail_text = json.dumps(fields["detail"], separators=(",", ":"))
            size = len(fields["source"].encode()) + len(fields["detail-type"].encode()) + len(detail_text.encode())
            bus = self.name
            event_id = fields["id"]
            source, detail_type, detail = fields["source"], fields["detail-type"], fields["detail"]
            resources: list[str] = []
            moment = fields.get("time", now)
        else:
            unknown = set(entry) - _ENTRY_KEYS
            if unknown:
                raise _EntryError("InvalidArgument", f"Unknown parameter(s) {', '.join(sorted(unknown))}; an entry has {', '.join(sorted(_ENTRY_KEYS))}")
            source = _required_text(entry, "Source", 256)
            if source.lower().startswith("aws."):
                raise _EntryError("NotAuthorizedForSourceException", f"Not authorized for the source {source}: sources starting with 'aws.' are reserved.")
            detail_type = _required_text(entry, "DetailType", 128)
            detail, detail_text = _detail(entry.get("Detail"))
            resources = entry.get("Resources") or []
            if not isinstance(resources, list | tuple) or not all(isinstance(r, str) and 0 < len(r) <= 2048 for r in resources):
                raise _EntryError("InvalidArgument", "Parameter Resources is not valid. Reason: Resources must be a list of ARN strings.")
            size = entry_size(entry, detail_text)
            try:
                moment = now if entry.get("Time") is None else parse_time(entry["Time"])
            except ValidationError as exc:
                raise _EntryError("InvalidArgument", f"Parameter Time is not valid. Reason: {exc}") from None
            bus = bus_name_of(entry["EventBusName"]) if entry.get("EventBusName") else self.name
            event_id = str(uuid.uuid4())
        if size > MAX_ENTRY_SIZE:
            raise _EntryError(
                "InvalidArgument",
                f"Entry size {size} bytes is over the {MAX_ENTRY_SIZE}-byte limit; put large payloads elsewhere and send a reference.",
            )
        event = {
            "version": "0",
            "id": event_id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account,
            "time": iso_time(moment),
            "region": self.region,
            "resources": list(resources),
            "detail": detail,
        }
        return bus, {"event": event, "ingested": now, "ce": sidecar}

    # -- replay ----------------------------------------------------------------------------------

    def replay(
        self,
        archive: str,
        *,
        start: Any,
        end: Any,
        name: str | None = None,
        rules: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Replay the events ``archive`` received between ``start`` and ``end`` (datetimes,
        epochs or ISO texts) onto this bus, to all rules or to the rules named; returns the
        replay's state (``replayed`` counts the events)."""
        from overcast.services.bus.archive import replay

        declared = self.archives.get(archive)
        if declared is None:
            raise NotFound(f"bus {self.name!r} has no archive {archive!r} (archives: {', '.join(sorted(self.archives)) or 'none'})")
        if rules is not None:
            unknown = [r for r in rules if r not in self.rules]
            if unknown:
                raise NotFound(f"bus {self.name!r} has no rule(s) {', '.join(unknown)}")
        return replay(self.engine, declared, ingress_queue(self.name), start=parse_time(start, "start"),
                      end=parse_time(end, "end"), name=name, rules=rules, progress=progress)


def _required_text(entry: Mapping[str, Any], key: str, limit: int) -> str:
    value = entry.get(key)
    if value is None or value == "":
        raise _EntryError("InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required argument.")
    if not isinstance(value, str) or len(value) > limit:
        raise _EntryError("InvalidArgument", f"Parameter {key} is not valid. Reason: {key} must be a string of at most {limit} characters.")
    return value


def _detail(value: Any) -> tuple[dict[str, Any], str]:
    if value is None or value == "":
        raise _EntryError("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument.")
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise _EntryError("MalformedDetail", "Detail is malformed.") from None
        if not isinstance(parsed, dict):
            raise _EntryError("MalformedDetail", "Detail is malformed.")
        return parsed, value
    if isinstance(value, Mapping):
        try:
            return dict(value), json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            raise _EntryError("MalformedDetail", "Detail is malformed.") from None
    raise _EntryError("MalformedDetail", "Detail is malformed.")


def _message(record: Mapping[str, Any], delay: float = 0.0) -> NewMessage:
    return NewMessage(id=str(uuid.uuid4()), body=json.dumps(record, separators=(",", ":")), delay=delay)


def forward_in_tx(tx: Tx, bus: str, payload: Any, *, delay: float = 0.0) -> None:
    """Put an event on ``bus`` inside ``tx`` (a bus target; a schedule targeting a bus). A
    payload that is not an EventBridge event becomes the detail of a new one."""
    from overcast.services.bus.delivery import DeliveryFailed

    queue = ingress_queue(bus)
    if tx.queue_get(queue) is None:
        raise DeliveryFailed("ResourceNotFoundException", f"Event bus {bus} does not exist.")
    if isinstance(payload, Mapping) and "detail-type" in payload and "source" in payload:
        event = dict(payload)
        event.pop("replay-name", None)
    else:
        event = {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Forwarded Event", "source": "overcast.bus",
            "account": DEFAULT_ACCOUNT, "time": iso_time(tx.now()), "region": DEFAULT_REGION, "resources": [],
            "detail": dict(payload) if isinstance(payload, Mapping) else {"data": payload},
        }
    tx.queue_send(queue, [_message({"event": event, "ingested": tx.now() + delay, "ce": None}, delay)])
