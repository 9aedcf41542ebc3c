"""CloudEvents (specification 1.0, structured JSON mode) in and out of the event bus.

Accepted: ``put_events`` takes a CloudEvent wherever it takes an entry (a mapping with
``specversion``). It becomes an EventBridge event — ``source`` → ``source``, ``type`` →
``detail-type``, ``id`` and ``time`` kept, ``data`` → ``detail`` (a non-object ``data`` is
wrapped as ``{"data": value}``, ``data_base64`` as ``{"data_base64": text}``) — and every other
attribute rides along beside the event, so a target that asks for CloudEvents gets the original
attributes back. An event that did not arrive as a CloudEvent is converted the other way round.

Before changing: ``to_cloudevent(from_cloudevent(ce))`` must give back ``ce`` unchanged; the
tests hold it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from overcast.services.bus.events import parse_time

SPEC_VERSION = "1.0"
_CONTEXT = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def is_cloudevent(entry: Any) -> bool:
    return isinstance(entry, Mapping) and "specversion" in entry


def check_cloudevent(entry: Mapping[str, Any]) -> str | None:
    """Why ``entry`` is not a valid CloudEvent, or None when it is."""
    if entry.get("specversion") != SPEC_VERSION:
        return f"specversion must be {SPEC_VERSION!r}, not {entry.get('specversion')!r}"
    for name in ("id", "source", "type"):
        value = entry.get(name)
        if not isinstance(value, str) or not value:
            return f"the CloudEvent attribute {name!r} is required and must be a non-empty string"
    for name in ("subject", "datacontenttype", "dataschema"):
        if name in entry and not isinstance(entry[name], str):
            return f"the CloudEvent attribute {name!r} must be a string"
    if "time" in entry:
        try:
            parse_time(entry["time"], "the CloudEvent attribute 'time'")
        except Exception as exc:  # ValidationError: reported as the entry's error
            return str(exc)
    if "data" in entry and "data_base64" in entry:
        return "a CloudEvent carries data or data_base64, not both"
    if "data_base64" in entry and not isinstance(entry["data_base64"], str):
        return "data_base64 must be a base64 string"
    for name in entry:
        if name in _CONTEXT or name in ("data", "data_base64"):
            continue
        if not _EXTENSION_NAME.match(name):
            return f"CloudEvent attribute names are 1-20 lowercase letters or digits, not {name!r}"
    return None


def from_cloudevent(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The EventBridge fields of a (valid) CloudEvent, and the attributes to keep beside it:
    returns ``(fields, sidecar)`` where ``fields`` has source, detail-type, detail, id, time."""
    if "data_base64" in entry:
        detail: dict[str, Any] = {"data_base64": entry["data_base64"]}
        shape = "base64"
    elif isinstance(entry.get("data"), Mapping):
        detail = dict(entry["data"])
        shape = "object"
    elif "data" in entry:
        detail = {"data": entry["data"]}
        shape = "wrapped"
    else:
        detail = {}
        shape = "none"
    fields: dict[str, Any] = {
        "source": entry["source"],
        "detail-type": entry["type"],
        "detail": detail,
        "id": entry["id"],
    }
    if "time" in entry:
        fields["time"] = parse_time(entry["time"])
    sidecar = {k: v for k, v in entry.items() if k not in ("data", "data_base64")}
    sidecar["$data"] = shape
    return fields, sidecar


def to_cloudevent(event: Mapping[str, Any], sidecar: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An EventBridge event as a CloudEvent (the original one, when it arrived as such)."""
    detail = event.get("detail") or {}
    if sidecar:
        out = {k: v for k, v in sidecar.items() if k != "$data"}
        shape = sidecar.get("$data", "object")
        if shape == "base64":
            out["data_base64"] = detail.get("data_base64")
        elif shape == "wrapped":
            out["data"] = detail.get("data")
        elif shape == "object":
            out["data"] = detail
    else:
        out = {
            "specversion": SPEC_VERSION,
            "id": event.get("id"),
            "source": event.get("source"),
            "type": event.get("detail-type"),
            "time": event.get("time"),
            "datacontenttype": "application/json",
            "data": detail,
        }
    if "replay-name" in event:
        out["replayname"] = event["replay-name"]
    return out
