-- bench/workload/recall_memories.sql: the assistant recalls the latest
-- memories of one user (index idx_ai_memories_user_id_created_at).
--
-- Variables (pgbench -D): stop_key. See insert_document.sql for the stop
-- switch.
SELECT pg_try_advisory_xact_lock_shared(:stop_key) AS stop \gset
\if :stop
\set stop_requested 1 / 0
\endif
\set u random(1, 50)
SELECT m.id, m.memory_type, m.importance, left(m.content, 120) AS preview
  FROM ai_memories m
 WHERE m.user_id = 'user-' || left(md5('kh-user-' || :u), 10)
 ORDER BY m.created_at DESC
 LIMIT 10;
