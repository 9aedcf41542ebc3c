-- Overcast SQLite schema, version 1: the five primitives.

CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    fifo INTEGER NOT NULL,
    retention REAL NOT NULL,
    max_receive_count INTEGER,
    dead_letter TEXT,
    created_at REAL NOT NULL
);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    group_id TEXT,
    dedup_id TEXT,
    sent_at REAL NOT NULL,
    -- hidden = 1 while delayed or in flight; a receive first un-hides what visible_at has
    -- reached, so finding the next messages never scans past in-flight ones
    hidden INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_received_at REAL,
    receipt TEXT,
    source_queue TEXT
);
-- receive order among visible messages: priority, then age. Both indexes are partial, so a
-- message sits in exactly one of them: a receive or a delete maintains one entry, not two.
CREATE INDEX messages_ready ON messages (queue, priority DESC, seq) WHERE hidden = 0;
-- hidden messages by the time they come back: un-hiding, in-flight FIFO groups, next wake-up
CREATE INDEX messages_hidden ON messages (queue, visible_at) WHERE hidden = 1;
-- redrive and purge walk a queue in order of arrival
CREATE INDEX messages_queue ON messages (queue, seq);
-- no index on expires_at: the retention sweep scans once a minute, and every send would pay for one

CREATE TABLE dedup (
    queue TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (queue, dedup_id)
) WITHOUT ROWID;

CREATE TABLE log_records (
    stream TEXT NOT NULL,
    shard TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    appended_at REAL NOT NULL,
    PRIMARY KEY (stream, shard, seq)
) WITHOUT ROWID;
CREATE INDEX log_records_time ON log_records (stream, appended_at);

-- the last sequence number handed out per shard: survives trimming, so numbers are never reused
CREATE TABLE log_heads (
    stream TEXT NOT NULL,
    shard TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (stream, shard)
) WITHOUT ROWID;

CREATE TABLE log_checkpoints (
    stream TEXT NOT NULL,
    consumer TEXT NOT NULL,
    shard TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (stream, consumer, shard)
) WITHOUT ROWID;

CREATE TABLE kv (
    tbl TEXT NOT NULL,
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at REAL,
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID;
CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE blobs (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    metadata TEXT NOT NULL,
    modified_at REAL NOT NULL,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
