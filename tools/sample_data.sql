-- tools/sample_data.sql
--
-- Loads realistic pre-migration data into a database that has migrations
-- 001-003 applied and an empty knowledge store. It is a psql script (it
-- uses psql variables and meta-commands), not a migration. Usage:
--
--     psql -v ON_ERROR_STOP=1 -v chunks=100000 -v dim=384 -f tools/sample_data.sql
--
-- Variables (both optional):
--     chunks  number of chunks to create             (default 100000)
--     dim     number of elements of each embedding   (default 384)
--
-- What it creates, for chunks = N:
--     sources          between 20 and 50
--     documents        N / 20, with a varying number of chunks each. About
--                      1 in 97 documents has no chunk (a failed ingestion).
--     chunks           N, English technical prose built from word lists,
--                      300 to 1500 characters, token_count = ceil(length / 4),
--                      embeddings of dim reals with unit length on average,
--                      about 2 % NULL (not embedded yet)
--     memory_sessions  N / 40 (at least 10)
--     ai_memories      N / 5 over 50 users, all five memory types, some
--                      non-ASCII text, about 5 % without embedding
--     search_queries   N / 20, between 200 and 5000
--     query_feedback   for about 60 % of the searches
--
-- The data is deterministic: the same N and dim always give the same rows
-- (setseed, no parallel query, fixed timestamps, ids derived from md5 where
-- the key is a UUID). Everything is loaded in one transaction with
-- set-based INSERT ... SELECT, then the loaded tables are analyzed. It needs
-- no superuser: the owner of the tables (the application role) can run it.

\if :{?chunks}
\else
\set chunks 100000
\endif
\if :{?dim}
\else
\set dim 384
\endif

\set QUIET on
SET client_min_messages = warning;
-- Same plan and same random sequence on every run.
SET max_parallel_workers_per_gather = 0;
SET synchronous_commit = off;
SET work_mem = '64MB';
SET maintenance_work_mem = '256MB';
SET TimeZone = 'UTC';
\set QUIET off

SELECT (:chunks)::int                                  AS n_chunks,
       greatest(1, (:chunks) / 20)::int                AS n_docs,
       least(50, greatest(20, (:chunks) / 2000))::int  AS n_sources,
       50                                              AS n_users,
       greatest(10, (:chunks) / 40)::int               AS n_sessions,
       greatest(1, (:chunks) / 5)::int                 AS n_memories,
       least(5000, greatest(200, (:chunks) / 20))::int AS n_queries,
       (:dim)::int                                     AS n_dim
\gset

\echo sample data: :n_chunks chunks, :n_docs documents, :n_sources sources, :n_memories memories, :n_queries searches, dimension :n_dim

BEGIN;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM sources) OR EXISTS (SELECT 1 FROM documents)
       OR EXISTS (SELECT 1 FROM ai_memories) OR EXISTS (SELECT 1 FROM memory_sessions)
       OR EXISTS (SELECT 1 FROM search_queries) THEN
        RAISE EXCEPTION 'sample_data.sql expects an empty knowledge store (migrations 001-003 only)';
    END IF;
END
$$;

SELECT setseed(0.4242) \gset

-- Word lists the text is built from. One row, read for every sentence.
-- STORAGE PLAIN keeps the arrays uncompressed: a compressed array would be
-- decompressed again on each subscript, which doubles the chunk build time.
CREATE TEMP TABLE vocab (
    subjects text[], verbs text[], verbs_base text[], objects text[], clauses text[],
    conditions text[], config_keys text[], goals text[], metrics text[], topics text[],
    doc_kinds text[], preferences text[]
) ON COMMIT DROP;

