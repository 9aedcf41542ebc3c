"""The log primitive on PostgreSQL: append-only records per shard, checkpoints, trimming.

Before changing: sequence numbers come from a per-shard head row updated inside the writing
transaction. Its row lock is held until commit, so concurrent appenders to one shard (from any
process) get strictly increasing numbers and commit in that order — a reader never sees a
record appear behind one it has already read — and numbers are never reused after a trim.
"""

from __future__ import annotations

from overcast.engine.base import LogRecord
from overcast.engine.postgres._base import TxBase


class LogOps(TxBase):
    def log_append(self, stream: str, shard: str, data: str) -> int:
        seq = int(self._one("log_next_seq", stream=stream, shard=shard)[0])
        self._exec("log_insert", stream=stream, shard=shard, seq=seq, data=data, now=self.now())
        return seq

    def log_read(self, stream: str, shard: str, after: int = 0, limit: int = 100) -> list[LogRecord]:
        rows = self._all("log_read", stream=stream, shard=shard, after=after, limit=limit)
        return [LogRecord(stream, shard, int(seq), data, at) for seq, data, at in rows]

    def log_shards(self, stream: str) -> list[str]:
        return [row[0] for row in self._all("log_shards", stream=stream)]

    def log_set_checkpoint(self, stream: str, consumer: str, shard: str, seq: int) -> None:
        self._exec("log_checkpoint_set", stream=stream, consumer=consumer, shard=shard, seq=seq)

    def log_get_checkpoint(self, stream: str, consumer: str, shard: str) -> int:
        row = self._one("log_checkpoint_get", stream=stream, consumer=consumer, shard=shard)
        return 0 if row is None else int(row[0])

    def log_trim(self, stream: str, before: float, limit: int = 1000) -> int:
        return self._count("log_trim", stream=stream, before=before, limit=limit)
