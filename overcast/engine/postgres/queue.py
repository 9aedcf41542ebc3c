"""The queue primitive on PostgreSQL: visibility, receive counts, delay, priority, FIFO groups,
deduplication and the move to a dead-letter queue, shared safely by any number of processes.

Before changing: receivers run concurrently, so a receive only ever takes rows it has locked
with ``FOR UPDATE SKIP LOCKED`` (two receivers never take the same message, and never wait for
each other). On a FIFO queue that is not enough — a receiver could take a group's second message
while another holds its first — so a receive first takes an advisory lock per message group and
only then, in a new statement (a new snapshot), looks at that group's messages: see
``fifo_lock_groups`` in queries.sql.
"""

from __future__ import annotations

import secrets
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
from overcast.engine.postgres._base import TxBase
from overcast.errors import InvalidReceipt, QueueAlreadyExists, QueueNotFound


def _spec_row(spec: QueueSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "spec": spec_to_json(spec),
        "fifo": spec.fifo,
        "retention": spec.retention,
        "max_receive_count": spec.max_receive_count,
        "dead_letter": spec.dead_letter,
        "created_at": spec.created_at,
    }


class QueueOps(TxBase):
    def queue_create(self, spec: QueueSpec) -> QueueSpec:
        existing = self.queue_get(spec.name)
        if existing is None:
            created = replace(spec, created_at=self.now())
            if self._count("queue_insert", **_spec_row(created)):
                return created
            # another worker created it since we looked (workers reconcile as they start)
            existing = self.queue_get(spec.name)
            assert existing is not None
        if existing.settings() != spec.settings():
            raise QueueAlreadyExists(
                f"queue {spec.name!r} already exists with other settings "
                f"({existing.settings()}); delete it or update it instead"
            )
        return existing

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
        deleted = self._count("queue_delete", name=name) > 0
        self._count("queue_delete_messages", queue=name)
        self._exec("queue_delete_dedup", queue=name)
        self.touched.add(name)
        return deleted

    def queue_send(self, queue: str, messages: Sequence[NewMessage]) -> list[str]:
        now = self.now()
        ids: list[str] = []
        accepted: list[NewMessage] = []
        for message in messages:
            if message.dedup_id is not None:
                claimed = self._one(
                    "dedup_claim",
                    queue=queue,
                    dedup_id=message.dedup_id,
                    message_id=message.id,
                    expires_at=now + FIFO_DEDUP_WINDOW,
                    now=now,
                )
                if claimed is None:  # accepted before, inside the window: the first one's id
                    ids.append(self._one("dedup_get", queue=queue, dedup_id=message.dedup_id)[0])
                    continue
            accepted.append(message)
            ids.append(message.id)
        # without dedup ids the ids are known here: the insert's count only says whether the
        # queue exists, so the statement may be held back (see _blind in _base)
        count = self._count if any(m.dedup_id is not None for m in accepted) else self._blind
        if len(accepted) == 1:
            message = accepted[0]
            inserted = count(
                "message_insert",
                channel=self._channel,
                queue=queue,
                now=now,
                id=message.id,
                body=message.body,
                attributes=dump_attributes(message.attributes),
                priority=int(message.priority),
                group_id=message.group_id,
                dedup_id=message.dedup_id,
                delay=float(message.delay),
            )
            if inserted == 0:
                raise QueueNotFound(f"queue {queue!r} does not exist")
            self.notified.add(queue)  # by the insert itself
        elif accepted:
            inserted = count(
                "messages_insert",
                queue=queue,
                now=now,
                ids=[m.id for m in accepted],
                bodies=[m.body for m in accepted],
                attributes=[dump_attributes(m.attributes) for m in accepted],
                priorities=[int(m.priority) for m in accepted],
                group_ids=[m.group_id for m in accepted],
                dedup_ids=[m.dedup_id for m in accepted],
                delays=[float(m.delay) for m in accepted],
            )
            if inserted == 0:
                raise QueueNotFound(f"queue {queue!r} does not exist")
        elif self._one("queue_retention", name=queue) is None:
            raise QueueNotFound(f"queue {queue!r} does not exist")
        self.touched.add(queue)
        return ids

    def queue_receive(
        self, queue: str, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        now = self.now()
        token = secrets.token_hex(8)
        params = {"queue": queue, "now": now, "visibility_timeout": visibility_timeout,
                  "token": token, "limit": max_messages}
        if self._may_commit_ahead():  # alone so far: commit at once, undo if more follows
            rows = self._commit_ahead("receive", undo="receive_undo", **params)
        else:
            rows = self._all("receive", **params)
        if not rows:
            raise QueueNotFound(f"queue {queue!r} does not exist")
        fifo, max_receive_count, dead_letter, dead_letter_exists = rows[0][12:16]
        redrive = bool(max_receive_count and dead_letter and dead_letter_exists)
        if not fifo and not redrive:  # the common case: taken by that one statement
            got = [r for r in rows if r[0] is not None]
            if self._undo is not None and got:
                self._undo[1].update(
                    seqs=[r[0] for r in got], taken=[r[11] for r in got],
                    receipts=[r[16] for r in got], counts=[r[17] for r in got],
                    visible=[r[18] for r in got], first=[r[19] for r in got],
                )
            return [stored_message(r) for r in got]
        self._undo = None  # nothing was taken: the statement changed nothing
        taken: list[StoredMessage] = []
        seen: set[int] = set()  # with a zero visibility timeout a taken message stays a candidate
        while len(taken) < max_messages:
            wanted = max_messages - len(taken)
            if fifo:
                groups = [r[0] for r in self._all("fifo_lock_groups", queue=queue, now=now, limit=wanted)]
                candidates = self._all(
                    "receive_candidates_fifo", queue=queue, now=now, groups=groups, limit=wanted
                )
            else:
                candidates = self._all("receive_candidates", queue=queue, now=now, limit=wanted)
            candidates = [(seq, count) for seq, count in candidates if seq not in seen]
            if not candidates:
                break
            seen.update(seq for seq, _ in candidates)
            exhausted = [seq for seq, count in candidates if redrive and count >= max_receive_count]
            keep = [seq for seq, count in candidates if not (redrive and count >= max_receive_count)]
            if exhausted:  # received too often: to the dead-letter queue instead of delivered again
                moved = self._move(exhausted, dead_letter, source=queue, sent_at=None)
                if moved < len(exhausted):  # the dead-letter queue went away meanwhile
                    keep = [seq for seq, _ in candidates]
                    exhausted = []
            if keep:
                rows = self._all(
                    "receive_take_seqs", seqs=keep, now=now, visibility_timeout=visibility_timeout,
                    token=token,
                )
                rows.sort(key=lambda r: r[0] if fifo else (-r[7], r[0]))
                taken += [stored_message(r) for r in rows]
            if not exhausted:
                break
        return taken

    def _move(self, seqs: list[int], target: str, *, source: str | None, sent_at: float | None) -> int:
        moved = self._count(
            "messages_move", seqs=seqs, target=target, source=source, now=self.now(), sent_at=sent_at
        )
        if moved:
            self.touched.add(target)
        return moved

    def queue_delete_message(self, queue: str, receipt: str) -> None:
        seq = parse_receipt(receipt)
        if queue.endswith(".fifo"):
            self.touched.add(queue)  # the message's group may be free now: wake its waiters
        if self._blind("message_delete", seq=seq, queue=queue, receipt=receipt) != 0:
            return  # deleted (or held back: then a count of 0 runs the transaction again)
        if self._one("message_exists", seq=seq, queue=queue) is not None:
            raise InvalidReceipt(
                f"receipt handle {receipt!r} is stale: the message was received again since"
            )

    def queue_delete_messages(self, queue: str, receipts: Sequence[str]) -> list[InvalidReceipt | None]:
        batch = ReceiptBatch(receipts)
        if not batch.seqs:
            return batch.results
        if queue.endswith(".fifo"):
            self.touched.add(queue)  # the messages' groups may be free now: wake their waiters
        # held back like a single delete: all deleted is what the caller assumes
        done = self._blind(
            "messages_delete", queue=queue, seqs=batch.seqs, receipts=batch.valid, expected=batch.expected
        )
        if done is None or done == 1:
            return batch.results
        return batch.stale({row[0] for row in self._all("messages_existing", queue=queue, seqs=batch.seqs)})

    def queue_change_visibility(self, queue: str, receipt: str, seconds: float) -> None:
        seq = parse_receipt(receipt)
        changed = self._blind(
            "message_change_visibility",
            seq=seq, queue=queue, receipt=receipt, now=self.now(), seconds=float(seconds),
        )
        if changed == 0:
            if self._one("message_exists", seq=seq, queue=queue) is None:
                raise InvalidReceipt(f"receipt handle {receipt!r}: the message no longer exists")
            raise InvalidReceipt(
                f"receipt handle {receipt!r} is stale: the message was received again since"
            )
        self.touched.add(queue)

    def queue_purge(self, queue: str) -> int:
        if self.queue_get(queue) is None:
            raise QueueNotFound(f"queue {queue!r} does not exist")
        count = self._count("queue_delete_messages", queue=queue)
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
        by_target: dict[str, list[int]] = {}
        for seq, source in self._all("queue_redrive_candidates", queue=dead_letter, now=self.now(), limit=limit):
            target = to or source
            if target is not None:
                by_target.setdefault(target, []).append(seq)
        now = self.now()
        return sum(self._move(seqs, target, source=None, sent_at=now) for target, seqs in by_target.items())

    def queue_expire(self, limit: int = 1000) -> int:
        count = self._count("messages_expire", now=self.now(), limit=limit)
        self._exec("dedup_expire", now=self.now())
        return count
