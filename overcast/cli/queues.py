"""``overcast queues ...``: list, create, delete, send, receive, purge, redrive, stats."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn

from overcast.cli._output import emit_json, err_console, fail, ok, parse_json, table
from overcast.config import resolve_engine_url
from overcast.engine import open_engine
from overcast.engine.base import Engine
from overcast.services.queues import INTERNAL_PREFIX, Queue, make_spec

engine_option = click.option(
    "--engine", "engine_url", metavar="URL", default=None,
    help="Engine URL (default: $OVERCAST_ENGINE, overcast.toml, then sqlite:///.overcast/overcast.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def _set_engine(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(_Ctx).url = value


sub_engine_option = click.option(
    "--engine", metavar="URL", default=None, expose_value=False, is_eager=True, callback=_set_engine,
    help="Engine URL (overrides $OVERCAST_ENGINE).",
)


class _Ctx:
    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_engine_url(url)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_engine(self.url)
        return self._engine

    def queue(self, name: str) -> Queue:
        queue = Queue(name, lambda: self.engine)
        queue.spec  # noqa: B018 - QueueNotFound with the name, before anything else
        return queue


@click.group()
@engine_option
@click.pass_context
def queues(ctx: click.Context, engine_url: str | None) -> None:
    """Manage queues and their messages."""
    ctx.obj = _Ctx(engine_url)
    ctx.call_on_close(lambda: ctx.obj._engine and ctx.obj._engine.close())


pass_ctx = click.make_pass_decorator(_Ctx)


@queues.command("ls")
@click.option("--all", "show_all", is_flag=True, help="Include Overcast's internal queues.")
@json_option
@sub_engine_option
@pass_ctx
def ls(c: _Ctx, show_all: bool, as_json: bool) -> None:
    """List queues with their message counts."""
    engine = c.engine

    def gather(tx: Any) -> list[dict[str, Any]]:
        rows = []
        for spec in tx.queue_list():
            if spec.name.startswith(INTERNAL_PREFIX) and not show_all:
                continue
            stats = tx.queue_stats(spec.name)
            rows.append({"name": spec.name, "type": "fifo" if spec.fifo else "standard",
                         **stats.to_dict(), "dead_letter": spec.dead_letter,
                         "max_receive_count": spec.max_receive_count,
                         "visibility_timeout": spec.visibility_timeout})
        return rows

    rows = engine.read(gather)
    if as_json:
        emit_json(rows)
        return
    table(["queue", "type", "visible", "in flight", "delayed", "dead-letter queue", "max receives"],
          [[r["name"], r["type"], r["visible"], r["in_flight"], r["delayed"], r["dead_letter"] or "",
            r["max_receive_count"] or ""] for r in rows], title="queues")


@queues.command("create")
@click.argument("name")
@click.option("--visibility-timeout", type=float, default=30, show_default=True, help="Seconds.")
@click.option("--delay", type=float, default=0, show_default=True, help="Seconds.")
@click.option("--retention", type=float, default=345_600, show_default=True, help="Seconds.")
@click.option("--max-message-size", type=int, default=262_144, show_default=True, help="Bytes.")
@click.option("--max-receive-count", type=int, default=None, help="Receives before dead-lettering.")
@click.option("--dead-letter", default=None, help="Dead-letter queue name (must exist).")
@click.option("--content-based-dedup", is_flag=True, help="FIFO: deduplicate by body hash.")
@json_option
@sub_engine_option
@pass_ctx
def create(c: _Ctx, name: str, visibility_timeout: float, delay: float, retention: float,
           max_message_size: int, max_receive_count: int | None, dead_letter: str | None,
           content_based_dedup: bool, as_json: bool) -> None:
    """Create a queue (FIFO when NAME ends with .fifo)."""
    if dead_letter is not None and max_receive_count is None:
        max_receive_count = 3
    spec = make_spec(name, visibility_timeout=visibility_timeout, delay=delay, retention=retention,
                     max_message_size=max_message_size, max_receive_count=max_receive_count,
                     dead_letter=dead_letter, content_based_dedup=content_based_dedup)

    def apply(tx: Any) -> Any:
        if dead_letter is not None and tx.queue_get(dead_letter) is None:
            fail(f"dead-letter queue {dead_letter!r} does not exist; create it first")
        return tx.queue_create(spec)

    created = c.engine.atomic(apply)
    if as_json:
        emit_json({"name": created.name, **created.settings()})
    else:
        ok(f"queue {name!r} ready")


@queues.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@sub_engine_option
@pass_ctx
def delete(c: _Ctx, name: str, yes: bool) -> None:
    """Delete a queue and all its messages."""
    queue = c.queue(name)
    count = queue.stats()
    total = sum(count.values())
    if total and not yes and not click.confirm(f"delete queue {name!r} and its {total} messages?"):
        fail("not deleted")
    c.engine.atomic(lambda tx: tx.queue_delete(name))
    ok(f"queue {name!r} deleted")


@queues.command("send")
@click.argument("name")
@click.argument("body", required=False)
@click.option("--file", "body_file", type=click.File("r"), help="Read the body from a file ('-' for stdin).")
@click.option("--raw", is_flag=True, help="Send BODY as text instead of parsing it as JSON.")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE",
              help="A message attribute (repeatable); NAME:Number=VALUE for a number.")
@click.option("--delay", type=float, default=None, help="Seconds before the message is visible.")
@click.option("--group-id", default=None, help="FIFO message group.")
@click.option("--dedup-id", default=None, help="FIFO deduplication id.")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher is received first.")
@json_option
@sub_engine_option
@pass_ctx
def send(c: _Ctx, name: str, body: str | None, body_file: Any, raw: bool, attrs: tuple[str, ...],
         delay: float | None, group_id: str | None, dedup_id: str | None, priority: int,
         as_json: bool) -> None:
    """Send a message. BODY is JSON ('{"id": 1}') unless --raw."""
    if body is None and body_file is None:
        fail("give a BODY or --file")
    text = body if body is not None else body_file.read()
    value = text if raw else parse_json(text, "BODY")
    attributes: dict[str, Any] = {}
    for item in attrs:
        key, sep, val = item.partition("=")
        if not sep or not key:
            fail(f"--attr {item!r}: write NAME=VALUE")
        key, _, kind = key.partition(":")
        if kind and kind not in ("String", "Number", "Binary"):
            fail(f"--attr {item!r}: type must be String, Number or Binary")
        attributes[key] = {"DataType": kind or "String", "StringValue": val} if kind != "Binary" else {
            "DataType": "Binary", "BinaryValue": val.encode()}
    message_id = c.queue(name).send(value, attributes=attributes or None, delay=delay,
                                    group_id=group_id, dedup_id=dedup_id, priority=priority)
    if as_json:
        emit_json({"message_id": message_id})
    else:
        click.echo(message_id)


@queues.command("receive")
@click.argument("name")
@click.option("--max", "max_messages", type=int, default=1, show_default=True, help="1-10 messages.")
@click.option("--wait", type=float, default=0, show_default=True, help="Long-poll seconds (<= 20).")
@click.option("--visibility-timeout", type=float, default=None, help="Seconds to hide received messages.")
@click.option("--delete", "delete_after", is_flag=True, help="Delete the messages after printing them.")
@json_option
@sub_engine_option
@pass_ctx
def receive(c: _Ctx, name: str, max_messages: int, wait: float, visibility_timeout: float | None,
            delete_after: bool, as_json: bool) -> None:
    """Receive messages (they stay hidden for the visibility timeout unless --delete)."""
    queue = c.queue(name)
    messages = queue.receive(max_messages, wait=wait, visibility_timeout=visibility_timeout)
    if delete_after and messages:
        queue.delete_batch(messages)
    rows = [{"id": m.id, "body": m.body, "attributes": m.attributes, "receive_count": m.receive_count,
             "group_id": m.group_id, "receipt": m.receipt} for m in messages]
    if as_json:
        emit_json(rows)
        return
    import json as _json
    table(["id", "body", "attributes", "receives", "receipt"],
          [[r["id"], _json.dumps(r["body"]) if not isinstance(r["body"], str) else r["body"],
            _json.dumps(r["attributes"], default=str) if r["attributes"] else "", r["receive_count"],
            "(deleted)" if delete_after else r["receipt"]] for r in rows], title="messages")


@queues.command("purge")
@click.argument("name")
@sub_engine_option
@pass_ctx
def purge(c: _Ctx, name: str) -> None:
    """Delete every message in a queue."""
    count = c.queue(name).purge()
    ok(f"purged {count} message(s) from {name!r}")


@queues.command("redrive")
@click.argument("name")
@click.option("--to", default=None, help="Move to this queue instead of each message's source.")
@json_option
@sub_engine_option
@pass_ctx
def redrive(c: _Ctx, name: str, to: str | None, as_json: bool) -> None:
    """Move a dead-letter queue's messages back to their source queues."""
    queue = c.queue(name)
    total = queue.stats()
    expected = total["visible"] + total["in_flight"] + total["delayed"]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err_console,
                  transient=True, disable=as_json or not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"redriving {name} (0/{expected})", total=expected)
        moved_so_far = 0

        def step(n: int) -> None:
            nonlocal moved_so_far
            moved_so_far += n
            progress.update(task, advance=n, description=f"redriving {name} ({moved_so_far}/{expected})")

        moved = queue.redrive(to=to, progress=step)
    if as_json:
        emit_json({"moved": moved})
    else:
        ok(f"moved {moved} message(s) from {name!r}" + (f" to {to!r}" if to else " to their source queues"))


@queues.command("stats")
@click.argument("name")
@json_option
@sub_engine_option
@pass_ctx
def stats(c: _Ctx, name: str, as_json: bool) -> None:
    """Show a queue's approximate message counts and settings."""
    queue = c.queue(name)
    counts = queue.stats()
    spec = queue.spec
    if as_json:
        emit_json({"name": name, **counts, **spec.settings()})
        return
    table(["", ""], [["visible", counts["visible"]], ["in flight", counts["in_flight"]],
                     ["delayed", counts["delayed"]], ["type", "fifo" if spec.fifo else "standard"],
                     ["visibility timeout", f"{spec.visibility_timeout:g}s"],
                     ["dead-letter queue", spec.dead_letter or "-"],
                     ["max receives", spec.max_receive_count or "-"]], title=name)


COMMANDS = [queues]
