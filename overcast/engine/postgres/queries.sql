-- Named queries of the PostgreSQL engine. Each starts with "-- name: NAME" and runs as one
-- statement. Parameters are named (:param, turned into psycopg's %(param)s when loaded; a literal
-- percent sign needs no escaping). Times are epoch seconds (double precision) passed as :now
-- from the engine clock: never now() here, so that a test's manual clock governs every rule.
-- Transactions run at READ COMMITTED: every statement that decides something under concurrency
-- either locks what it reads (FOR UPDATE, an advisory lock) or is a single upsert.

-- name: queue_insert
WITH done AS (
    INSERT INTO queues (name, spec, fifo, retention, max_receive_count, dead_letter, created_at)
    VALUES (:name, :spec, :fifo, :retention, :max_receive_count, :dead_letter, :created_at)
    ON CONFLICT (name) DO NOTHING
    RETURNING 1)
SELECT count(*) FROM done;

-- name: queue_update
UPDATE queues
SET spec = :spec, fifo = :fifo, retention = :retention,
    max_receive_count = :max_receive_count, dead_letter = :dead_letter
WHERE name = :name;

-- name: queue_get
SELECT spec FROM queues WHERE name = :name;

-- name: queue_list
SELECT spec FROM queues WHERE name >= :prefix AND starts_with(name, :prefix) ORDER BY name;

-- name: queue_delete
WITH done AS (
    DELETE FROM queues WHERE name = :name
    RETURNING 1)
SELECT count(*) FROM done;

-- name: queue_delete_messages
WITH done AS (
    DELETE FROM messages WHERE queue = :queue
    RETURNING 1)
SELECT count(*) FROM done;

-- name: queue_delete_dedup
DELETE FROM dedup WHERE queue = :queue;

-- name: queue_retention
SELECT retention FROM queues WHERE name = :name;

-- name: dedup_claim
-- the first sender of a dedup id in the window gets a row back; a later one (even one that
-- waited for the first to commit) gets none
INSERT INTO dedup (queue, dedup_id, message_id, expires_at)
VALUES (:queue, :dedup_id, :message_id, :expires_at)
ON CONFLICT (queue, dedup_id) DO UPDATE
SET message_id = excluded.message_id, expires_at = excluded.expires_at
WHERE dedup.expires_at <= :now
RETURNING message_id;

-- name: dedup_get
SELECT message_id FROM dedup WHERE queue = :queue AND dedup_id = :dedup_id;

-- name: message_insert
-- one message (the common case: no arrays to encode), and the wake-up of its waiters if it
-- went in (see overcast_notify_waiters in the migrations): a send is this one statement
WITH done AS (
    INSERT INTO messages (queue, id, body, attributes, priority, group_id, dedup_id,
                          sent_at, visible_at, expires_at)
    SELECT q.name, :id, :body, :attributes, :priority, :group_id, :dedup_id,
           :now, :now + :delay, :now + q.retention
    FROM queues q WHERE q.name = :queue
    RETURNING 1),
inserted AS (SELECT count(*) AS n FROM done)
SELECT n, CASE WHEN n > 0 THEN overcast_notify_waiters(:channel, ARRAY[:queue]::text[]) END
FROM inserted;

-- name: messages_insert
-- one statement for any batch: the queue's retention is joined in, and nothing is inserted
-- when the queue does not exist; WITH ORDINALITY keeps the batch's order in seq
WITH done AS (
    INSERT INTO messages (queue, id, body, attributes, priority, group_id, dedup_id,
                          sent_at, visible_at, expires_at)
    SELECT q.name, m.id, m.body, m.attributes, m.priority, m.group_id, m.dedup_id,
           :now, :now + m.delay, :now + q.retention
    FROM queues q,
         unnest(:ids::text[], :bodies::text[], :attributes::text[], :priorities::integer[],
                :group_ids::text[], :dedup_ids::text[], :delays::double precision[])
             WITH ORDINALITY AS m(id, body, attributes, priority, group_id, dedup_id, delay, n)
    WHERE q.name = :queue
    ORDER BY m.n
    RETURNING 1)
SELECT count(*) FROM done;

