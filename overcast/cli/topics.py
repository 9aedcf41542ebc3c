"""``overcast topics ls|publish|subscriptions``.

``ls`` and ``subscriptions`` list what the app in FILE declares; ``publish`` needs only the
engine (the topic must exist there, i.e. some app declaring it has run once).
"""

from __future__ import annotations

from typing import Any

import click

from overcast.cli._output import emit_json, fail, parse_json, table
from overcast.cli.events import engine_option, json_option, load_app
from overcast.config import resolve_engine_url
from overcast.engine import open_engine


@click.group()
def topics() -> None:
    """List topics and subscriptions, publish messages."""


@topics.command("ls")
@click.argument("target", metavar="FILE[:APP]")
@engine_option
@json_option
def topics_ls(target: str, engine_url: str | None, as_json: bool) -> None:
    """List the topics of the app in FILE."""
    from overcast.services.topics.topic import ingress_queue

    app = load_app(target, engine_url)
    try:
        rows = []
        for name, (topic, subscriptions) in sorted(app.events.topics.items()):
            stats = app.engine.read(lambda tx, name=name: tx.queue_stats(ingress_queue(name)))
            rows.append({"TopicArn": topic.arn, "Name": name, "Fifo": topic.fifo,
                         "Subscriptions": len(subscriptions), "Pending": stats.visible + stats.in_flight + stats.delayed})
    finally:
        app.close()
    if as_json:
        emit_json(rows)
        return
    table(["topic", "type", "subscriptions", "pending", "arn"],
          [[r["Name"], "fifo" if r["Fifo"] else "standard", r["Subscriptions"], r["Pending"], r["TopicArn"]]
           for r in rows], title="topics")


@topics.command("subscriptions")
@click.argument("target", metavar="FILE[:APP]")
@click.argument("topic", required=False)
@engine_option
@json_option
def topics_subscriptions(target: str, topic: str | None, engine_url: str | None, as_json: bool) -> None:
    """List the subscriptions of the app in FILE (of TOPIC only, if given)."""
    app = load_app(target, engine_url)
    if topic is not None and topic not in app.events.topics:
        fail(f"app {app.name!r} has no topic {topic!r} (topics: {', '.join(sorted(app.events.topics)) or 'none'})")
    rows: list[dict[str, Any]] = []
    for name, (handle, _) in sorted(app.events.topics.items()):
        if topic is None or name == topic:
            rows += [s.describe(app.region, app.account) for s in handle.subscriptions]
    if as_json:
        emit_json(rows)
        return
    table(["topic", "protocol", "endpoint", "filter policy", "raw", "dead-letter queue"],
          [[r["TopicArn"].rsplit(":", 1)[1], r["Protocol"], r["Endpoint"],
            (r.get("FilterPolicy") or "") + (" (body)" if r.get("FilterPolicy") and r["FilterPolicyScope"] == "MessageBody" else ""),
            "yes" if r["RawMessageDelivery"] else "", (r.get("RedrivePolicy") or {}).get("deadLetterTarget", "")]
           for r in rows], title="subscriptions")


@topics.command("publish")
@click.argument("topic")
@click.argument("message", required=False)
@click.option("--file", "message_file", default=None, help="Read the message from a file ('-' for stdin).")
@click.option("--json-message", is_flag=True, help="Parse MESSAGE as JSON and publish it as JSON text.")
@click.option("--subject", default=None, help="The subject.")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE",
              help="A message attribute (repeatable); NAME:Number=VALUE for a number, NAME:String.Array=[...] for a list.")
@click.option("--group-id", default=None, help="FIFO message group.")
@click.option("--dedup-id", default=None, help="FIFO deduplication id.")
@engine_option
@json_option
def topics_publish(topic: str, message: str | None, message_file: str | None, json_message: bool, subject: str | None,
                   attrs: tuple[str, ...], group_id: str | None, dedup_id: str | None, engine_url: str | None,
                   as_json: bool) -> None:
    """Publish MESSAGE (text as given) to TOPIC."""
    from overcast.services.topics.topic import Topic

    if (message is None) == (message_file is None):
        fail("give a MESSAGE or --file")
    raw = message if message is not None else _read_text(message_file)
    text: Any = parse_json(raw, "MESSAGE") if json_message else raw
    attributes: dict[str, Any] = {}
    for item in attrs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--attr {item!r}: write NAME=VALUE")
        key, _, kind = key.partition(":")
        if kind and kind not in ("String", "Number", "String.Array"):
            fail(f"--attr {item!r}: type must be String, Number or String.Array")
        attributes[key] = {"DataType": kind or "String", "StringValue": value}
    engine = open_engine(resolve_engine_url(engine_url))
    try:
        handle = Topic(topic, lambda: engine, content_based_dedup=topic.endswith(".fifo") and dedup_id is None)
        message_id = handle.publish(text, subject=subject, attributes=attributes or None, group_id=group_id,
                                    dedup_id=dedup_id)
    finally:
        engine.close()
    if as_json:
        emit_json({"MessageId": message_id})
    else:
        click.echo(message_id)


def _read_text(path: str | None) -> str:
    import sys

    if path == "-":
        return sys.stdin.read()
    try:
        with open(str(path), encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        fail(f"--file: cannot read {path}: {exc.strerror}")
    return ""


COMMANDS = [topics]
