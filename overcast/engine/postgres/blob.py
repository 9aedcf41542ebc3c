"""The blob primitive on PostgreSQL: bytes (bytea) with metadata, listed by key in byte order."""

from __future__ import annotations

import json

from overcast.engine.base import Blob
from overcast.engine.common import etag as make_etag
from overcast.engine.postgres._base import TxBase


class BlobOps(TxBase):
    def blob_put(
        self, bucket: str, key: str, data: bytes, metadata: dict[str, str] | None = None
    ) -> Blob:
        etag = make_etag(data)
        meta = dict(metadata or {})
        self._exec(
            "blob_put",
            bucket=bucket,
            key=key,
            data=bytes(data),
            size=len(data),
            etag=etag,
            metadata=json.dumps(meta),
            now=self.now(),
        )
        return Blob(bucket, key, len(data), etag, meta, self.now())

    def blob_get(self, bucket: str, key: str) -> Blob | None:
        row = self._one("blob_get", bucket=bucket, key=key)
        if row is None:
            return None
        data, size, etag, metadata, modified = row
        return Blob(bucket, key, int(size), etag, json.loads(metadata), modified, bytes(data))

    def blob_delete(self, bucket: str, key: str) -> bool:
        return self._count("blob_delete", bucket=bucket, key=key) > 0

    def blob_list(
        self, bucket: str, prefix: str = "", *, after: str = "", limit: int = 1000
    ) -> list[Blob]:
        rows = self._all("blob_list", bucket=bucket, prefix=prefix, after=after, limit=limit)
        return [Blob(bucket, k, int(s), e, json.loads(m), t) for k, s, e, m, t in rows]
