"""The App's methods for the event bus, topics and schedules.

Mixed into ``App``; everything here only registers (no I/O at import time) and reaches the
engine through ``self.engine``, the runtime through ``self.runtime_roles``. The first use of any
of these methods creates the app's ``EventsRegistry``, which declares the internal queues the
services keep (a bus's and a topic's ingress, ``overcast:deliveries``), checks the declarations
when the app is reconciled, and gives the runtime its roles: a router per bus and per topic,
the deliverer, the scheduler.

Before changing: handlers registered by ``on_event``/``on_topic``/``on_schedule`` are wrapped so
that they receive typed events (``EventBridgeEvent``, ``CloudEvent``, ``SNSEvent``) while the
function itself is invoked with the AWS-shaped dict, as any async invocation is.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from overcast.errors import ConfigError
from overcast.runtime.registry import DEFAULT_RETRIES, DEFAULT_TIMEOUT, FunctionDef
from overcast.services.queues import make_spec

if TYPE_CHECKING:
    from overcast.app import App
    from overcast.services.bus.archive import BusArchives
    from overcast.services.bus.bus import Bus
    from overcast.services.bus.rules import BusRules
    from overcast.services.bus.targets import RetryPolicy, Target
    from overcast.services.bus.transform import InputTransformer
    from overcast.services.scheduler.expressions import Expression
    from overcast.services.scheduler.scheduler import Schedule
    from overcast.services.topics.subscriptions import TopicSubscriptions
    from overcast.services.topics.topic import Topic

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("overcast.events")
_UNSET: Any = object()
INGRESS_VISIBILITY = 60
INGRESS_RETENTION = 1_209_600
INTERNAL_MAX_SIZE = 1_048_576


class EventsRegistry:
    """What an app declares for events: buses (rules, archives), topics (subscriptions),
    schedules; and the runtime roles that serve them."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.buses: dict[str, tuple[Bus, BusRules, BusArchives]] = {}
        self.topics: dict[str, tuple[Topic, TopicSubscriptions]] = {}
        self.schedules: dict[str, Schedule] = {}
        self._deliveries = False
        app._reconcile_hooks.append(self.reconcile)
        app.runtime_roles.append(self.roles)

    def _declare_deliveries(self) -> None:
        if not self._deliveries:
            from overcast.services.bus.delivery import deliveries_spec

            self._deliveries = True
            self.app.declare_internal_queue(deliveries_spec())

    def bus(self, name: str) -> Bus:
        from overcast.services.bus.archive import BusArchives
        from overcast.services.bus.bus import Bus, ingress_queue
        from overcast.services.bus.rules import BusRules

        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9._-]{1,256}$", name):
            raise ConfigError(f"invalid bus name {name!r}: use 1-256 letters, digits, '.', '_' or '-'")
        declared = self.buses.get(name)
        if declared is not None:
            return declared[0]
        app = self.app
        rules, archives = BusRules(name), BusArchives(name)
        handle = Bus(name, lambda: app.engine, region=app.region, account=app.account, rules=rules, archives=archives)
        self.buses[name] = (handle, rules, archives)
        self._declare_deliveries()
        app.declare_internal_queue(make_spec(ingress_queue(name), visibility_timeout=INGRESS_VISIBILITY,
                                             retention=INGRESS_RETENTION, max_message_size=INTERNAL_MAX_SIZE,
                                             internal=True))
        return handle

    def topic(self, name: str, content_based_dedup: bool) -> Topic:
        from overcast.services.topics.subscriptions import TopicSubscriptions
        from overcast.services.topics.topic import Topic, ingress_queue

        declared = self.topics.get(name)
        if declared is not None:
            if declared[0].content_based_dedup != content_based_dedup:
                raise ConfigError(f"topic {name!r} is declared twice with different content_based_dedup")
            return declared[0]
        app = self.app
        subscriptions = TopicSubscriptions(name)
        handle = Topic(name, lambda: app.engine, region=app.region, account=app.account,
                       content_based_dedup=content_based_dedup, subscriptions=subscriptions)
        self.topics[name] = (handle, subscriptions)
        self._declare_deliveries()
        app.declare_internal_queue(make_spec(ingress_queue(name), visibility_timeout=INGRESS_VISIBILITY,
                                             retention=INGRESS_RETENTION, max_message_size=INTERNAL_MAX_SIZE,
                                             internal=True))
        return handle

    def add_schedule(self, schedule: Schedule) -> None:
        existing = self.schedules.get(schedule.name)
        if existing is not None and existing != schedule:
            raise ConfigError(f"app {self.app.name!r} already has a schedule named {schedule.name!r}")
        self.schedules[schedule.name] = schedule
        self._declare_deliveries()

    # -- reconcile and runtime -------------------------------------------------------------------

    def targets(self) -> list[tuple[str, Target]]:
        """Every declared target, with where it is declared."""
        out: list[tuple[str, Target]] = []
        for name, (_, rules, _) in self.buses.items():
            for rule in rules.rules.values():
                out += [(f"rule {rule.name!r} on bus {name!r}", t) for t in rule.targets]
        out += [(f"schedule {s.name!r}", s.target) for s in self.schedules.values()]
        return out

    def reconcile(self, tx: Any) -> None:
        """Check the declarations against the app and the engine (inside the reconcile tx)."""
        app = self.app
        for where, target in self.targets():
            if target.kind == "function" and target.name not in app.functions:
                raise ConfigError(f"{where}: target function {target.name!r} is not declared; decorate it with @app.function")
            for queue in [target.name if target.kind == "queue" else None, target.dead_letter]:
                if queue and queue not in app.declared_queues() and tx.queue_get(queue) is None:
                    log.warning("%s: queue %r does not exist; deliveries to it will be retried until it does", where, queue)
        for name, (_, subscriptions) in self.topics.items():
            for sub in subscriptions.subscriptions.values():
                where = f"subscription of {sub.protocol} {sub.endpoint!r} to topic {name!r}"
                if sub.protocol == "function" and sub.endpoint not in app.functions:
                    raise ConfigError(f"{where}: function {sub.endpoint!r} is not declared; decorate it with @app.function")

    def roles(self, app: App) -> list[Any]:
        from overcast.services.bus.delivery import Deliverer
        from overcast.services.bus.router import BusRouter
        from overcast.services.scheduler.scheduler import Scheduler
        from overcast.services.topics.delivery import TopicRouter

        roles: list[Any] = [BusRouter(app, name, rules, archives) for name, (_, rules, archives) in self.buses.items()]
        roles += [TopicRouter(app, name, subs) for name, (_, subs) in self.topics.items()]
        if self._deliveries:
            roles.append(Deliverer(app))
        if self.schedules:
            roles.append(Scheduler(app, self.schedules))
        return roles