-- name: receive
-- one statement for the settings and, in the common case (a standard queue without a working
-- redrive policy), the take: one row per message taken, each with the queue's settings, or one
-- row of settings alone; none when the queue does not exist. Each row also carries what the
-- message was before (receipt_undo): enough to put it back (receive_undo), see queue.py
WITH settings AS (
    SELECT q.fifo, q.max_receive_count, q.dead_letter, d.name IS NOT NULL AS dead_letter_exists
    FROM queues q LEFT JOIN queues d ON d.name = q.dead_letter
    WHERE q.name = :queue),
picked AS (
    SELECT seq, receipt, receive_count, visible_at, first_received_at FROM messages
    WHERE queue = :queue AND visible_at <= :now AND expires_at > :now
      AND EXISTS (SELECT 1 FROM settings
                  WHERE NOT fifo AND (max_receive_count IS NULL OR NOT dead_letter_exists))
    ORDER BY priority DESC, seq
    LIMIT :limit
    FOR UPDATE SKIP LOCKED),
taken AS (
    UPDATE messages m
    SET receipt = m.seq || '.' || :token,
        receive_count = m.receive_count + 1,
        visible_at = :now + :visibility_timeout,
        first_received_at = coalesce(m.first_received_at, :now)
    FROM picked
    WHERE m.seq = picked.seq
    RETURNING m.seq, m.id, m.body, m.attributes, m.receive_count, m.sent_at, m.first_received_at,
              m.priority, m.group_id, m.dedup_id, m.source_queue, m.receipt,
              picked.receipt AS receipt_undo, picked.receive_count AS receive_count_undo,
              picked.visible_at AS visible_at_undo, picked.first_received_at AS first_received_at_undo)
SELECT t.seq, t.id, t.body, t.attributes, t.receive_count, t.sent_at, t.first_received_at,
       t.priority, t.group_id, t.dedup_id, t.source_queue, t.receipt,
       s.fifo, s.max_receive_count, s.dead_letter, s.dead_letter_exists,
       t.receipt_undo, t.receive_count_undo, t.visible_at_undo, t.first_received_at_undo
FROM settings s LEFT JOIN taken t ON true
ORDER BY t.priority DESC, t.seq;

-- name: receive_undo
-- puts messages back as they were before a receive (one that committed on its own, ahead of a
-- transaction that then did more: see queue.py) — unless received again since
UPDATE messages m
SET receipt = u.receipt, receive_count = u.receive_count, visible_at = u.visible_at,
    first_received_at = u.first_received_at
FROM unnest(:seqs::bigint[], :taken::text[], :receipts::text[], :counts::integer[],
            :visible::double precision[], :first::double precision[])
         AS u(seq, taken, receipt, receive_count, visible_at, first_received_at)
WHERE m.seq = u.seq AND m.receipt = u.taken;

-- name: receive_candidates
SELECT seq, receive_count FROM messages
WHERE queue = :queue AND visible_at <= :now AND expires_at > :now
ORDER BY priority DESC, seq
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: fifo_lock_groups
-- the oldest groups that have a visible message and none in flight, each locked for this
-- transaction; a group another receiver holds is skipped. The messages are read by the next
-- statement, whose snapshot is taken after these locks were granted: a receiver that held a
-- group has committed by then, so its in-flight messages are seen.
SELECT group_id FROM (
    SELECT group_id, min(seq) AS head FROM messages
    WHERE queue = :queue AND visible_at <= :now AND expires_at > :now AND group_id IS NOT NULL
      AND group_id NOT IN (
          SELECT group_id FROM messages
          WHERE queue = :queue AND visible_at > :now AND receive_count > 0 AND group_id IS NOT NULL)
    GROUP BY group_id
    ORDER BY head
    LIMIT :limit) heads
WHERE pg_try_advisory_xact_lock(hashtext('overcast.fifo:' || :queue), hashtext(group_id))
ORDER BY head;

-- name: receive_candidates_fifo
SELECT seq, receive_count FROM messages
WHERE queue = :queue AND visible_at <= :now AND expires_at > :now
  AND (group_id IS NULL OR (group_id = ANY(:groups) AND group_id NOT IN (
          SELECT group_id FROM messages
          WHERE queue = :queue AND visible_at > :now AND receive_count > 0 AND group_id IS NOT NULL)))
ORDER BY seq
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: receive_take_seqs
UPDATE messages
SET receipt = seq || '.' || :token,
    receive_count = receive_count + 1,
    visible_at = :now + :visibility_timeout,
    first_received_at = coalesce(first_received_at, :now)
