"""The kv primitive on SQLite: items by partition and sort key, versions, conditions, TTL.

Before changing: a condition is checked and the write done in the same transaction; an expired
item counts as absent for conditions and reads even before the sweeper deletes it.
"""

from __future__ import annotations

import json
from typing import Any

from overcast.engine.base import Item
from overcast.engine.common import check_condition
from overcast.engine.sqlite._base import TxBase


class KvOps(TxBase):
    def _current_version(self, table: str, pk: str, sk: str) -> int | None:
        row = self._one("kv_get_any", tbl=table, pk=pk, sk=sk)
        if row is None:
            return None
        version, expires_at = row
        if expires_at is not None and expires_at <= self.now():
            return None
        return int(version)

    def kv_get(self, table: str, pk: str, sk: str = "") -> Item | None:
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
            sql.append("AND substr(sk, 1, length(:prefix)) = :prefix")
            params["prefix"] = prefix
        if start is not None:
            sql.append("AND sk >= :start")
            params["start"] = start
        if end is not None:
            sql.append("AND sk < :end")
            params["end"] = end
        sql.append(f"ORDER BY sk {'DESC' if reverse else 'ASC'} LIMIT :limit")
        rows = self._conn.execute(" ".join(sql), params).fetchall()
        return [Item(table, pk, sk, json.loads(v), int(ver), exp) for sk, v, ver, exp in rows]

    def kv_expire(self, limit: int = 1000) -> int:
        count: int = self._exec("kv_expire", now=self.now(), limit=limit).rowcount
        return count
