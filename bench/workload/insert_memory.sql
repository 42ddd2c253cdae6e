-- bench/workload/insert_memory.sql: the assistant remembers something new
-- about one of the 50 users, with an embedding of the corpus' dimension.
--
-- Variables (pgbench -D): stop_key, dim. See insert_document.sql for the stop
-- switch.
SELECT pg_try_advisory_xact_lock_shared(:stop_key) AS stop \gset
\if :stop
\set stop_requested 1 / 0
\endif
\set u random(1, 50)
\set t random(1, 5)
INSERT INTO ai_memories (user_id, memory_type, content, embedding, importance, metadata)
VALUES ('user-' || left(md5('kh-user-' || :u), 10),
        (ARRAY['fact', 'preference', 'conversation', 'task', 'insight'])[:t],
        'Bench memory ' || md5(random()::text),
        ARRAY(SELECT ((random() * 2 - 1) * sqrt(3.0 / :dim))::real FROM generate_series(1, :dim)),
        round(random()::numeric, 2)::real,
        '{"source": "bench"}');
