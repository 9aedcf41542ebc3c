"""The lease primitive on SQLite: named, time-bound ownership (leadership, singleton work)."""

from __future__ import annotations

from overcast.engine.base import Lease
from overcast.engine.sqlite._base import TxBase


class LeaseOps(TxBase):
    def lease_acquire(self, name: str, owner: str, ttl: float) -> bool:
        now = self.now()
        self._exec("lease_acquire", name=name, owner=owner, expires_at=now + ttl, now=now)
        row = self._one("lease_get", name=name, now=now)
        return row is not None and row[0] == owner

    def lease_release(self, name: str, owner: str) -> bool:
        return bool(self._exec("lease_release", name=name, owner=owner).rowcount)

    def lease_get(self, name: str) -> Lease | None:
        row = self._one("lease_get", name=name, now=self.now())
        return None if row is None else Lease(name, row[0], row[1])
