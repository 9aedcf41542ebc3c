"""The queue primitive on SQLite: visibility, receive counts, delay, priority, FIFO groups,
deduplication and the move to a dead-letter queue.

Before changing: receive runs inside the single write transaction, so two receivers (threads or
processes) can never take the same message; keep every state change of a message in one
statement keyed by ``seq``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from overcast.engine.base import FIFO_DEDUP_WINDOW, NewMessage, QueueSpec, QueueStats, StoredMessage
from overcast.engine.common import (
    ReceiptBatch,
    dump_attributes,
    parse_receipt,
    spec_from_json,
    spec_to_json,
    stored_message,
)
from overcast.engine.sqlite._base import QUERIES, TxBase
from overcast.errors import InvalidReceipt, QueueAlreadyExists, QueueNotFound


def _spec_row(spec: QueueSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "spec": spec_to_json(spec),
        "fifo": int(spec.fifo),
        "retention": spec.retention,
        "max_receive_count": spec.max_receive_count,
        "dead_letter": spec.dead_letter,
        "created_at": spec.created_at,
    }


def _row(queue: str, message: NewMessage, now: float, expires_at: float | None) -> dict[str, object]:
    return {
        "queue": queue,
        "id": message.id,
        "body": message.body,
        "attributes": dump_attributes(message.attributes),
        "priority": message.priority,
        "group_id": message.group_id,
        "dedup_id": message.dedup_id,
        "now": now,
        "delay": message.delay,
        "expires_at": expires_at,
    }


class QueueOps(TxBase):
    def queue_create(self, spec: QueueSpec) -> QueueSpec:
        existing = self.queue_get(spec.name)
        if existing is not None:
            if existing.settings() != spec.settings():
                raise QueueAlreadyExists(
                    f"queue {spec.name!r} already exists with other settings "
                    f"({existing.settings()}); delete it or update it instead"
                )
            return existing
        spec = replace(spec, created_at=self.now())
        self._exec("queue_insert", **_spec_row(spec))
        return spec

    def queue_update(self, spec: QueueSpec) -> None:
        existing = self.queue_get(spec.name)
        if existing is None:
            raise QueueNotFound(f"queue {spec.name!r} does not exist")
        spec = replace(spec, created_at=existing.created_at)
        self._exec("queue_update", **_spec_row(spec))

    def queue_get(self, name: str) -> QueueSpec | None:
        row = self._one("queue_get", name=name)
        return None if row is None else spec_from_json(row[0])

    def queue_list(self, prefix: str = "") -> list[QueueSpec]:
        return [spec_from_json(row[0]) for row in self._all("queue_list", prefix=prefix)]

    def queue_delete(self, name: str) -> bool:
        deleted = self._exec("queue_delete", name=name).rowcount > 0
        self._exec("queue_delete_messages", queue=name)
        self._exec("queue_delete_dedup", queue=name)
        self.touched.add(name)
        return deleted

    def queue_send(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        now = self.now()
        if len(messages) == 1 and messages[0].dedup_id is None:
            # the common case in one statement: the retention comes from a subquery
            message = messages[0]
            try:
                self._exec("message_insert_one", **_row(queue, message, now, None))
            except sqlite3.IntegrityError:
                raise QueueNotFound(f"queue {queue!r} does not exist") from None
            self.touched.add(queue)
            return [message.id]
        row = self._one("queue_retention", name=queue)
        if row is None:
            raise QueueNotFound(f"queue {queue!r} does not exist")
        expires_at = now + row[0]
        ids: list[str] = []
        rows: list[dict[str, object]] = []
        for message in messages:
            if message.dedup_id is not None:
                hit = self._one("dedup_get", queue=queue, dedup_id=message.dedup_id, now=now)
                if hit is not None:
                    ids.append(hit[0])
                    continue
                self._exec(
                    "dedup_put",
                    queue=queue,
                    dedup_id=message.dedup_id,
                    message_id=message.id,
                    expires_at=now + FIFO_DEDUP_WINDOW,
                )
            rows.append(_row(queue, message, now, expires_at))
            ids.append(message.id)
        self._conn.executemany(QUERIES["message_insert"], rows)
        self.touched.add(queue)
        return ids

    def queue_receive(
        self, queue: str, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        settings = self._one("queue_receive_settings", name=queue)
        if settings is None:
            raise QueueNotFound(f"queue {queue!r} does not exist")
        fifo, max_receive_count, dead_letter = settings
        now = self.now()
        self._exec("unhide", queue=queue, now=now)
        if not fifo and not (max_receive_count and dead_letter):
            # nothing to dead-letter and no groups: choose and take in one statement
            rows = self._all(
                "receive_take",
                queue=queue,
                now=now,
                visibility_timeout=visibility_timeout,
                token=secrets.token_hex(8),
                limit=max_messages,
            )
            rows.sort(key=lambda r: (-r[7], r[0]))  # RETURNING has no order of its own
            return [stored_message(r) for r in rows]
        query = "receive_candidates_fifo" if fifo else "receive_candidates"
        chosen: list[int] = []
        while len(chosen) < max_messages:
            candidates = self._all(query, queue=queue, now=now, limit=max_messages - len(chosen))
            moved = False
            for seq, receive_count in candidates:
                exhausted = bool(max_receive_count) and receive_count >= max_receive_count
                # received too often: to the dead-letter queue instead of delivered again
                if exhausted and dead_letter and self._move(seq, dead_letter, source=queue, sent_at=None):
                    moved = True
                    continue
                chosen.append(seq)
            if not moved:
                break
        if not chosen:
            return []
        rows = self._all(
            "message_take",
            token=secrets.token_hex(8),
            now=now,
            visibility_timeout=visibility_timeout,
            seqs=json.dumps(chosen),
        )
        order = {seq: i for i, seq in enumerate(chosen)}  # RETURNING has no order of its own
        rows.sort(key=lambda r: order[r[0]])
        return [stored_message(r) for r in rows]

    def _move(self, seq: int, target: str, *, source: str | None, sent_at: float | None) -> bool:
        moved = self._exec(
            "message_move", target=target, source=source, now=self.now(), sent_at=sent_at, seq=seq
        ).rowcount
        if moved:  # a missing target queue leaves the message where it is
            self._exec("message_delete_seq", seq=seq)
            self.touched.add(target)
        return bool(moved)

    def queue_delete_message(self, queue: str, receipt: str) -> None:
        seq = parse_receipt(receipt)
        if queue.endswith(".fifo"):
            self.touched.add(queue)  # the message's group may be free now: wake its waiters
        if self._exec("message_delete", seq=seq, queue=queue, receipt=receipt).rowcount:
            return
        row = self._one("message_exists", seq=seq, queue=queue)
        if row is not None:
            raise InvalidReceipt(
                f"receipt handle {receipt!r} is stale: the message was received again since"
            )

    def queue_delete_messages(self, queue: str, receipts: Sequence[str]) -> list[InvalidReceipt | None]:
        batch = ReceiptBatch(receipts)
        if not batch.seqs:
            return batch.results
        if queue.endswith(".fifo"):
            self.touched.add(queue)  # the messages' groups may be free now: wake their waiters
        seqs = json.dumps(batch.seqs)
        deleted = self._exec("messages_delete", queue=queue, seqs=seqs, receipts=json.dumps(batch.valid)).rowcount
        if deleted == batch.expected:
            return batch.results
        return batch.stale({row[0] for row in self._all("messages_existing", queue=queue, seqs=seqs)})

    def queue_change_visibility(self, queue: str, receipt: str, seconds: float) -> None:
        seq = parse_receipt(receipt)
        changed = self._exec(
            "message_change_visibility",
            seq=seq,
            queue=queue,
            receipt=receipt,
            now=self.now(),
            seconds=seconds,
        ).rowcount
        if not changed:
            row = self._one("message_exists", seq=seq, queue=queue)
            if row is None:
                raise InvalidReceipt(f"receipt handle {receipt!r}: the message no longer exists")
            raise InvalidReceipt(
                f"receipt handle {receipt!r} is stale: the message was received again since"
            )
        self.touched.add(queue)

    def queue_purge(self, queue: str) -> int:
        if self.queue_get(queue) is None:
            raise QueueNotFound(f"queue {queue!r} does not exist")
        count: int = self._exec("queue_delete_messages", queue=queue).rowcount
        self._exec("queue_delete_dedup", queue=queue)
        return count

    def queue_stats(self, queue: str) -> QueueStats:
        row = self._one("queue_stats", queue=queue, now=self.now())
        return QueueStats(visible=row[0], in_flight=row[1], delayed=row[2], oldest_sent_at=row[3])

    def queue_next_visible_at(self, queue: str) -> float | None:
        row = self._one("queue_next_visible_at", queue=queue, now=self.now())
        return None if row is None else row[0]

    def queue_redrive(self, dead_letter: str, *, to: str | None = None, limit: int = 1000) -> int:
        if self.queue_get(dead_letter) is None:
            raise QueueNotFound(f"queue {dead_letter!r} does not exist")
        if to is not None and self.queue_get(to) is None:
            raise QueueNotFound(f"queue {to!r} does not exist")
        moved = 0
        self._exec("unhide", queue=dead_letter, now=self.now())
        for seq, source in self._all("queue_redrive_candidates", queue=dead_letter, limit=limit):
            target = to or source
            if target is None:
                continue
            if self._move(seq, target, source=None, sent_at=self.now()):
                moved += 1
        return moved

    def queue_expire(self, limit: int = 1000) -> int:
        rows = self._all("message_expired", now=self.now(), limit=limit)
        for (seq,) in rows:
            self._exec("message_delete_seq", seq=seq)
        self._exec("dedup_expire", now=self.now())
        return len(rows)