ALTER TABLE vocab
    ALTER subjects SET STORAGE PLAIN, ALTER verbs SET STORAGE PLAIN,
    ALTER verbs_base SET STORAGE PLAIN, ALTER objects SET STORAGE PLAIN,
    ALTER clauses SET STORAGE PLAIN, ALTER conditions SET STORAGE PLAIN,
    ALTER config_keys SET STORAGE PLAIN, ALTER goals SET STORAGE PLAIN,
    ALTER metrics SET STORAGE PLAIN, ALTER topics SET STORAGE PLAIN,
    ALTER doc_kinds SET STORAGE PLAIN, ALTER preferences SET STORAGE PLAIN;

INSERT INTO vocab (subjects, verbs, verbs_base, objects, clauses, conditions, config_keys,
                   goals, metrics, topics, doc_kinds, preferences)
SELECT
    ARRAY['the embedding service', 'the vector index', 'each worker process', 'the ingestion pipeline',
          'the query planner', 'the reranker', 'the retrieval layer', 'a background job',
          'the API gateway', 'the response cache', 'the tokenizer', 'the connection pool',
          'the scheduler', 'the load balancer', 'every read replica', 'the primary database',
          'the search cluster', 'the chunking step', 'the language model', 'the monitoring agent',
          'the message broker', 'the authentication proxy', 'the backup job', 'the feature store',
          'the crawler', 'the webhook handler', 'the rate limiter', 'the config service']::text[] AS subjects,
    ARRAY['normalizes', 'batches', 'indexes', 'retries', 'validates', 'streams', 'compresses',
          'partitions', 'caches', 'serializes', 'deduplicates', 'reranks', 'aggregates',
          'replicates', 'evicts', 'shards', 'logs', 'throttles', 'encrypts', 'embeds',
          'rejects', 'splits', 'merges', 'refreshes', 'scores', 'tracks']::text[] AS verbs,
    ARRAY['normalize', 'batch', 'index', 'retry', 'validate', 'stream', 'compress',
          'partition', 'cache', 'serialize', 'deduplicate', 'rerank', 'aggregate',
          'replicate', 'evict', 'shard', 'log', 'throttle', 'encrypt', 'embed',
          'reject', 'split', 'merge', 'refresh', 'score', 'track']::text[] AS verbs_base,
    ARRAY['incoming documents', 'the token stream', 'stale cache entries', 'failed requests',
          'cosine similarity scores', 'the HNSW graph', 'JSON payloads', 'write-ahead log segments',
          'query embeddings', 'metadata fields', 'long-running transactions', 'chunk boundaries',
          'BM25 scores', 'TLS certificates', 'rate-limited calls', 'vector dimensions',
          'user sessions', 'schema migrations', 'audit events', 'configuration files',
          'naïve Bayes features', 'the Zürich replicas', '日本語 tokenization results',
          'O''Reilly style citations', '"quoted" identifiers', 'emoji payloads 🚀',
          'PDF attachments', 'Markdown tables', 'nightly snapshots', 'dead letter messages']::text[] AS objects,
    ARRAY['before writing to disk', 'under heavy load', 'every five minutes', 'when the queue is full',
          'to reduce latency', 'after a timeout of 30 seconds', 'using exponential backoff',
          'for each tenant', 'without blocking readers', 'in a single transaction',
          'to keep p95 latency low', 'before returning results', 'during the nightly window',
          'after a failover', 'on every deploy', 'when the cache is cold']::text[] AS clauses,
    ARRAY['the error rate rises above 2 percent', 'a node drops out of the cluster',
          'the index is rebuilt', 'a new embedding model is rolled out', 'memory pressure is high',
          'a document is updated', 'the replica lag exceeds 10 seconds', 'a user deletes a source',
          'traffic doubles', 'the disk is 80 percent full']::text[] AS conditions,
    ARRAY['max_connections', 'shared_buffers', 'ef_search', 'batch_size', 'chunk_overlap',
          'timeout_ms', 'replica_count', 'top_k', 'rerank_threshold', 'pool_size',
          'retry_limit', 'ttl_seconds', 'work_mem', 'keyword_weight']::text[] AS config_keys,
    ARRAY['avoid timeouts', 'save memory', 'improve recall', 'improve precision',
          'reduce cost', 'keep the queue short', 'speed up cold starts', 'limit blast radius']::text[] AS goals,
    ARRAY['p95 latency', 'median latency', 'index build time', 'ingestion time per document',
          'time to first token', 'recovery time']::text[] AS metrics,
    ARRAY['PostgreSQL replication', 'Kubernetes autoscaling', 'Embedding model evaluation',
          'API rate limiting', 'Vector search tuning', 'Access control', 'Backup and restore',
          'Observability stack', 'Data retention', 'Hybrid search ranking', 'Prompt templates',
          'Incident response', 'Cost monitoring', 'Document parsing', 'Cache invalidation',
          'Release process', 'Disaster recovery', 'Tenant isolation', 'Chunking strategy',
          'Reranker latency']::text[] AS topics,
    ARRAY['Runbook', 'Design doc', 'FAQ', 'Postmortem', 'How-to', 'Reference', 'Meeting notes',
          'RFC', 'Onboarding guide', 'Release notes']::text[] AS doc_kinds,
    ARRAY['dark mode', 'short answers', 'code examples in Python', 'links to the source',
          'bullet lists', 'metric units', 'answers in German', 'step-by-step instructions',
          'YAML over JSON', 'the terminal over the web console']::text[] AS preferences;


