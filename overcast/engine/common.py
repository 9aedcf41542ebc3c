"""What every engine shares above its SQL: how specs, attributes and receipts are encoded, and
how a kv condition is judged. Engines differ in SQL, never in these rules.

Before changing: the encodings are stored in databases; a change here is a migration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict

from overcast.engine.base import ABSENT, QueueSpec, StoredMessage
from overcast.errors import ConditionFailed, InvalidReceipt

_EMPTY = "{}"
_JSON_ONLY = '{"$json": true}'


def spec_to_json(spec: QueueSpec) -> str:
    return json.dumps(asdict(spec))


def spec_from_json(text: str) -> QueueSpec:
    return QueueSpec(**json.loads(text))


def dump_attributes(attributes: dict[str, object]) -> str:
    """A message's stored attributes as JSON text; the two most common shapes skip the encoder
    (this runs once per message sent)."""
    if not attributes:
        return _EMPTY
    if attributes == {"$json": True}:
        return _JSON_ONLY
    return json.dumps(attributes)


def load_attributes(text: str) -> dict[str, object]:
    if text == _EMPTY:
        return {}
    if text == _JSON_ONLY:
        return {"$json": True}
    result: dict[str, object] = json.loads(text)
    return result


def parse_receipt(receipt: str) -> int:
    """The message sequence number in a receipt ``SEQ.TOKEN`` (``InvalidReceipt`` if malformed)."""
    try:
        seq, token = receipt.split(".", 1)
        if not token:
            raise ValueError
        return int(seq)
    except (ValueError, AttributeError):
        raise InvalidReceipt(f"receipt handle {receipt!r} is malformed") from None


class ReceiptBatch:
    """A batch delete's receipts, parsed: the results so far (malformed receipts have failed)
    and the sequence numbers and receipts to delete. An engine deletes the rows whose seq and
    receipt both appear (a receipt names its own seq, so that matches pairwise), and if fewer
    went than ``expected``, calls ``stale`` with the seqs still there."""

    __slots__ = ("_indexes", "receipts", "results", "seqs", "valid")

    def __init__(self, receipts: Sequence[str]) -> None:
        self.receipts = receipts
        self.results: list[InvalidReceipt | None] = [None] * len(receipts)
        self.seqs: list[int] = []
        self.valid: list[str] = []
        self._indexes: list[int] = []  # where each of seqs/valid stands in receipts
        for index, receipt in enumerate(receipts):
            try:
                self.seqs.append(parse_receipt(receipt))
                self.valid.append(receipt)
                self._indexes.append(index)
            except InvalidReceipt as exc:
                self.results[index] = exc

    @property
    def expected(self) -> int:
        return len(set(self.valid))

    def stale(self, remaining: set[int]) -> list[InvalidReceipt | None]:
        """The results, with every receipt whose message is still there marked stale."""
        for index, seq, receipt in zip(self._indexes, self.seqs, self.valid, strict=True):
            if seq in remaining:
                self.results[index] = InvalidReceipt(
                    f"receipt handle {receipt!r} is stale: the message was received again since"
                )
        return self.results


def check_condition(condition: int | str | None, current: int | None, table: str, pk: str, sk: str) -> None:
    """Raise ``ConditionFailed`` unless an item at version ``current`` (None: absent) meets
    ``condition`` (None: always; ``ABSENT``; or a version)."""
    if condition is None:
        return
    where = f"{table}[{pk!r}, {sk!r}]"
    if condition == ABSENT:
        if current is not None:
            raise ConditionFailed(f"{where} already exists (version {current})")
        return
    if current != condition:
        found = "absent" if current is None else f"at version {current}"
        raise ConditionFailed(f"{where} is {found}, not at version {condition}")


def etag(data: bytes) -> str:
    """An object's ETag: the MD5 of its bytes, as S3 gives for single-part uploads."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def stored_message(r: tuple[object, ...]) -> StoredMessage:
    """A received message from a row in the column order both engines' receive queries return:
    seq, id, body, attributes, receive_count, sent_at, first_received_at, priority, group_id,
    dedup_id, source_queue, receipt."""
    return StoredMessage(r[1], r[2], load_attributes(r[3]), r[11], r[4], r[5], r[6], r[7], r[8], r[9], r[10])  # type: ignore[arg-type]
