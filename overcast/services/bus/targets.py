"""Rule targets: where a matched event goes (a function, a queue, a topic, another bus, an HTTP
endpoint, a workflow — registered by ``overcast.workflows`` through ``register_target_kind``), in what form, and with what
retry policy and dead-letter queue.

Before changing: a ``Target`` only describes; ``delivery.py`` does the sending. Adding a kind is
registering a ``TargetKind`` there — nothing here needs to change but the constructor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from overcast.errors import ConfigError, ValidationError
from overcast.services.bus.transform import NOT_SET, InputTransformer, validate_path

MAX_RETRY_ATTEMPTS = 185
MAX_EVENT_AGE = 86_400
MIN_EVENT_AGE = 60
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class RetryPolicy:
    """How long EventBridge keeps trying a target: ``max_retries`` (0–185, AWS
    MaximumRetryAttempts) and ``max_event_age`` seconds (60–86,400, MaximumEventAgeInSeconds).
    The defaults are AWS's: 185 retries within 24 hours."""

    max_retries: int = MAX_RETRY_ATTEMPTS
    max_event_age: int = MAX_EVENT_AGE

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or not 0 <= self.max_retries <= MAX_RETRY_ATTEMPTS:
            raise ValidationError(f"retry policy: max_retries must be between 0 and {MAX_RETRY_ATTEMPTS}, not {self.max_retries!r}")
        if isinstance(self.max_event_age, bool) or not isinstance(self.max_event_age, int | float) or not MIN_EVENT_AGE <= self.max_event_age <= MAX_EVENT_AGE:
            raise ValidationError(
                f"retry policy: max_event_age must be between {MIN_EVENT_AGE} and {MAX_EVENT_AGE} seconds, not {self.max_event_age!r}"
            )

    def to_dict(self) -> dict[str, int]:
        return {"MaximumRetryAttempts": self.max_retries, "MaximumEventAgeInSeconds": int(self.max_event_age)}


@dataclass(frozen=True)
class Target:
    """A rule's (or a schedule's) target. Build one with ``Target.function(name)``,
    ``.queue(name)``, ``.topic(name)``, ``.bus(name)``, ``.http(url)`` or ``.workflow(name)``.

    Options common to every kind: ``id`` (unique within the rule; derived from the kind and name
    by default), at most one of ``input`` (a constant JSON value), ``input_path`` (a JSONPath)
    and ``input_transformer``; ``cloudevents=True`` to deliver the event as a CloudEvent;
    ``retry_policy``; ``dead_letter`` (a queue that receives what could not be delivered).
    """

    kind: str
    name: str
    id: str = ""
    input: Any = NOT_SET
    input_path: str | None = None
    input_transformer: InputTransformer | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letter: str | None = None
    cloudevents: bool = False
    message_group_id: str | None = None
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", _default_id(self.kind, self.name))
        self.validate()

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def function(cls, name: str, **options: Any) -> Target:
        """Invoke a function asynchronously with the event (its own retries and on_failure
        apply once it is invoked, as with Lambda)."""
        return cls("function", name, **options)

    @classmethod
    def queue(cls, name: str, *, message_group_id: str | None = None, **options: Any) -> Target:
        """Send the event to a queue (a FIFO queue needs ``message_group_id``)."""
        return cls("queue", name, message_group_id=message_group_id, **options)

    @classmethod
    def topic(cls, name: str, **options: Any) -> Target:
        """Publish the event to a topic."""
        return cls("topic", name, **options)

    @classmethod
    def bus(cls, name: str, **options: Any) -> Target:
        """Put the event on another bus."""
        return cls("bus", name, **options)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        **options: Any,
    ) -> Target:
        """POST (or ``method``) the event to an HTTP endpoint (an API destination); 2xx is
        success, 401, 407, 409, 429, 5xx and network errors are retried, other codes are not."""
        return cls("http", url, method=method.upper(), headers=tuple((headers or {}).items()), timeout=timeout, **options)

    @classmethod
    def workflow(cls, name: str, **options: Any) -> Target:
        """Start an execution of a workflow with the event as its input."""
        return cls("workflow", name, **options)

    # -- checks ----------------------------------------------------------------------------------

    def validate(self) -> None:
        from overcast.services.bus.delivery import TARGET_KINDS

        where = f"target {self.id!r}"
        if self.kind == "workflow" and self.kind not in TARGET_KINDS:
            import overcast.workflows  # noqa: F401  (registers the workflow kind on import, lazily)
        if self.kind not in TARGET_KINDS:
            raise ConfigError(f"{where}: unknown target kind {self.kind!r} (known: {', '.join(sorted(TARGET_KINDS))})")
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(f"{where}: the {self.kind} target needs a name")
        if not _ID.match(self.id):
            raise ValidationError(f"{where}: target ids are 1-64 letters, digits, '.', '_' or '-'")
        chosen = [n for n, v in (("input", self.input is not NOT_SET), ("input_path", self.input_path is not None),
                                 ("input_transformer", self.input_transformer is not None)) if v]
        if len(chosen) > 1:
            raise ValidationError(f"{where}: give at most one of input, input_path and input_transformer, not {' and '.join(chosen)}")
        if self.input_path is not None:
            validate_path(self.input_path, f"{where}: input_path")
        if self.input_transformer is not None and not isinstance(self.input_transformer, InputTransformer):
            raise ValidationError(f"{where}: input_transformer must be an InputTransformer")
        if self.cloudevents and chosen:
            raise ValidationError(f"{where}: cloudevents=True delivers the event itself; it cannot be combined with {chosen[0]}")
        if not isinstance(self.retry_policy, RetryPolicy):
            raise ValidationError(f"{where}: retry_policy must be a RetryPolicy")
        if self.kind == "http":
            parts = urlsplit(self.name)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValidationError(f"{where}: {self.name!r} is not an http(s) URL")
            if self.method not in ("POST", "PUT", "PATCH", "GET", "DELETE", "HEAD"):
                raise ValidationError(f"{where}: unsupported HTTP method {self.method!r}")
            if not isinstance(self.timeout, int | float) or not 0 < self.timeout <= 60:
                raise ValidationError(f"{where}: timeout must be between 0 and 60 seconds")
        if self.message_group_id is not None and self.kind != "queue":
            raise ValidationError(f"{where}: message_group_id applies to queue targets only")

    def describe(self) -> dict[str, Any]:
        """The target as ``rules ls --json`` shows it (AWS-like field names)."""
        out: dict[str, Any] = {"Id": self.id, "Kind": self.kind, "Name": self.name}
        if self.input is not NOT_SET:
            out["Input"] = self.input
        if self.input_path is not None:
            out["InputPath"] = self.input_path
        if self.input_transformer is not None:
            out["InputTransformer"] = self.input_transformer.to_dict()
        if self.cloudevents:
            out["Format"] = "cloudevents"
        out["RetryPolicy"] = self.retry_policy.to_dict()
        if self.dead_letter is not None:
            out["DeadLetterConfig"] = {"Queue": self.dead_letter}
        if self.message_group_id is not None:
            out["SqsParameters"] = {"MessageGroupId": self.message_group_id}
        return out


def _default_id(kind: str, name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{kind}-{name}").strip("-")
    return text[:64] or kind