WHERE seq = ANY(:seqs)
RETURNING seq, id, body, attributes, receive_count, sent_at, first_received_at,
          priority, group_id, dedup_id, source_queue, receipt;

-- name: messages_move
-- to another queue (dead letters, redrive) as new messages; nothing moves if the target is gone
WITH moved AS (
    DELETE FROM messages
    WHERE seq = ANY(:seqs) AND EXISTS (SELECT 1 FROM queues WHERE name = :target)
    RETURNING seq, id, body, attributes, priority, group_id, dedup_id, sent_at),
done AS (
    INSERT INTO messages (queue, id, body, attributes, priority, group_id, dedup_id,
                          sent_at, visible_at, expires_at, receive_count, source_queue)
    SELECT :target, moved.id, moved.body, moved.attributes, moved.priority, moved.group_id,
           moved.dedup_id, coalesce(:sent_at::double precision, moved.sent_at), :now,
           coalesce(:sent_at::double precision, moved.sent_at) + t.retention, 0, :source::text
    FROM moved JOIN queues t ON t.name = :target
    ORDER BY moved.seq
    RETURNING 1)
SELECT count(*) FROM done;

-- name: message_delete
WITH done AS (
    DELETE FROM messages WHERE seq = :seq AND queue = :queue AND receipt = :receipt
    RETURNING 1)
SELECT count(*) FROM done;

-- name: messages_delete
-- 1 when every receipt deleted its message (a receipt holds its own seq, so seq and receipt
-- matching separately is matching pairwise)
WITH done AS (
    DELETE FROM messages
    WHERE queue = :queue AND seq = ANY(:seqs) AND receipt = ANY(:receipts)
    RETURNING 1)
SELECT (count(*) = :expected)::int FROM done;

-- name: messages_existing
SELECT seq FROM messages WHERE queue = :queue AND seq = ANY(:seqs);

-- name: message_exists
SELECT receipt FROM messages WHERE seq = :seq AND queue = :queue;

-- name: message_change_visibility
WITH done AS (
    UPDATE messages SET visible_at = :now + :seconds
    WHERE seq = :seq AND queue = :queue AND receipt = :receipt AND receive_count > 0
    RETURNING 1)
SELECT count(*) FROM done;

-- name: queue_stats
SELECT count(*) FILTER (WHERE visible_at <= :now),
       count(*) FILTER (WHERE visible_at > :now AND receive_count > 0),
       count(*) FILTER (WHERE visible_at > :now AND receive_count = 0),
       min(sent_at)
FROM messages WHERE queue = :queue AND expires_at > :now;

-- name: queue_next_visible_at
SELECT min(visible_at) FROM messages WHERE queue = :queue AND visible_at > :now;