def _typed(fn: Callable[..., Any], convert: Callable[[Any], Any]) -> Callable[..., Any]:
    """A handler taking (event, context) that passes ``convert(event)`` to ``fn``."""
    takes_context = FunctionDef(name="handler", handler=fn).takes_context
    if asyncio.iscoroutinefunction(fn):
        async def handler(event: Any, context: Any) -> Any:
            value = convert(event)
            return await (fn(value, context) if takes_context else fn(value))
    else:
        def handler(event: Any, context: Any) -> Any:  # type: ignore[misc]
            value = convert(event)
            return fn(value, context) if takes_context else fn(value)
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(handler, attribute, getattr(fn, attribute, None))
    return handler


def _eventbridge(event: Any) -> Any:
    from overcast.services.bus.events import EventBridgeEvent

    return EventBridgeEvent.from_dict(event) if EventBridgeEvent.looks_like(event) else event


def _cloudevent(event: Any) -> Any:
    from overcast.services.bus.events import CloudEvent

    return CloudEvent.from_dict(event) if isinstance(event, Mapping) and "specversion" in event else event


def _sns(event: Any) -> Any:
    from overcast.services.topics.events import SNSEvent

    return SNSEvent.from_dict(event) if SNSEvent.looks_like(event) else event


class EventsAPI:
    """``app.bus()``, ``app.topic()``, ``app.schedule()``, ``@app.on_event``, ``@app.on_topic``,
    ``@app.on_schedule``."""

    @property
    def events(self) -> EventsRegistry:
        """The app's event declarations (buses, topics, schedules)."""
        registry = self.__dict__.get("_events_registry")
        if registry is None:
            registry = self.__dict__["_events_registry"] = EventsRegistry(cast("App", self))
        return cast(EventsRegistry, registry)

    def bus(self, name: str = "default") -> Bus:
        """Declare an event bus (``"default"`` unless named) and return its handle: add rules
        (``bus.rule``) and archives (``bus.archive``), put events (``bus.put_events``)."""
        return self.events.bus(name)

    def topic(self, name: str, *, content_based_dedup: bool = False) -> Topic:
        """Declare a topic (FIFO if the name ends ``.fifo``) and return its handle: subscribe
        (``topic.subscribe``) and publish (``topic.publish``, ``topic.publish_batch``)."""
        return self.events.topic(name, content_based_dedup)

    def schedule(
        self,
        name: str,
        expression: str | Expression,
        target: Target,
        *,
        payload: Any = _UNSET,
        timezone: str = "UTC",
        flexible_window: int | None = None,
        start: Any = None,
        end: Any = None,
        missed: str = "latest",
        enabled: bool = True,
        description: str | None = None,
    ) -> Schedule:
        """Declare a schedule that sends ``payload`` to ``target`` (a function, queue, topic,
        bus or workflow) at every tick of ``expression`` — ``rate(...)``, ``cron(...)``, ``at(...)``."""
        from overcast.services.bus.events import parse_time
        from overcast.services.bus.transform import NOT_SET
        from overcast.services.scheduler.scheduler import make_schedule

        schedule = make_schedule(
            name, expression, target, payload=NOT_SET if payload is _UNSET else payload, timezone=timezone,
            flexible_window=flexible_window, start=None if start is None else parse_time(start, "start"),
            end=None if end is None else parse_time(end, "end"), missed=missed, enabled=enabled,
            description=description,
        )
        self.events.add_schedule(schedule)
        return schedule

    def _event_function(self, fn: Callable[..., Any], name: str | None, convert: Callable[[Any], Any],
                        options: dict[str, Any]) -> str:
        app = cast("App", self)
        fn_name = name or fn.__name__
        app._register_function(FunctionDef(name=fn_name, handler=_typed(fn, convert), **options))
        return fn_name

    def on_event(
        self,
        pattern: Mapping[str, Any] | str,
        *,
        bus: str = "default",
        name: str | None = None,
        cloudevents: bool = False,
        input_path: str | None = None,
        input_transformer: InputTransformer | None = None,
        retry_policy: RetryPolicy | None = None,
        dead_letter: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = 1.0,
        concurrency: int | None = None,
        on_failure: str | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Run the decorated handler for every event on ``bus`` that matches ``pattern`` (a
        rule named after the function). It receives an ``EventBridgeEvent`` (a ``CloudEvent``
        with ``cloudevents=True``; the transformed value with ``input_path`` or
        ``input_transformer``). The function is invoked asynchronously: ``retries`` and
        ``on_failure`` apply to its failures, ``retry_policy`` and ``dead_letter`` to delivery."""
        from overcast.services.bus.targets import RetryPolicy, Target

        def register(fn: Callable[P, R]) -> Callable[P, R]:
            convert = _cloudevent if cloudevents else (_eventbridge if input_path is None and input_transformer is None else (lambda e: e))
            fn_name = self._event_function(fn, name, convert, dict(
                timeout=timeout, retries=retries, retry_delay=retry_delay, concurrency=concurrency, on_failure=on_failure))
            options: dict[str, Any] = {"cloudevents": cloudevents, "retry_policy": retry_policy or RetryPolicy(),
                                       "dead_letter": dead_letter}
            if input_path is not None:
                options["input_path"] = input_path
            if input_transformer is not None:
                options["input_transformer"] = input_transformer
            self.bus(bus).rule(fn_name, pattern, targets=[Target.function(fn_name, **options)])
            return fn

        return register

    def on_topic(
        self,
        topic: str,
        *,
        filter: Mapping[str, Any] | str | None = None,
        filter_scope: str = "MessageAttributes",
        name: str | None = None,
        dead_letter: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = 1.0,
        concurrency: int | None = None,
        on_failure: str | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Run the decorated handler for every message published to ``topic`` that passes the
        ``filter`` policy (on the attributes, or on the body with ``filter_scope="MessageBody"``).
        It receives an ``SNSEvent``; the function is invoked asynchronously (``retries``,
        ``on_failure``)."""

        def register(fn: Callable[P, R]) -> Callable[P, R]:
            fn_name = self._event_function(fn, name, _sns, dict(
                timeout=timeout, retries=retries, retry_delay=retry_delay, concurrency=concurrency, on_failure=on_failure))
            self.topic(topic).subscribe("function", fn_name, filter_policy=filter, filter_scope=filter_scope,
                                        dead_letter=dead_letter)
            return fn

        return register

    def on_schedule(
        self,
        expression: str | Expression,
        *,
        name: str | None = None,
        payload: Any = _UNSET,
        timezone: str = "UTC",
        flexible_window: int | None = None,
        start: Any = None,
        end: Any = None,
        missed: str = "latest",
        enabled: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = 1.0,
        concurrency: int | None = None,
        on_failure: str | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Run the decorated handler at every tick of ``expression``: ``"rate(5 minutes)"``,
        ``"cron(0 9 ? * MON-FRI *)"``, ``"at(2026-12-01T09:00:00)"`` or ``Rate``/``Cron``/``At``,
        in ``timezone``. It receives ``payload``, or an ``EventBridgeEvent`` ("Scheduled
        Event") without one. ``missed``: what to do with ticks missed while nothing ran —
        ``"latest"`` fires the most recent once, ``"all"`` fires each, ``"skip"`` none."""
        from overcast.services.bus.targets import Target

        def register(fn: Callable[P, R]) -> Callable[P, R]:
            convert = _eventbridge if payload is _UNSET else (lambda e: e)
            fn_name = self._event_function(fn, name, convert, dict(
                timeout=timeout, retries=retries, retry_delay=retry_delay, concurrency=concurrency, on_failure=on_failure))
            self.schedule(fn_name, expression, Target.function(fn_name), payload=payload, timezone=timezone,
                          flexible_window=flexible_window, start=start, end=end, missed=missed, enabled=enabled)
            return fn

        return register
