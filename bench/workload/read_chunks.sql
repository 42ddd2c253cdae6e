-- bench/workload/read_chunks.sql: the retriever reads the chunks of one
-- document (ids md5('kh-document-' || d), as tools/sample_data.sql loads them).
--
-- Variables (pgbench -D): stop_key, documents. See insert_document.sql for the
-- stop switch.
SELECT pg_try_advisory_xact_lock_shared(:stop_key) AS stop \gset
\if :stop
\set stop_requested 1 / 0
\endif
\set d random(1, :documents)
SELECT c.id, c.chunk_index, c.token_count, left(c.content, 120) AS preview
  FROM chunks c
 WHERE c.document_id = md5('kh-document-' || :d)::uuid
 ORDER BY c.chunk_index;
