-- Named queries of the SQLite engine. Each starts with "-- name: NAME" and runs as one statement.
-- Parameters are named (:param). Times are epoch seconds (REAL).

-- name: queue_insert
INSERT INTO queues (name, spec, fifo, retention, max_receive_count, dead_letter, created_at)
VALUES (:name, :spec, :fifo, :retention, :max_receive_count, :dead_letter, :created_at);

-- name: queue_update
UPDATE queues
SET spec = :spec, fifo = :fifo, retention = :retention,
    max_receive_count = :max_receive_count, dead_letter = :dead_letter
WHERE name = :name;

-- name: queue_get
SELECT spec, created_at FROM queues WHERE name = :name;

-- name: queue_list
SELECT spec, created_at FROM queues WHERE name >= :prefix AND substr(name, 1, length(:prefix)) = :prefix ORDER BY name;

-- name: queue_delete
DELETE FROM queues WHERE name = :name;

-- name: queue_delete_messages
-- a queue's messages are those of its two partial indexes (there is no index on queue alone)
DELETE FROM messages WHERE seq IN (
    SELECT seq FROM messages WHERE queue = :queue AND hidden = 0
    UNION ALL
    SELECT seq FROM messages WHERE queue = :queue AND hidden = 1);

-- name: queue_delete_dedup
DELETE FROM dedup WHERE queue = :queue;

-- name: dedup_get
SELECT message_id FROM dedup WHERE queue = :queue AND dedup_id = :dedup_id AND expires_at > :now;

-- name: dedup_put
INSERT OR REPLACE INTO dedup (queue, dedup_id, message_id, expires_at)
VALUES (:queue, :dedup_id, :message_id, :expires_at);

-- name: queue_retention
SELECT retention FROM queues WHERE name = :name;

-- name: message_insert
INSERT INTO messages (queue, id, body, attributes, priority, group_id, dedup_id,
                      sent_at, hidden, visible_at, expires_at)
VALUES (:queue, :id, :body, :attributes, :priority, :group_id, :dedup_id,
        :now, :delay > 0, :now + :delay, :expires_at);

-- name: message_insert_one
-- one message, the queue's retention looked up in the same statement (NULL: no such queue)
INSERT INTO messages (queue, id, body, attributes, priority, group_id, dedup_id,
                      sent_at, hidden, visible_at, expires_at)
VALUES (:queue, :id, :body, :attributes, :priority, :group_id, :dedup_id,
        :now, :delay > 0, :now + :delay, :now + (SELECT retention FROM queues WHERE name = :queue));

-- name: queue_receive_settings
SELECT fifo, max_receive_count, dead_letter FROM queues WHERE name = :name;

-- name: unhide
UPDATE messages SET hidden = 0 WHERE queue = :queue AND hidden = 1 AND visible_at <= :now;

-- name: receive_candidates
SELECT seq, receive_count FROM messages
WHERE queue = :queue AND hidden = 0 AND expires_at > :now
ORDER BY priority DESC, seq
LIMIT :limit;

-- name: receive_candidates_fifo
SELECT seq, receive_count FROM messages
WHERE queue = :queue AND hidden = 0 AND expires_at > :now
  AND (group_id IS NULL OR group_id NOT IN (
        SELECT group_id FROM messages
        WHERE queue = :queue AND hidden = 1 AND visible_at > :now AND receive_count > 0
          AND group_id IS NOT NULL))
ORDER BY seq
LIMIT :limit;

-- name: receive_take
-- candidates and take in one statement, for queues without a redrive policy
UPDATE messages
SET receipt = seq || '.' || :token,
    receive_count = receive_count + 1,
    hidden = :visibility_timeout > 0,
    visible_at = :now + :visibility_timeout,
    first_received_at = coalesce(first_received_at, :now)
WHERE seq IN (
    SELECT seq FROM messages
    WHERE queue = :queue AND hidden = 0 AND expires_at > :now
    ORDER BY priority DESC, seq
    LIMIT :limit)
RETURNING seq, id, body, attributes, receive_count, sent_at, first_received_at,
          priority, group_id, dedup_id, source_queue, receipt;

-- name: message_take
UPDATE messages
SET receipt = seq || '.' || :token,
    receive_count = receive_count + 1,
    hidden = :visibility_timeout > 0,
    visible_at = :now + :visibility_timeout,
    first_received_at = coalesce(first_received_at, :now)
WHERE seq IN (SELECT value FROM json_each(:seqs))
RETURNING seq, id, body, attributes, receive_count, sent_at, first_received_at,
          priority, group_id, dedup_id, source_queue, receipt;

