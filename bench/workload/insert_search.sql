-- bench/workload/insert_search.sql: the search API logs a query with its best
-- chunk (the foreign keys to chunks and documents are checked on insert).
--
-- Variables (pgbench -D): stop_key, chunk_min, chunk_max. See
-- insert_document.sql for the stop switch.
SELECT pg_try_advisory_xact_lock_shared(:stop_key) AS stop \gset
\if :stop
\set stop_requested 1 / 0
\endif
\set u random(1, 50)
\set c random(:chunk_min, :chunk_max)
\set latency random(15, 400)
INSERT INTO search_queries (user_id, query_text, search_type, result_count, latency_ms,
                            top_chunk_id, top_document_id, filters)
SELECT 'user-' || left(md5('kh-user-' || :u), 10),
       'bench query ' || :c,
       'hybrid',
       10,
       :latency,
       c.id,
       c.document_id,
       '{}'
  FROM chunks c
 WHERE c.id = :c;