-- name: queue_redrive_candidates
-- the messages a receive would take, in its order (in-flight ones stay until they are visible)
SELECT seq, source_queue FROM messages WHERE queue = :queue AND visible_at <= :now
ORDER BY priority DESC, seq LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: messages_expire
WITH done AS (
    DELETE FROM messages WHERE seq IN (
        SELECT seq FROM messages WHERE expires_at <= :now LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT count(*) FROM done;

-- name: dedup_expire
DELETE FROM dedup WHERE expires_at <= :now;

-- name: log_next_seq
-- the head row stays locked until commit: appenders to one shard commit in sequence order
INSERT INTO log_heads (stream, shard, last_seq) VALUES (:stream, :shard, 1)
ON CONFLICT (stream, shard) DO UPDATE SET last_seq = log_heads.last_seq + 1
RETURNING last_seq;

-- name: log_insert
INSERT INTO log_records (stream, shard, seq, data, appended_at)
VALUES (:stream, :shard, :seq, :data, :now);

-- name: log_read
SELECT seq, data, appended_at FROM log_records
WHERE stream = :stream AND shard = :shard AND seq > :after
ORDER BY seq LIMIT :limit;

-- name: log_shards
SELECT DISTINCT shard FROM log_records WHERE stream = :stream ORDER BY shard;

-- name: log_checkpoint_set
INSERT INTO log_checkpoints (stream, consumer, shard, seq) VALUES (:stream, :consumer, :shard, :seq)
ON CONFLICT (stream, consumer, shard) DO UPDATE SET seq = excluded.seq;

-- name: log_checkpoint_get
SELECT seq FROM log_checkpoints WHERE stream = :stream AND consumer = :consumer AND shard = :shard;

-- name: log_trim
WITH done AS (
    DELETE FROM log_records WHERE (stream, shard, seq) IN (
        SELECT stream, shard, seq FROM log_records
        WHERE stream = :stream AND appended_at < :before LIMIT :limit)
    RETURNING 1)
SELECT count(*) FROM done;

-- name: kv_lock
-- one key's lock for the rest of a write transaction, whether the item exists or not: what a
-- transaction reads of an item stays true until it commits, as on SQLite's single writer
SELECT pg_advisory_xact_lock(hashtext('overcast.kv:' || :tbl), hashtext(:pk || chr(31) || :sk));

-- name: kv_get
SELECT value, version, expires_at FROM kv
WHERE tbl = :tbl AND pk = :pk AND sk = :sk AND (expires_at IS NULL OR expires_at > :now);

-- name: kv_get_any
SELECT version, expires_at FROM kv WHERE tbl = :tbl AND pk = :pk AND sk = :sk;

-- name: kv_upsert
INSERT INTO kv (tbl, pk, sk, value, version, expires_at)
VALUES (:tbl, :pk, :sk, :value, :version, :expires_at)
ON CONFLICT (tbl, pk, sk) DO UPDATE
SET value = excluded.value, version = excluded.version, expires_at = excluded.expires_at;

-- name: kv_delete
DELETE FROM kv WHERE tbl = :tbl AND pk = :pk AND sk = :sk;

-- name: kv_expire
WITH done AS (
    DELETE FROM kv WHERE (tbl, pk, sk) IN (
        SELECT tbl, pk, sk FROM kv WHERE expires_at IS NOT NULL AND expires_at <= :now
        LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT count(*) FROM done;

-- name: blob_put
INSERT INTO blobs (bucket, key, data, size, etag, metadata, modified_at)
VALUES (:bucket, :key, :data, :size, :etag, :metadata, :now)
ON CONFLICT (bucket, key) DO UPDATE
SET data = excluded.data, size = excluded.size, etag = excluded.etag,
    metadata = excluded.metadata, modified_at = excluded.modified_at;

-- name: blob_get
SELECT data, size, etag, metadata, modified_at FROM blobs WHERE bucket = :bucket AND key = :key;

-- name: blob_delete
WITH done AS (
    DELETE FROM blobs WHERE bucket = :bucket AND key = :key
    RETURNING 1)
SELECT count(*) FROM done;

-- name: blob_list
SELECT key, size, etag, metadata, modified_at FROM blobs
WHERE bucket = :bucket AND key > :after AND key >= :prefix AND starts_with(key, :prefix)
ORDER BY key LIMIT :limit;

-- name: lease_acquire
-- taken when free, expired or already ours; a row comes back only then
INSERT INTO leases (name, owner, expires_at) VALUES (:name, :owner, :expires_at)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE leases.owner = excluded.owner OR leases.expires_at <= :now
RETURNING owner;

-- name: lease_get
SELECT owner, expires_at FROM leases WHERE name = :name AND expires_at > :now;

-- name: lease_release
WITH done AS (
    DELETE FROM leases WHERE name = :name AND owner = :owner
    RETURNING 1)
SELECT count(*) FROM done;

-- name: waiters_lock
-- taken exclusively while an engine registers as a waiter: see overcast_notify_waiters
SELECT pg_advisory_xact_lock(hashtext('overcast.waiters'), hashtext(:queue));

-- name: waiter_register
-- expiry is the server's clock on purpose: this is plumbing between processes, not a rule a
-- test's clock should govern
INSERT INTO queue_waiters (queue, waiter, until)
VALUES (:queue, :waiter, extract(epoch FROM clock_timestamp()) + :ttl)
ON CONFLICT (queue, waiter) DO UPDATE SET until = excluded.until;

-- name: waiter_unregister
DELETE FROM queue_waiters
WHERE waiter = :waiter OR until < extract(epoch FROM clock_timestamp()) - 3600;

-- name: notify_waiters
-- the last statement of a transaction that changed queues (:queues sorted: locks in one order)
SELECT overcast_notify_waiters(:channel, :queues::text[]);