-- name: message_move
INSERT INTO messages (queue, id, body, attributes, priority, group_id, dedup_id,
                      sent_at, hidden, visible_at, expires_at, receive_count, source_queue)
SELECT :target, m.id, m.body, m.attributes, m.priority, m.group_id, m.dedup_id,
       coalesce(:sent_at, m.sent_at), 0, :now, coalesce(:sent_at, m.sent_at) + t.retention, 0, :source
FROM messages m JOIN queues t ON t.name = :target
WHERE m.seq = :seq;

-- name: message_delete
DELETE FROM messages WHERE seq = :seq AND queue = :queue AND receipt = :receipt;

-- name: messages_delete
-- a receipt holds its own seq, so seq and receipt matching separately is matching pairwise
DELETE FROM messages
WHERE queue = :queue AND seq IN (SELECT value FROM json_each(:seqs))
  AND receipt IN (SELECT value FROM json_each(:receipts));

-- name: messages_existing
SELECT seq FROM messages WHERE queue = :queue AND seq IN (SELECT value FROM json_each(:seqs));

-- name: message_delete_seq
DELETE FROM messages WHERE seq = :seq;

-- name: message_exists
SELECT receipt FROM messages WHERE seq = :seq AND queue = :queue;

-- name: message_change_visibility
UPDATE messages SET visible_at = :now + :seconds, hidden = :seconds > 0
WHERE seq = :seq AND queue = :queue AND receipt = :receipt AND receive_count > 0;

-- name: queue_stats
SELECT coalesce(sum(visible_at <= :now), 0),
       coalesce(sum(visible_at > :now AND receive_count > 0), 0),
       coalesce(sum(visible_at > :now AND receive_count = 0), 0),
       min(sent_at)
FROM (SELECT visible_at, receive_count, sent_at, expires_at FROM messages WHERE queue = :queue AND hidden = 0
      UNION ALL
      SELECT visible_at, receive_count, sent_at, expires_at FROM messages WHERE queue = :queue AND hidden = 1)
WHERE expires_at > :now;

-- name: queue_next_visible_at
SELECT min(visible_at) FROM messages WHERE queue = :queue AND hidden = 1 AND visible_at > :now;

-- name: queue_redrive_candidates
-- the messages a receive would take, in its order (in-flight ones stay until they are visible)
SELECT seq, source_queue FROM messages WHERE queue = :queue AND hidden = 0
ORDER BY priority DESC, seq LIMIT :limit;

-- name: message_expired
SELECT seq FROM messages WHERE expires_at <= :now LIMIT :limit;

-- name: dedup_expire
DELETE FROM dedup WHERE expires_at <= :now;

-- name: log_next_seq
INSERT INTO log_heads (stream, shard, last_seq) VALUES (:stream, :shard, 1)
ON CONFLICT (stream, shard) DO UPDATE SET last_seq = last_seq + 1
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
DELETE FROM log_records WHERE (stream, shard, seq) IN (
    SELECT stream, shard, seq FROM log_records
    WHERE stream = :stream AND appended_at < :before LIMIT :limit);

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
DELETE FROM kv WHERE (tbl, pk, sk) IN (
    SELECT tbl, pk, sk FROM kv WHERE expires_at IS NOT NULL AND expires_at <= :now LIMIT :limit);

-- name: blob_put
INSERT INTO blobs (bucket, key, data, size, etag, metadata, modified_at)
VALUES (:bucket, :key, :data, :size, :etag, :metadata, :now)
ON CONFLICT (bucket, key) DO UPDATE
SET data = excluded.data, size = excluded.size, etag = excluded.etag,
    metadata = excluded.metadata, modified_at = excluded.modified_at;

-- name: blob_get
SELECT data, size, etag, metadata, modified_at FROM blobs WHERE bucket = :bucket AND key = :key;

-- name: blob_delete
DELETE FROM blobs WHERE bucket = :bucket AND key = :key;

-- name: blob_list
SELECT key, size, etag, metadata, modified_at FROM blobs
WHERE bucket = :bucket AND key > :after AND substr(key, 1, length(:prefix)) = :prefix
ORDER BY key LIMIT :limit;

-- name: lease_acquire
INSERT INTO leases (name, owner, expires_at) VALUES (:name, :owner, :expires_at)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE leases.owner = excluded.owner OR leases.expires_at <= :now;

-- name: lease_get
SELECT owner, expires_at FROM leases WHERE name = :name AND expires_at > :now;

-- name: lease_release
DELETE FROM leases WHERE name = :name AND owner = :owner;
