"""The kv primitive on PostgreSQL: items by partition and sort key, versions, conditions, TTL.

Before changing: inside a write transaction, the first operation on a key takes an advisory lock
on it (held until commit, whether the item exists or not), so a transaction that reads an item
and then writes it behaves as on SQLite's single writer: nobody changes the item in between.
A condition is checked and the write done under that lock; an expired item counts as absent.
"""

from __future__ import annotations

import json
from typing import Any

from overcast.engine.base import Item
from overcast.engine.common import check_condition
from overcast.engine.postgres._base import TxBase, to_psycopg


class KvOps(TxBase):
    def _lock_key(self, table: str, pk: str, sk: str) -> None:
        if not self._writable or (table, pk, sk) in self._locked:
            return  # a read-only snapshot changes nothing, and a lock is held once
        self._exec("kv_lock", tbl=table, pk=pk, sk=sk)  # the next statement runs once it is ours
        self._locked.add((table, pk, sk))

    def _current_version(self, table: str, pk: str, sk: str) -> int | None:
        row = self._one("kv_get_any", tbl=table, pk=pk, sk=sk)
        if row is None:
            return None
        version, expires_at = row
        if expires_at is not None and expires_at <= self.now():
            return None
        return int(version)

    def kv_get(self, table: str, pk: str, sk: str = "") -> Item | None:
        self._lock_key(table, pk, sk)
        row = self._one("kv_get", tbl=table, pk=pk, sk=sk, now=self.now())
        if row is None:
            return None
        return Item(table, pk, sk, json.loads(row[0]), int(row[1]), row[2])

    def kv_put(
        self,
        table: str,
        pk: str,
        sk: str,
        value: Any,
        *,
        condition: int | str | None = None,
        expires_at: float | None = None,
    ) -> Item:
        self._lock_key(table, pk, sk)
        current = self._current_version(table, pk, sk)
        check_condition(condition, current, table, pk, sk)
        version = 1 if current is None else current + 1
        self._exec(
            "kv_upsert",
            tbl=table,
            pk=pk,
            sk=sk,
            value=json.dumps(value),
            version=version,
            expires_at=expires_at,
        )
        return Item(table, pk, sk, value, version, expires_at)

    def kv_delete(self, table: str, pk: str, sk: str = "", *, condition: int | None = None) -> bool:
        self._lock_key(table, pk, sk)
        current = self._current_version(table, pk, sk)
        if condition is not None:
            check_condition(condition, current, table, pk, sk)
        self._exec("kv_delete", tbl=table, pk=pk, sk=sk)
        return current is not None

    def kv_query(
        self,
        table: str,
        pk: str,
        *,
        prefix: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 1000,
        reverse: bool = False,
    ) -> list[Item]:
        # built here rather than in queries.sql: the bounds are optional and the order flips
        sql = ["SELECT sk, value, version, expires_at FROM kv WHERE tbl = :tbl AND pk = :pk",
               "AND (expires_at IS NULL OR expires_at > :now)"]
        params: dict[str, Any] = {"tbl": table, "pk": pk, "now": self.now(), "limit": limit}
        if prefix:
            sql.append("AND sk >= :prefix AND starts_with(sk, :prefix)")
            params["prefix"] = prefix
        if start is not None:
            sql.append("AND sk >= :start")
            params["start"] = start
        if end is not None:
            sql.append("AND sk < :end")
            params["end"] = end
        sql.append(f"ORDER BY sk {'DESC' if reverse else 'ASC'} LIMIT :limit")
        rows = self._execute(to_psycopg(" ".join(sql)), params).fetchall()
        return [Item(table, pk, sk, json.loads(v), int(ver), exp) for sk, v, ver, exp in rows]

    def kv_expire(self, limit: int = 1000) -> int:
        return self._count("kv_expire", now=self.now(), limit=limit)