-- Sources: 20 to 50.
INSERT INTO sources (name, source_type, base_uri, config, is_active, created_at, updated_at)
SELECT (ARRAY['Engineering wiki', 'Platform runbooks', 'Support knowledge base', 'Product docs',
              'Architecture decisions', 'Incident archive', 'Team handbook', 'API reference',
              'Data platform notes', 'Security policies'])[1 + (s - 1) % 10]
           || ' ' || (ARRAY['core', 'search', 'ml', 'infra', 'web'])[1 + ((s - 1) / 10) % 5],
       t.source_type,
       CASE t.source_type
            WHEN 'web' THEN 'https://docs.example.com/space-' || s
            WHEN 'file' THEN 'file:///srv/share/docs-' || s
            WHEN 's3' THEN 's3://kh-ingest/bucket-' || s
            WHEN 'confluence' THEN 'https://example.atlassian.net/wiki/spaces/S' || s
            WHEN 'github' THEN 'https://github.com/example/repo-' || s
            WHEN 'notion' THEN 'https://www.notion.so/example/ws-' || s
            WHEN 'api' THEN 'https://api.example.com/v2/feeds/' || s
            ELSE NULL END,
       jsonb_build_object('crawl_interval_hours', (ARRAY[1, 6, 24, 168])[1 + s % 4],
                          'include_patterns', jsonb_build_array('*.md', '*.html', '*.pdf')),
       s % 13 <> 0,
       t.created_at,
       t.created_at + (s % 5) * interval '17 days'
  FROM generate_series(1, :n_sources) AS s
 CROSS JOIN LATERAL (
        SELECT (ARRAY['web', 'file', 's3', 'confluence', 'github', 'notion', 'api', 'manual'])[1 + (s * 7) % 8]
                   AS source_type,
               timestamptz '2023-01-15 09:00:00+00' + s * interval '3 days' AS created_at
       ) AS t;

-- How many chunks each document gets: random weights, scaled so that the
-- total is exactly :n_chunks. Every 97th document gets none.
CREATE TEMP TABLE doc_plan ON COMMIT DROP AS
WITH w AS (
    SELECT d,
           CASE WHEN d % 97 = 0 THEN 0::numeric
                ELSE (0.2 + random() * 1.6)::numeric END AS weight,
           random() AS r_source,
           random() AS r_time
      FROM generate_series(1, :n_docs) AS d
), c AS (
    SELECT w.*, sum(weight) OVER (ORDER BY d) AS cum, sum(weight) OVER () AS total
      FROM w
), h AS (
    SELECT c.*, CASE WHEN total = 0 THEN 0
                     ELSE round(:n_chunks * cum / total)::int END AS hi
      FROM c
)
SELECT d,
       md5('kh-document-' || d)::uuid AS doc_id,
       coalesce(lag(hi) OVER (ORDER BY d), 0) AS lo,
       hi,
       r_source,
       timestamptz '2023-06-01 00:00:00+00' + r_time * interval '500 days' AS created_at
  FROM h;

