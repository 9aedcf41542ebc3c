-- Every send, receive and delete paid for a third index on messages, (queue, seq), that only
-- purge, stats and redrive read. The two partial indexes (messages_ready, messages_hidden)
-- between them hold every message of a queue, and those queries now read both instead.
DROP INDEX messages_queue;
