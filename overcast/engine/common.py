"""What every engine shares above its SQL: how specs, attributes and receipts are encoded, and
how a kv condition is judged. Engines differ in SQL, never in these rules.

Before changing: the encodings are stored in databases; a change here is a migration.
"""

from __future__ import annotations

import hashlib
import json
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
    return StoredMessage(
        id=r[1],  # type: ignore[arg-type]
        body=r[2],  # type: ignore[arg-type]
        attributes=load_attributes(r[3]),  # type: ignore[arg-type]
        receipt=r[11],  # type: ignore[arg-type]
        receive_count=r[4],  # type: ignore[arg-type]
        sent_at=r[5],  # type: ignore[arg-type]
        first_received_at=r[6],  # type: ignore[arg-type]
        priority=r[7],  # type: ignore[arg-type]
        group_id=r[8],  # type: ignore[arg-type]
        dedup_id=r[9],  # type: ignore[arg-type]
        source_queue=r[10],  # type: ignore[arg-type]
    )
