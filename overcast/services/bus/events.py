"""Typed EventBridge events and CloudEvents, as handlers receive them, with ``to_dict`` giving
the wire shape (the EventBridge event envelope; a CloudEvent in structured JSON mode).

Before changing: these objects cross process boundaries (a worker receives the dict and the
handler's wrapper rebuilds the object), so they stay plain frozen dataclasses of JSON values,
and ``from_dict(x.to_dict()) == x`` must hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from overcast.errors import ValidationError

EVENT_FIELDS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def iso_time(epoch: float) -> str:
    """EventBridge's time format: UTC, whole seconds, ``Z`` (``2026-01-01T09:00:00Z``)."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, what: str = "Time") -> float:
    """Epoch seconds from a ``datetime`` (naive means UTC), an epoch number or an ISO 8601 text."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"{what} {value!r} is not an ISO 8601 time; write e.g. 2026-01-01T09:00:00Z"
            ) from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    raise ValidationError(f"{what} must be a datetime, an epoch number or an ISO 8601 text, not {value!r}")


@dataclass(frozen=True)
class EventBridgeEvent:
    """An event as an EventBridge rule delivers it.

    ``detail_type`` is the envelope's ``detail-type``; ``replay_name`` is set on events
    replayed from an archive. ``to_dict()`` gives the envelope exactly as a Lambda target
    receives it.
    """

    id: str
    source: str
    detail_type: str
    detail: dict[str, Any]
    time: str
    account: str
    region: str
    resources: tuple[str, ...] = ()
    version: str = "0"
    replay_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "id": self.id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.account,
            "time": self.time,
            "region": self.region,
            "resources": list(self.resources),
            "detail": self.detail,
        }
        if self.replay_name is not None:
            out["replay-name"] = self.replay_name
        return out

    @classmethod
    def from_dict(cls, event: Mapping[str, Any]) -> EventBridgeEvent:
        return cls(
            id=str(event.get("id", "")),
            source=str(event.get("source", "")),
            detail_type=str(event.get("detail-type", "")),
            detail=dict(event.get("detail") or {}),
            time=str(event.get("time", "")),
            account=str(event.get("account", "")),
            region=str(event.get("region", "")),
            resources=tuple(event.get("resources") or ()),
            version=str(event.get("version", "0")),
            replay_name=event.get("replay-name"),
        )

    @staticmethod
    def looks_like(value: Any) -> bool:
        """Whether a payload is an EventBridge envelope (not a transformed input)."""
        return isinstance(value, Mapping) and "detail-type" in value and "source" in value and "detail" in value


@dataclass(frozen=True)
class CloudEvent:
    """A CloudEvent (specification 1.0) in structured JSON mode.

    ``data`` is the payload (``data_base64`` for binary data); ``extensions`` holds every other
    attribute. ``to_dict()`` is the ``application/cloudevents+json`` document.
    """

    id: str
    source: str
    type: str
    specversion: str = "1.0"
    time: str | None = None
    subject: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: Any = None
    data_base64: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"specversion": self.specversion, "id": self.id, "source": self.source, "type": self.type}
        for name in ("time", "subject", "datacontenttype", "dataschema"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.extensions)
        if self.data_base64 is not None:
            out["data_base64"] = self.data_base64
        elif self.data is not None:
            out["data"] = self.data
        return out

    @classmethod
    def from_dict(cls, event: Mapping[str, Any]) -> CloudEvent:
        known = {"specversion", "id", "source", "type", "time", "subject", "datacontenttype",
                 "dataschema", "data", "data_base64"}
        return cls(
            id=str(event.get("id", "")),
            source=str(event.get("source", "")),
            type=str(event.get("type", "")),
            specversion=str(event.get("specversion", "1.0")),
            time=event.get("time"),
            subject=event.get("subject"),
            datacontenttype=event.get("datacontenttype"),
            dataschema=event.get("dataschema"),
            data=event.get("data"),
            data_base64=event.get("data_base64"),
            extensions={k: v for k, v in event.items() if k not in known},
        )


def bus_arn(bus: str, region: str, account: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{bus}"


def rule_arn(bus: str, rule: str, region: str, account: str) -> str:
    scope = rule if bus == "default" else f"{bus}/{rule}"
    return f"arn:aws:events:{region}:{account}:rule/{scope}"


def archive_arn(archive: str, region: str, account: str) -> str:
    return f"arn:aws:events:{region}:{account}:archive/{archive}"
