"""The lease primitive on PostgreSQL: named, time-bound ownership (leadership, singleton work).

Before changing: taking a lease is one upsert whose row lock decides between concurrent
takers; expiry is judged with the engine clock's ``now`` (passed in), never the server's
``now()``, so a worker that dies loses its lease after the ttl, measured as every rule is.
"""

from __future__ import annotations

from overcast.engine.base import Lease
from overcast.engine.postgres._base import TxBase


class LeaseOps(TxBase):
    def lease_acquire(self, name: str, owner: str, ttl: float) -> bool:
        now = self.now()
        row = self._one("lease_acquire", name=name, owner=owner, expires_at=now + ttl, now=now)
        return row is not None and row[0] == owner

    def lease_release(self, name: str, owner: str) -> bool:
        return self._count("lease_release", name=name, owner=owner) > 0

    def lease_get(self, name: str) -> Lease | None:
        row = self._one("lease_get", name=name, now=self.now())
        return None if row is None else Lease(name, row[0], row[1])