-- Documents.
INSERT INTO documents (id, source_id, title, uri, mime_type, content_sha256, metadata, created_at, updated_at)
SELECT p.doc_id,
       src.ids[1 + floor(power(p.r_source, 1.5) * array_length(src.ids, 1))::int],
       v.topics[1 + (p.d * 7) % array_length(v.topics, 1)] || ' '
           || lower(v.doc_kinds[1 + (p.d * 3) % array_length(v.doc_kinds, 1)])
           || ': ' || v.subjects[1 + (p.d * 11) % array_length(v.subjects, 1)]
           || ' (' || p.d || ')',
       'https://docs.example.com/d/' || p.d || '/' || lower(replace(v.topics[1 + (p.d * 7) % array_length(v.topics, 1)], ' ', '-')),
       (ARRAY['text/markdown', 'text/markdown', 'text/html', 'application/pdf', 'text/plain',
              'application/vnd.openxmlformats-officedocument.wordprocessingml.document'])[1 + p.d % 6],
       CASE WHEN p.d % 33 = 0 THEN NULL
            ELSE encode(sha256(convert_to('kh-document-body-' || p.d, 'UTF8')), 'hex') END,
       jsonb_build_object('language', 'en',
                          'author', 'author' || (1 + p.d % 37) || '@example.com',
                          'tags', jsonb_build_array(lower(v.topics[1 + (p.d * 7) % array_length(v.topics, 1)]),
                                                    lower(v.doc_kinds[1 + (p.d * 3) % array_length(v.doc_kinds, 1)])),
                          'embedding_model', CASE WHEN p.d % 10 = 0 THEN 'BAAI/bge-small-en-v1.5'
                                                  ELSE 'sentence-transformers/all-MiniLM-L6-v2' END,
                          'pages', 1 + (p.hi - p.lo) / 3),
       p.created_at,
       p.created_at + CASE WHEN p.d % 4 = 0 THEN interval '0'
                           ELSE (p.d % 29) * interval '1 day' + (p.d % 60) * interval '1 minute' END
  FROM doc_plan p
 CROSS JOIN vocab v
 CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM sources) AS src
 ORDER BY p.d;

