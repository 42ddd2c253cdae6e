-- bench/workload/touch_memory.sql: the assistant used a memory, so the
-- application bumps its access_count and last_accessed_at (updated_at is
-- left alone, as the application does). The memory is one of the rows
-- tools/sample_data.sql loaded (ids md5('kh-memory-' || i)).
--
-- Variables (pgbench -D): stop_key, memories. See insert_document.sql for
-- the stop switch.
SELECT pg_try_advisory_xact_lock_shared(:stop_key) AS stop \gset
\if :stop
\set stop_requested 1 / 0
\endif
\set m random(1, :memories)
UPDATE ai_memories
   SET access_count = access_count + 1,
       last_accessed_at = now()
 WHERE id = md5('kh-memory-' || :m)::uuid;
