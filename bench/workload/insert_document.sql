-- bench/workload/insert_document.sql: the ingestion service stores a new
-- document and its 2 to 6 chunks (content, token count, embedding) in one
-- transaction, against the pre-migration schema (001-003).
--
-- Variables (pgbench -D): stop_key, sources, dim. The first statement is the
-- stop switch every workload script starts with: bench/migration_under_load.py
-- holds an advisory lock on stop_key while the workload must run and releases
-- it to end the run, so each client stops cleanly before its next transaction
-- (an intended "division by zero" in command 2) and pgbench flushes its logs.
SELECT pg_try_advisory_xact_lock_shared(:stop_key) AS stop \gset
\if :stop
\set stop_requested 1 / 0
\endif
\set doc random(1, 9223372036854775806)
\set source random(0, :sources - 1)
\set nchunks random(2, 6)
BEGIN;
INSERT INTO documents (id, source_id, title, uri, mime_type, content_sha256, metadata)
SELECT md5('bench-document-' || :doc)::uuid,
       s.id,
       'Bench document ' || :doc,
       'https://bench.example.com/d/' || :doc,
       'text/markdown',
       encode(sha256(convert_to('bench-document-body-' || :doc, 'UTF8')), 'hex'),
       jsonb_build_object('language', 'en', 'author', 'bench@example.com',
                          'embedding_model', 'sentence-transformers/all-MiniLM-L6-v2')
  FROM sources s
 ORDER BY s.id
OFFSET :source LIMIT 1;
INSERT INTO chunks (document_id, chunk_index, content, token_count, embedding)
SELECT md5('bench-document-' || :doc)::uuid,
       g.i,
       t.content,
       ceil(length(t.content) / 4.0)::int,
       ARRAY(SELECT ((random() * 2 - 1) * sqrt(3.0 / :dim))::real
               FROM generate_series(1, :dim) AS k
              WHERE g.i >= 0)
  FROM generate_series(0, :nchunks - 1) AS g(i)
 CROSS JOIN LATERAL (
        SELECT 'Bench chunk ' || g.i || ' of document ' || :doc || ': '
               || string_agg(md5(random()::text || w), ' ') AS content
          FROM generate_series(1, 20) AS w
       ) AS t;
COMMIT;