-- Chunks: prose built from five sentence patterns. Each chunk gets a
-- target length between 300 and 1350 characters and keeps whole sentences
-- until it reaches it, so it ends up between 300 and 1500 characters.
INSERT INTO chunks (document_id, chunk_index, content, token_count, embedding, created_at)
SELECT p.doc_id,
       (g.i - p.lo - 1)::int,
       t.content,
       ceil(length(t.content) / 4.0)::int,
       e.embedding,
       p.created_at + (g.i - p.lo) * interval '1 second'
  FROM doc_plan p
 CROSS JOIN vocab v
 CROSS JOIN LATERAL generate_series(p.lo + 1, p.hi) AS g(i)
 CROSS JOIN LATERAL (SELECT 300 + floor(random() * 1051)::int + 0 * g.i AS target_length) AS tl
 CROSS JOIN LATERAL (
        SELECT left(string_agg(sentence, ' ' ORDER BY n), 1500) AS content
          FROM (SELECT n, sentence,
                       sum(length(sentence) + 1) OVER (ORDER BY n) - length(sentence) - 1 AS length_before
                  FROM (SELECT n,
                               CASE floor(random() * 5)::int
                               WHEN 0 THEN 'When ' || v.conditions[1 + floor(random() * array_length(v.conditions, 1))::int]
                                           || ', ' || v.subjects[1 + floor(random() * array_length(v.subjects, 1))::int]
                                           || ' ' || v.verbs[1 + floor(random() * array_length(v.verbs, 1))::int]
                                           || ' ' || v.objects[1 + floor(random() * array_length(v.objects, 1))::int] || '.'
                               WHEN 1 THEN 'Set ' || v.config_keys[1 + floor(random() * array_length(v.config_keys, 1))::int]
                                           || ' to ' || (1 + floor(random() * 512))::int
                                           || ' to ' || v.goals[1 + floor(random() * array_length(v.goals, 1))::int] || '.'
                               WHEN 2 THEN 'The ' || v.metrics[1 + floor(random() * array_length(v.metrics, 1))::int]
                                           || ' dropped from ' || (200 + floor(random() * 800))::int
                                           || ' ms to ' || (20 + floor(random() * 180))::int
                                           || ' ms after ' || v.subjects[1 + floor(random() * array_length(v.subjects, 1))::int]
                                           || ' started to ' || v.verbs_base[1 + floor(random() * array_length(v.verbs_base, 1))::int]
                                           || ' ' || v.objects[1 + floor(random() * array_length(v.objects, 1))::int] || '.'
                               ELSE initcap(left(s.subject, 1)) || substr(s.subject, 2)
                                           || ' ' || v.verbs[1 + floor(random() * array_length(v.verbs, 1))::int]
                                           || ' ' || v.objects[1 + floor(random() * array_length(v.objects, 1))::int]
                                           || ' ' || v.clauses[1 + floor(random() * array_length(v.clauses, 1))::int] || '.'
                               END AS sentence
                          FROM generate_series(1, tl.target_length / 40 + 1) AS n
                         CROSS JOIN LATERAL (
                                SELECT v.subjects[1 + floor(random() * array_length(v.subjects, 1))::int] AS subject
                                 WHERE n.n > 0
                               ) AS s
                       ) AS sentences
               ) AS numbered
         WHERE length_before < tl.target_length
       ) AS t
 CROSS JOIN LATERAL (
        SELECT CASE WHEN random() < 0.02 THEN NULL
                    ELSE ARRAY(SELECT ((random() * 2 - 1) * sqrt(3.0 / :n_dim))::real
                                 FROM generate_series(1, :n_dim) AS k
                                WHERE g.i > 0)
               END AS embedding
       ) AS e;

-- Memory sessions.
INSERT INTO memory_sessions (session_id, user_id, title, started_at, ended_at, metadata)
SELECT 'sess-' || left(md5('kh-session-' || k), 16),
       'user-' || left(md5('kh-user-' || u.u), 10),
       CASE WHEN k % 5 = 0 THEN NULL
            ELSE v.topics[1 + k % array_length(v.topics, 1)] || ' questions' END,
       t.started_at,
       CASE WHEN k % 10 = 0 THEN NULL
            ELSE t.started_at + (2 + floor(random() * 90)) * interval '1 minute' END,
       jsonb_build_object('client', (ARRAY['web', 'slack', 'cli', 'vscode'])[1 + k % 4])
  FROM generate_series(1, :n_sessions) AS k
 CROSS JOIN vocab v
 CROSS JOIN LATERAL (SELECT 1 + floor(power(random(), 2) * :n_users)::int + 0 * k AS u) AS u
 CROSS JOIN LATERAL (
        SELECT timestamptz '2024-01-01 00:00:00+00' + random() * interval '365 days' + 0 * k * interval '1 s'
                   AS started_at
       ) AS t
 ORDER BY k;

-- AI memories: 80 % belong to a session (same user), the rest only to a user.
CREATE TEMP TABLE session_plan ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY session_id)::int AS k, session_id, user_id, started_at
  FROM memory_sessions;

INSERT INTO ai_memories (id, user_id, session_id, memory_type, content, embedding, importance,
                         metadata, access_count, created_at, updated_at, last_accessed_at)
