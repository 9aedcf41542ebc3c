-- Overcast PostgreSQL schema, version 1: the five primitives.
-- Times are epoch seconds (double precision) from the engine's clock, never now().
-- Keys that are ordered or compared (names, sort keys, object keys, shards) use COLLATE "C":
-- byte order, as SQLite and DynamoDB order them, whatever the database's locale.

CREATE TABLE queues (
    name text COLLATE "C" PRIMARY KEY,
    spec text NOT NULL,
    fifo boolean NOT NULL,
    retention double precision NOT NULL,
    max_receive_count integer,
    dead_letter text COLLATE "C",
    created_at double precision NOT NULL
);

-- fillfactor leaves room on each page so that a receive (which changes no indexed column)
-- is a HOT update: no new index entries per receive
CREATE TABLE messages (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text COLLATE "C" NOT NULL,
    id text NOT NULL,
    body text NOT NULL,
    attributes text NOT NULL,
    priority integer NOT NULL DEFAULT 0,
    group_id text COLLATE "C",
    dedup_id text,
    sent_at double precision NOT NULL,
    visible_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    receive_count integer NOT NULL DEFAULT 0,
    first_received_at double precision,
    receipt text,
    source_queue text COLLATE "C"
) WITH (fillfactor = 80);
-- receive order: priority, then age; visible_at is deliberately not indexed (see fillfactor)
CREATE INDEX messages_order ON messages (queue, priority DESC, seq);

CREATE TABLE dedup (
    queue text COLLATE "C" NOT NULL,
    dedup_id text NOT NULL,
    message_id text NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (queue, dedup_id)
);

CREATE TABLE log_records (
    stream text COLLATE "C" NOT NULL,
    shard text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    data text NOT NULL,
    appended_at double precision NOT NULL,
    PRIMARY KEY (stream, shard, seq)
);
CREATE INDEX log_records_time ON log_records (stream, appended_at);

-- the last sequence number handed out per shard: its row lock orders concurrent appenders, and
-- it survives trimming, so numbers are never reused
CREATE TABLE log_heads (
    stream text COLLATE "C" NOT NULL,
    shard text COLLATE "C" NOT NULL,
    last_seq bigint NOT NULL,
    PRIMARY KEY (stream, shard)
);

CREATE TABLE log_checkpoints (
    stream text COLLATE "C" NOT NULL,
    consumer text COLLATE "C" NOT NULL,
    shard text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (stream, consumer, shard)
);

CREATE TABLE kv (
    tbl text COLLATE "C" NOT NULL,
    pk text COLLATE "C" NOT NULL,
    sk text COLLATE "C" NOT NULL,
    value text NOT NULL,
    version bigint NOT NULL,
    expires_at double precision,
    PRIMARY KEY (tbl, pk, sk)
);
CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE blobs (
    bucket text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    data bytea NOT NULL,
    size bigint NOT NULL,
    etag text NOT NULL,
    metadata text NOT NULL,
    modified_at double precision NOT NULL,
    PRIMARY KEY (bucket, key)
);

CREATE TABLE leases (
    name text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    expires_at double precision NOT NULL
);

-- engines waiting on a queue (long polls): a transaction that changed a queue notifies only if
-- one is registered (see overcast/engine/postgres/engine.py)
CREATE TABLE queue_waiters (
    queue text COLLATE "C" NOT NULL,
    waiter text NOT NULL,
    until double precision NOT NULL,
    PRIMARY KEY (queue, waiter)
);

-- Called by a transaction that changed queues, before it commits; returns how many it notified.
-- Race-free because of the waiters' lock: an engine registering as a waiter holds it
-- exclusively until its registration commits (and looks at the queue only after); this takes
-- it shared first and only then looks for waiters, in a statement of its own — a volatile
-- function's statements each take a new snapshot, so this one is taken after the lock. Either
-- it sees the registration, or the registration (and the waiter's look) comes after our commit.
-- No waiter, no NOTIFY: a transaction that notifies takes a cluster-wide lock as it commits.
CREATE FUNCTION overcast_notify_waiters(channel text, queues text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    waiting text;
    notified integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('overcast.waiters'), hashtext(q))
    FROM unnest(queues) AS q;
    FOR waiting IN
        SELECT DISTINCT queue FROM queue_waiters
        WHERE queue = ANY(queues) AND until > extract(epoch FROM clock_timestamp())
    LOOP
        PERFORM pg_notify(channel, waiting);
        notified := notified + 1;
    END LOOP;
    RETURN notified;
END
$$;