SELECT md5('kh-memory-' || m.i)::uuid,
       CASE WHEN m.in_session THEN sp.user_id
            ELSE 'user-' || left(md5('kh-user-' || m.u), 10) END,
       CASE WHEN m.in_session THEN sp.session_id END,
       m.memory_type,
       CASE m.memory_type
            WHEN 'fact' THEN 'Works on ' || lower(v.topics[1 + m.i % array_length(v.topics, 1)])
                             || ' and owns ' || v.subjects[1 + (m.i / 7) % array_length(v.subjects, 1)] || '.'
            WHEN 'preference' THEN 'Prefers ' || v.preferences[1 + m.i % array_length(v.preferences, 1)]
                             || ' when reading about ' || lower(v.topics[1 + (m.i / 3) % array_length(v.topics, 1)]) || '.'
            WHEN 'conversation' THEN 'Asked how ' || v.subjects[1 + m.i % array_length(v.subjects, 1)]
                             || ' ' || v.verbs[1 + (m.i / 5) % array_length(v.verbs, 1)]
                             || ' ' || v.objects[1 + (m.i / 11) % array_length(v.objects, 1)] || '.'
            WHEN 'task' THEN 'Follow up: check ' || v.config_keys[1 + m.i % array_length(v.config_keys, 1)]
                             || ' on ' || v.subjects[1 + (m.i / 13) % array_length(v.subjects, 1)]
                             || ' before ' || (ARRAY['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'])[1 + m.i % 5] || '.'
            ELSE 'Questions about ' || lower(v.topics[1 + m.i % array_length(v.topics, 1)])
                             || ' usually need ' || v.objects[1 + (m.i / 9) % array_length(v.objects, 1)]
                             || ' ' || v.clauses[1 + (m.i / 17) % array_length(v.clauses, 1)] || '.'
       END,
       CASE WHEN m.r_embed < 0.05 THEN NULL
            ELSE ARRAY(SELECT ((random() * 2 - 1) * sqrt(3.0 / :n_dim))::real
                         FROM generate_series(1, :n_dim) AS k
                        WHERE m.i > 0) END,
       round(m.r_importance::numeric, 2)::real,
       jsonb_build_object('source', (ARRAY['chat', 'chat', 'api', 'import'])[1 + m.i % 4],
                          'confidence', round((0.5 + m.r_importance / 2)::numeric, 2)),
       m.access_count,
       m.created_at,
       m.created_at + CASE WHEN m.i % 3 = 0 THEN interval '0' ELSE (m.i % 41) * interval '1 hour' END,
       CASE WHEN m.access_count > 0 THEN m.created_at + (1 + m.i % 90) * interval '1 day' END
  FROM (
        SELECT i,
               random() < 0.8 AS in_session,
               1 + floor(random() * :n_sessions)::int AS k,
               1 + floor(power(random(), 2) * :n_users)::int AS u,
               CASE WHEN r_type < 0.35 THEN 'fact'
                    WHEN r_type < 0.55 THEN 'preference'
                    WHEN r_type < 0.80 THEN 'conversation'
                    WHEN r_type < 0.92 THEN 'task'
                    ELSE 'insight' END AS memory_type,
               random() AS r_embed,
               random() AS r_importance,
               floor(-ln(1 - random()) * 4)::int AS access_count,
               timestamptz '2024-01-01 00:00:00+00' + random() * interval '365 days' AS created_at
          FROM (SELECT i, random() AS r_type FROM generate_series(1, :n_memories) AS i) AS base
       ) AS m
  JOIN session_plan sp ON sp.k = m.k
 CROSS JOIN vocab v
 ORDER BY m.i;

-- Search log. 5 % of the searches found nothing.
SELECT min(id) AS chunk_min_id FROM chunks \gset

INSERT INTO search_queries (user_id, session_id, query_text, search_type, result_count, latency_ms,
                            top_chunk_id, top_document_id, filters, created_at)
SELECT 'user-' || left(md5('kh-user-' || q.u), 10),
       CASE WHEN q.i % 3 = 0 THEN 'sess-' || left(md5('kh-session-' || (1 + q.i % :n_sessions)), 16) END,
       CASE q.i % 4
            WHEN 0 THEN 'how to ' || v.verbs_base[1 + q.i % array_length(v.verbs_base, 1)]
                        || ' ' || v.objects[1 + (q.i / 4) % array_length(v.objects, 1)]
            WHEN 1 THEN 'what is ' || v.config_keys[1 + q.i % array_length(v.config_keys, 1)]
            WHEN 2 THEN 'why does ' || v.subjects[1 + q.i % array_length(v.subjects, 1)]
                        || ' ' || v.verbs_base[1 + (q.i / 4) % array_length(v.verbs_base, 1)]
                        || ' ' || v.objects[1 + (q.i / 8) % array_length(v.objects, 1)]
            ELSE lower(v.topics[1 + q.i % array_length(v.topics, 1)]) || ' '
                        || lower(v.doc_kinds[1 + (q.i / 4) % array_length(v.doc_kinds, 1)])
       END,
       q.search_type,
       CASE WHEN c.id IS NULL THEN 0 ELSE 1 + q.i % 20 END,
       (15 + floor(exp(q.r_latency * 6)))::int,
       c.id,
       c.document_id,
       CASE WHEN q.i % 7 = 0 THEN jsonb_build_object('mime_type', 'text/markdown') ELSE '{}'::jsonb END,
       q.created_at
  FROM (
        SELECT i,
               1 + floor(power(random(), 2) * :n_users)::int AS u,
               CASE WHEN random() < 0.6 THEN 'hybrid'
                    WHEN random() < 0.6 THEN 'vector' ELSE 'keyword' END AS search_type,
               random() AS r_latency,
               CASE WHEN random() < 0.05 THEN NULL
                    ELSE :chunk_min_id + floor(random() * :n_chunks)::bigint END AS pick,
               timestamptz '2024-01-01 00:00:00+00' + random() * interval '365 days' AS created_at
          FROM generate_series(1, :n_queries) AS i
       ) AS q
  LEFT JOIN chunks c ON c.id = q.pick
 CROSS JOIN vocab v
 ORDER BY q.i;

-- Feedback on about 60 % of the searches, mostly positive.
INSERT INTO query_feedback (query_id, chunk_id, user_id, rating, is_helpful, comment, created_at)
SELECT f.id,
       CASE WHEN f.r_chunk < 0.7 THEN f.top_chunk_id END,
       f.user_id,
       f.rating,
       CASE WHEN f.id % 10 = 0 THEN NULL ELSE f.rating >= 4 END,
       CASE WHEN f.rating <= 2 THEN (ARRAY['outdated answer', 'wrong document', 'too long',
                                           'did not answer the question'])[1 + f.id % 4]
            WHEN f.id % 9 = 0 THEN 'exactly what I needed'
       END,
       f.created_at + (5 + f.id % 600) * interval '1 second'
  FROM (
        SELECT sq.id, sq.user_id, sq.top_chunk_id, sq.created_at,
               random() AS r_take,
               random() AS r_chunk,
               (ARRAY[1, 2, 3, 3, 4, 4, 4, 5, 5, 5])[1 + floor(random() * 10)::int]::smallint AS rating
          FROM search_queries sq
         ORDER BY sq.id
       ) AS f
 WHERE f.r_take < 0.6
 ORDER BY f.id;

COMMIT;

ANALYZE sources, documents, chunks, memory_sessions, ai_memories, search_queries, query_feedback;

SELECT 'sources' AS table_name, count(*) AS rows FROM sources
UNION ALL SELECT 'documents', count(*) FROM documents
UNION ALL SELECT 'chunks', count(*) FROM chunks
UNION ALL SELECT 'memory_sessions', count(*) FROM memory_sessions
UNION ALL SELECT 'ai_memories', count(*) FROM ai_memories
UNION ALL SELECT 'search_queries', count(*) FROM search_queries
UNION ALL SELECT 'query_feedback', count(*) FROM query_feedback;
