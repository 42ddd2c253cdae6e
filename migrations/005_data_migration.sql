-- migrate:transaction off
-- migrate:statement_timeout 0
--
-- 005_data_migration.sql
--
-- Data of the Hybrid RAG release, migrated online: the application keeps
-- reading AND writing documents, chunks and ai_memories while this runs.
-- Fills the tables and columns created by 004_hybrid_rag_schema.sql:
--
--   * memory_clusters: one cluster per (user_id, memory_type) of ai_memories,
--     label '<type> memories'. Centroids are left NULL for the clustering
--     service; memory_count is recounted at the end.
--   * ai_memories: every row kept and enhanced: cluster_id, content_hash (hex
--     SHA-256 of the UTF-8 content), importance_score (0.7 x importance plus
--     0.3 x a usage term that grows with access_count and reaches 1 at 100
--     accesses) and enhanced_at. No column that existed before 004 is
--     written, updated_at included.
--   * ingestion_logs: exactly one row per document with source
--     'migration_005', status 'completed', its number of chunks and their
--     total tokens (documents without chunks get 0).
--   * enhanced_chunks: exactly one row per chunk: chunk_id, document_id,
--     chunk_index, content, embedding, token_count and created_at copied, plus
--     content_hash and a context line naming the document.
--   * defaults: 4 rag_configurations (exactly one is_default), 6
--     service_configurations, 4 agent_definitions, 1 agent_workflow. The
--     embedding dimension is taken from the chunks (384 when none has one).
--
-- How it runs (migrate:transaction off): the runner executes the statements
-- one by one on an autocommit connection, journals each one that succeeded
-- and, after a failure or a kill, resumes AT the statement that did not
-- finish. Every statement is therefore idempotent: IF NOT EXISTS, CREATE OR
-- REPLACE, ON CONFLICT DO NOTHING on natural keys, NOT EXISTS, and "write
-- only what differs" comparisons. lock_timeout (the runner's, or its
-- override) is in force for every statement; a statement that hits it fails
-- with 55P03 and is retried by the runner.
--
--   1. Change capture. migration_005_changes is a queue of keys; row
--      triggers on chunks, documents and ai_memories append the key of every
--      row the application inserts, deletes or changes in a column 005
--      derives from. CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock for a
--      moment (writers wait, readers do not). From then on nothing the
--      application writes can be missed, however the batches below race
--      with it.
--   2. Helper functions migration_005_sync_{memories,documents,chunks}(keys)
--      derive the new data for a set of keys (insert what is missing, rewrite
--      what differs, leave the rest alone); migration_005_apply_changes(n)
--      takes n keys off the queue and syncs them in the same transaction.
--   3. Defaults and clusters: small idempotent INSERT ... ON CONFLICT.
--   4. Batches: ai_memories, documents and chunks are walked in key order,
--      one transaction (COMMIT inside the DO block) per batch of at most
--      migration_005.batch_size rows (default 5000), sized to take about
--      migration_005.batch_time_ms (default 300), with progress NOTICEs.
--      A batch holds only row locks: it never waits for a row the
--      application holds (SKIP LOCKED; skipped rows are queued instead) and
--      retries itself after a deadlock or a row deleted under it. The chunks
--      and documents walks restart from where a killed run stopped.
--   5. Constraints and indexes of the new ai_memories columns: 004 adds the
--      foreign key and the checks NOT VALID and no index; VALIDATE CONSTRAINT
--      (SHARE UPDATE EXCLUSIVE: reads and writes go on) and CREATE INDEX
--      CONCURRENTLY IF NOT EXISTS, after the backfill. Both are no-ops on a
--      database whose 004 already created them valid.
--   6. Sweep: anything the batches left out goes on the queue (safety net).
--   7. Drain: the queue is worked off in batches until a few rows are left.
--   8. Catch-up, ONE short transaction: LOCK ai_memories IN SHARE ROW
--      EXCLUSIVE MODE (waits up to lock_timeout), documents and chunks IN
--      SHARE MODE NOWAIT (released and retried when a writer holds them),
--      then the rest of the queue. Writers wait only for this delta;
--      readers are never blocked. Every invariant of
--      expectations/005_data_migration.yml holds when it commits.
--   9. The triggers (each DROP TRIGGER takes an ACCESS EXCLUSIVE lock for an
--      instant), the helper functions and the queue are dropped: nothing of
--      the change capture is left. memory_clusters.memory_count is recounted
--      and the new data analyzed.
--
-- Writes the application makes after step 8 (before the new release takes
-- over) are not carried over, as with any data migration.
-- migrations/rollback_004_005.sql also removes the change capture objects
-- if 005 was interrupted before step 9.
--
-- Knobs, read from the session when set (SET before the run, or ALTER ROLE):
--   migration_005.batch_size     most rows per batch transaction (default 5000)
--   migration_005.batch_time_ms  batch duration aimed at (default 300): a batch
--                                starts at 1000 rows and is halved or doubled
--                                (between 100 and batch_size) to stay near it,
--                                which bounds how long the application can wait
--                                for a row 005 holds
--   migration_005.batch_pause    milliseconds to sleep between batches (0)
--
-- Throttle (set by pg_migrate's monitor under monitor_policy=pause, see
-- plugins/module_utils/_monitor.py): when knowledgehub.throttle_lock holds
-- an advisory-lock key, every batch loop below waits between two batches
-- while it cannot take that lock in shared mode (pg_try_advisory_lock_shared
-- and pg_sleep, never a blocking lock call: lock_timeout would fire), then
-- lets it go. The monitor holds the lock exclusively to pause the batches;
-- the lock dies with the monitor's session, so a dead monitor never stalls
-- 005. A pause happens only after a COMMIT: nothing is held while paused.


-- ---------------------------------------------------------------------------
-- 1. Change capture
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS migration_005_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk_id    bigint,
    document_id uuid,
    memory_id   uuid
);

-- The trigger function runs in the application's sessions: it names the
-- queue with its schema (whatever search_path the application uses) and runs
-- as its owner (whatever privileges the application role has).
DO $capture$
BEGIN
    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.migration_005_capture()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
BEGIN
    IF TG_TABLE_NAME = 'chunks' THEN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO %1$I.migration_005_changes (chunk_id, document_id) VALUES (OLD.id, OLD.document_id);
        ELSE
            INSERT INTO %1$I.migration_005_changes (chunk_id, document_id) VALUES (NEW.id, NEW.document_id);
            IF TG_OP = 'UPDATE' THEN
                IF OLD.document_id IS DISTINCT FROM NEW.document_id THEN
                    INSERT INTO %1$I.migration_005_changes (document_id) VALUES (OLD.document_id);
                END IF;
            END IF;
        END IF;
    ELSIF TG_TABLE_NAME = 'documents' THEN
        INSERT INTO %1$I.migration_005_changes (document_id) VALUES (NEW.id);
    ELSE
        INSERT INTO %1$I.migration_005_changes (memory_id) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END
$body$
$create$, current_schema());
END
$capture$;

CREATE OR REPLACE TRIGGER migration_005_chunks_insert_delete
    AFTER INSERT OR DELETE ON chunks
    FOR EACH ROW EXECUTE FUNCTION migration_005_capture();

CREATE OR REPLACE TRIGGER migration_005_chunks_update
    AFTER UPDATE ON chunks
    FOR EACH ROW
    WHEN ((OLD.document_id, OLD.chunk_index, OLD.content, OLD.token_count, OLD.embedding, OLD.created_at)
          IS DISTINCT FROM
          (NEW.document_id, NEW.chunk_index, NEW.content, NEW.token_count, NEW.embedding, NEW.created_at))
    EXECUTE FUNCTION migration_005_capture();

CREATE OR REPLACE TRIGGER migration_005_documents_insert
    AFTER INSERT ON documents
    FOR EACH ROW EXECUTE FUNCTION migration_005_capture();

CREATE OR REPLACE TRIGGER migration_005_documents_update
    AFTER UPDATE ON documents
    FOR EACH ROW
    WHEN ((OLD.title, OLD.source_id, OLD.metadata, OLD.created_at, OLD.updated_at)
          IS DISTINCT FROM
          (NEW.title, NEW.source_id, NEW.metadata, NEW.created_at, NEW.updated_at))
    EXECUTE FUNCTION migration_005_capture();

CREATE OR REPLACE TRIGGER migration_005_ai_memories_insert
    AFTER INSERT ON ai_memories
    FOR EACH ROW EXECUTE FUNCTION migration_005_capture();

-- 005's own updates set enhanced_at and change none of the compared columns,
-- so they do not queue themselves.
CREATE OR REPLACE TRIGGER migration_005_ai_memories_update
    AFTER UPDATE ON ai_memories
    FOR EACH ROW
    WHEN (NEW.enhanced_at IS NULL
          OR (OLD.user_id, OLD.memory_type, OLD.content, OLD.importance, OLD.access_count)
             IS DISTINCT FROM
             (NEW.user_id, NEW.memory_type, NEW.content, NEW.importance, NEW.access_count))
    EXECUTE FUNCTION migration_005_capture();


-- ---------------------------------------------------------------------------
-- 2. Helper functions (dropped again at the end)
-- ---------------------------------------------------------------------------

-- Enhance the given memories: create missing clusters, then write the four
-- columns of the rows whose values differ. Rows another transaction holds are
-- skipped, not waited for; the function returns the ids still not right
-- (skipped ones) so that the caller queues them.
CREATE OR REPLACE FUNCTION migration_005_sync_memories(p_ids uuid[])
RETURNS uuid[]
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $fn$
DECLARE
    v_left uuid[];
BEGIN
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN '{}';
    END IF;

    INSERT INTO memory_clusters (user_id, memory_type, label, description, memory_count)
    SELECT DISTINCT m.user_id,
           m.memory_type,
           m.memory_type || ' memories',
           'All ' || m.memory_type || ' memories of the user (initial clustering by migration 005)',
           0
      FROM ai_memories m
     WHERE m.id = ANY (p_ids)
       AND NOT EXISTS (SELECT 1
                         FROM memory_clusters c
                        WHERE c.user_id = m.user_id
                          AND c.label = m.memory_type || ' memories')
    ON CONFLICT (user_id, label) DO NOTHING;

    -- candidates: what differs (read without locks); locked: those of them no
    -- other transaction holds; the rest is returned to be queued again
    WITH candidates AS MATERIALIZED (
        SELECT m.id
          FROM ai_memories m
          LEFT JOIN memory_clusters c ON c.user_id = m.user_id AND c.label = m.memory_type || ' memories'
         WHERE m.id = ANY (p_ids)
           AND (c.id IS NULL
                OR m.enhanced_at IS NULL
                OR m.cluster_id IS DISTINCT FROM c.id
                OR m.content_hash IS DISTINCT FROM encode(sha256(convert_to(m.content, 'UTF8')), 'hex')
                OR m.importance_score IS DISTINCT FROM
                   round((0.7 * m.importance
                          + 0.3 * least(1.0, ln(1 + m.access_count) / ln(101)))::numeric, 4)::real)
    ), locked AS (
        SELECT m.id
          FROM ai_memories m
         WHERE m.id IN (SELECT k.id FROM candidates k)
           FOR NO KEY UPDATE SKIP LOCKED
    ), enhanced AS (
        UPDATE ai_memories m
           SET cluster_id       = c.id,
               content_hash     = encode(sha256(convert_to(m.content, 'UTF8')), 'hex'),
               importance_score = round((0.7 * m.importance
                                         + 0.3 * least(1.0, ln(1 + m.access_count) / ln(101)))::numeric,
                                        4)::real,
               enhanced_at      = now()
          FROM locked l, memory_clusters c
         WHERE m.id = l.id
           AND c.user_id = m.user_id
           AND c.label = m.memory_type || ' memories'
        RETURNING m.id
    )
    SELECT array_agg(k.id)
      INTO v_left
      FROM candidates k
     WHERE k.id NOT IN (SELECT e.id FROM enhanced e);
    RETURN coalesce(v_left, '{}');
END
$fn$;

-- Bring the 005 ingestion log of the given documents up to date (insert it
-- when missing), and the document-level fields of their enhanced chunks
-- (context line "chunk i of n", embedding model, source_id). Documents and
-- enhanced chunks another transaction holds (a DELETE in progress) are
-- skipped, not waited for; their ids are returned for the caller to queue.
CREATE OR REPLACE FUNCTION migration_005_sync_documents(p_ids uuid[])
RETURNS uuid[]
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $fn$
DECLARE
    v_locked uuid[];
    v_left   uuid[];
    v_busy   uuid[];
BEGIN
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN '{}';
    END IF;
    -- ingestion_logs has no unique key for "the 005 row of a document": should
    -- a stale session of an earlier run still be at work, the two take turns
    -- here (until commit) and the NOT EXISTS below sees the other's rows.
    PERFORM pg_advisory_xact_lock(hashtext('knowledgehub.migration_005.ingestion_logs'));

    -- KEY SHARE on the documents first: the foreign key checks below then
    -- never wait, and a DELETE of one of them waits for this short transaction
    -- instead of the other way round (no deadlock with the application).
    SELECT array_agg(d.id)
      INTO v_locked
      FROM (SELECT d.id FROM documents d WHERE d.id = ANY (p_ids) FOR KEY SHARE SKIP LOCKED) AS d;
    IF coalesce(cardinality(v_locked), 0) < cardinality(p_ids) THEN
        SELECT array_agg(d.id)
          INTO v_left
          FROM documents d
         WHERE d.id IN (SELECT unnest(p_ids) EXCEPT SELECT unnest(v_locked));
    END IF;
    IF coalesce(cardinality(v_locked), 0) = 0 THEN
        RETURN coalesce(v_left, '{}');
    END IF;

    WITH s AS MATERIALIZED (
        SELECT d.id,
               d.title,
               d.source_id,
               d.metadata ->> 'embedding_model' AS embedding_model,
               coalesce(a.chunk_count, 0)::integer AS chunk_count,
               coalesce(a.total_tokens, 0)::bigint AS total_tokens,
               jsonb_build_object('migrated_by', '005_data_migration',
                                  'embedded_chunks', coalesce(a.embedded_chunks, 0),
                                  'chunks_without_embedding', coalesce(a.chunk_count - a.embedded_chunks, 0))
                   AS metadata,
               d.created_at AS started_at,
               greatest(d.created_at, d.updated_at) AS completed_at
          FROM documents d
          LEFT JOIN (
                SELECT c.document_id,
                       count(*)           AS chunk_count,
                       sum(c.token_count) AS total_tokens,
                       count(c.embedding) AS embedded_chunks
                  FROM chunks c
                 WHERE c.document_id = ANY (v_locked)
                 GROUP BY c.document_id
               ) AS a ON a.document_id = d.id
         WHERE d.id = ANY (v_locked)
    ), updated_logs AS (
        UPDATE ingestion_logs l
           SET status          = 'completed',
               chunk_count     = s.chunk_count,
               total_tokens    = s.total_tokens,
               embedding_model = s.embedding_model,
               metadata        = s.metadata,
               started_at      = s.started_at,
               completed_at    = s.completed_at
          FROM s
         WHERE l.document_id = s.id
           AND l.source = 'migration_005'
           AND (l.status, l.chunk_count, l.total_tokens, l.embedding_model, l.metadata,
                l.started_at, l.completed_at)
               IS DISTINCT FROM
               ('completed', s.chunk_count, s.total_tokens, s.embedding_model, s.metadata,
                s.started_at, s.completed_at)
        RETURNING l.id
    ), new_logs AS (
        INSERT INTO ingestion_logs (document_id, source, status, chunk_count, total_tokens,
                                    embedding_model, metadata, started_at, completed_at)
        SELECT s.id, 'migration_005', 'completed', s.chunk_count, s.total_tokens,
               s.embedding_model, s.metadata, s.started_at, s.completed_at
          FROM s
         WHERE NOT EXISTS (SELECT 1
                             FROM ingestion_logs l
                            WHERE l.document_id = s.id
                              AND l.source = 'migration_005')
         ORDER BY s.id
        RETURNING id
    ), stale_contexts AS (
        SELECT e.id,
               e.document_id,
               'From "' || left(s.title, 200) || '", chunk ' || (e.chunk_index + 1) || ' of ' || s.chunk_count
                   AS context_summary,
               CASE WHEN e.embedding IS NOT NULL THEN s.embedding_model END AS embedding_model,
               jsonb_build_object('migrated_by', '005_data_migration', 'source_id', s.source_id) AS metadata
          FROM enhanced_chunks e
          JOIN s ON s.id = e.document_id
         WHERE e.context_summary IS DISTINCT FROM
                   'From "' || left(s.title, 200) || '", chunk ' || (e.chunk_index + 1) || ' of ' || s.chunk_count
            OR e.embedding_model IS DISTINCT FROM CASE WHEN e.embedding IS NOT NULL THEN s.embedding_model END
            OR NOT e.metadata @> jsonb_build_object('migrated_by', '005_data_migration',
                                                    'source_id', s.source_id)
    ), locked_contexts AS (
        SELECT e.id
          FROM enhanced_chunks e
         WHERE e.id IN (SELECT x.id FROM stale_contexts x)
           FOR NO KEY UPDATE SKIP LOCKED
    ), contexts AS (
        UPDATE enhanced_chunks e
           SET context_summary = x.context_summary,
               embedding_model = x.embedding_model,
               metadata        = e.metadata || x.metadata,
               updated_at      = now()
          FROM stale_contexts x
         WHERE x.id = e.id
           AND e.id IN (SELECT k.id FROM locked_contexts k)
        RETURNING e.id
    )
    SELECT array_agg(DISTINCT x.document_id)
      INTO v_busy
      FROM stale_contexts x
     WHERE x.id NOT IN (SELECT k.id FROM locked_contexts k);
    RETURN coalesce(v_left, '{}') || coalesce(v_busy, '{}');
END
$fn$;

-- Insert the enhanced chunk of each given chunk, or rewrite it when it
-- differs from its chunk. Chunks that no longer exist are ignored: their
-- enhanced chunk went with them (ON DELETE CASCADE). Chunks or documents
-- another transaction holds (a DELETE in progress) are skipped, not waited
-- for; their ids are returned for the caller to queue.
CREATE OR REPLACE FUNCTION migration_005_sync_chunks(p_ids bigint[])
RETURNS bigint[]
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $fn$
DECLARE
    v_locked bigint[];
    v_left   bigint[];
BEGIN
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN '{}';
    END IF;

    -- KEY SHARE on the chunks and their documents first: the foreign key
    -- checks of the insert then never wait (see migration_005_sync_documents).
    SELECT array_agg(k.id)
      INTO v_locked
      FROM (SELECT c.id
              FROM chunks c
              JOIN documents d ON d.id = c.document_id
             WHERE c.id = ANY (p_ids)
               FOR KEY SHARE OF c, d SKIP LOCKED) AS k;
    IF coalesce(cardinality(v_locked), 0) < cardinality(p_ids) THEN
        SELECT array_agg(c.id)
          INTO v_left
          FROM chunks c
         WHERE c.id IN (SELECT unnest(p_ids) EXCEPT SELECT unnest(v_locked));
    END IF;
    IF coalesce(cardinality(v_locked), 0) = 0 THEN
        RETURN coalesce(v_left, '{}');
    END IF;

    INSERT INTO enhanced_chunks AS e
           (chunk_id, document_id, chunk_index, content, content_hash, embedding, embedding_model,
            token_count, context_summary, metadata, created_at)
    SELECT c.id,
           c.document_id,
           c.chunk_index,
           c.content,
           encode(sha256(convert_to(c.content, 'UTF8')), 'hex'),
           c.embedding,
           CASE WHEN c.embedding IS NOT NULL THEN d.metadata ->> 'embedding_model' END,
           c.token_count,
           'From "' || left(d.title, 200) || '", chunk ' || (c.chunk_index + 1) || ' of ' || n.chunk_count,
           jsonb_build_object('migrated_by', '005_data_migration', 'source_id', d.source_id),
           c.created_at
      FROM chunks c
      JOIN documents d ON d.id = c.document_id
      JOIN (SELECT x.document_id, count(*) AS chunk_count
              FROM chunks x
             WHERE x.document_id IN (SELECT y.document_id FROM chunks y WHERE y.id = ANY (v_locked))
             GROUP BY x.document_id) AS n ON n.document_id = c.document_id
     WHERE c.id = ANY (v_locked)
     ORDER BY c.id
    ON CONFLICT (chunk_id) DO UPDATE
       SET document_id     = EXCLUDED.document_id,
           chunk_index     = EXCLUDED.chunk_index,
           content         = EXCLUDED.content,
           content_hash    = EXCLUDED.content_hash,
           embedding       = EXCLUDED.embedding,
           embedding_model = EXCLUDED.embedding_model,
           token_count     = EXCLUDED.token_count,
           context_summary = EXCLUDED.context_summary,
           metadata        = e.metadata || EXCLUDED.metadata,
           updated_at      = now()
     WHERE (e.document_id, e.chunk_index, e.content, e.content_hash, e.embedding, e.embedding_model,
            e.token_count, e.context_summary)
           IS DISTINCT FROM
           (EXCLUDED.document_id, EXCLUDED.chunk_index, EXCLUDED.content, EXCLUDED.content_hash,
            EXCLUDED.embedding, EXCLUDED.embedding_model, EXCLUDED.token_count, EXCLUDED.context_summary)
        OR NOT e.metadata @> EXCLUDED.metadata;
    RETURN coalesce(v_left, '{}');
END
$fn$;

-- Take up to p_limit keys off the queue (all of them when NULL) and sync
-- them, in the caller's transaction; what had to be skipped goes back on the
-- queue. Returns how many queue rows it took.
CREATE OR REPLACE FUNCTION migration_005_apply_changes(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_taken     integer;
    v_chunks    bigint[];
    v_documents uuid[];
    v_memories  uuid[];
BEGIN
    WITH taken AS (
        DELETE FROM migration_005_changes
         WHERE id IN (SELECT q.id FROM migration_005_changes q ORDER BY q.id LIMIT p_limit)
        RETURNING chunk_id, document_id, memory_id
    )
    SELECT count(*)::integer,
           array_agg(DISTINCT chunk_id) FILTER (WHERE chunk_id IS NOT NULL),
           array_agg(DISTINCT document_id) FILTER (WHERE document_id IS NOT NULL),
           array_agg(DISTINCT memory_id) FILTER (WHERE memory_id IS NOT NULL)
      INTO v_taken, v_chunks, v_documents, v_memories
      FROM taken;
    IF v_taken = 0 THEN
        RETURN 0;
    END IF;
    -- chunks first: the document sync recounts the chunks of each document
    INSERT INTO migration_005_changes (chunk_id)
    SELECT unnest(migration_005_sync_chunks(v_chunks));
    INSERT INTO migration_005_changes (document_id)
    SELECT unnest(migration_005_sync_documents(v_documents));
    INSERT INTO migration_005_changes (memory_id)
    SELECT unnest(migration_005_sync_memories(v_memories));
    RETURN v_taken;
END
$fn$;


-- ---------------------------------------------------------------------------
-- 3. Clusters and default configurations (small, idempotent)
-- ---------------------------------------------------------------------------

INSERT INTO memory_clusters (user_id, memory_type, label, description, memory_count)
SELECT m.user_id,
       m.memory_type,
       m.memory_type || ' memories',
       'All ' || m.memory_type || ' memories of the user (initial clustering by migration 005)',
       count(*)
  FROM ai_memories m
 GROUP BY m.user_id, m.memory_type
 ORDER BY m.user_id, m.memory_type
ON CONFLICT (user_id, label) DO NOTHING;

-- Without a conflict target: a row is skipped on its name and also when
-- another configuration already is the default (idx_rag_configurations_is_default).
INSERT INTO rag_configurations (name, description, is_default, retrieval_mode, vector_weight,
                                keyword_weight, top_k, rerank_top_n, similarity_threshold,
                                chunk_size, chunk_overlap, embedding_model, embedding_dimension,
                                reranker_model, llm_model, parameters)
SELECT v.name, v.description, v.is_default, v.retrieval_mode, v.vector_weight,
       v.keyword_weight, v.top_k, v.rerank_top_n, v.similarity_threshold,
       512, 64, 'sentence-transformers/all-MiniLM-L6-v2', dim.embedding_dimension,
       v.reranker_model, 'llama-3.1-8b-instruct', v.parameters::jsonb
  FROM (SELECT coalesce((SELECT array_length(c.embedding, 1)
                           FROM chunks c
                          WHERE c.embedding IS NOT NULL
                          LIMIT 1), 384) AS embedding_dimension) AS dim
 CROSS JOIN (VALUES
    ('hybrid_default', 'Vector and keyword search fused with weights, then reranked.',
     true, 'hybrid', 0.7::real, 0.3::real, 20, 5, 0.2::real,
     'cross-encoder/ms-marco-MiniLM-L-6-v2', '{"fusion": "weighted", "use_memories": true}'),
    ('hybrid_rrf', 'Vector and keyword search fused by reciprocal rank, then reranked.',
     false, 'hybrid', 0.5::real, 0.5::real, 30, 5, NULL::real,
     'cross-encoder/ms-marco-MiniLM-L-6-v2', '{"fusion": "rrf", "rrf_k": 60, "use_memories": true}'),
    ('vector_only', 'Embedding similarity only, as before the hybrid release.',
     false, 'vector', 1.0::real, 0.0::real, 10, NULL::integer, 0.25::real,
     NULL::text, '{"use_memories": false}'),
    ('keyword_only', 'PostgreSQL full-text search on chunks.content_tsv only.',
     false, 'keyword', 0.0::real, 1.0::real, 10, NULL::integer, NULL::real,
     NULL::text, '{"text_search_config": "english", "use_memories": false}')
 ) AS v (name, description, is_default, retrieval_mode, vector_weight, keyword_weight,
         top_k, rerank_top_n, similarity_threshold, reranker_model, parameters)
ON CONFLICT DO NOTHING;

INSERT INTO service_configurations (service_name, service_type, endpoint_url, model_name,
                                    timeout_ms, max_retries, config)
SELECT v.service_name, v.service_type, v.endpoint_url, v.model_name,
       v.timeout_ms, v.max_retries,
       v.config::jsonb || CASE WHEN v.service_type IN ('embedding', 'vector_store')
                               THEN jsonb_build_object('dimension', dim.embedding_dimension)
                               ELSE '{}'::jsonb END
  FROM (SELECT coalesce((SELECT array_length(c.embedding, 1)
                           FROM chunks c
                          WHERE c.embedding IS NOT NULL
                          LIMIT 1), 384) AS embedding_dimension) AS dim
 CROSS JOIN (VALUES
    ('embedding', 'embedding', 'http://embeddings:8080', 'sentence-transformers/all-MiniLM-L6-v2',
     10000, 3, '{"batch_size": 64, "normalize": true}'),
    ('reranker', 'reranker', 'http://reranker:8081', 'cross-encoder/ms-marco-MiniLM-L-6-v2',
     10000, 2, '{"batch_size": 32}'),
    ('vector_store', 'vector_store', NULL, NULL,
     5000, 1, '{"backend": "postgresql", "table": "enhanced_chunks", "column": "embedding", "distance": "cosine"}'),
    ('llm', 'llm', 'http://llm:8000/v1', 'llama-3.1-8b-instruct',
     60000, 2, '{"temperature": 0.2, "max_tokens": 1024}'),
    ('keyword_search', 'keyword_search', NULL, NULL,
     5000, 1, '{"backend": "postgresql", "table": "chunks", "column": "content_tsv", "text_search_config": "english"}'),
    ('query_cache', 'cache', NULL, NULL,
     1000, 0, '{"backend": "postgresql", "table": "query_cache", "ttl_seconds": 3600}')
 ) AS v (service_name, service_type, endpoint_url, model_name, timeout_ms, max_retries, config)
ON CONFLICT (service_name) DO NOTHING;

INSERT INTO agent_definitions (name, description, agent_type, model, tools, config)
VALUES
    ('query_router', 'Decides whether a question needs documents, memories or both.',
     'router', 'llama-3.1-8b-instruct', '[]', '{"temperature": 0}'),
    ('hybrid_retriever', 'Runs vector and keyword search with the default RAG configuration.',
     'retriever', NULL, '["vector_search", "keyword_search", "memory_search"]', '{"configuration": "hybrid_default"}'),
    ('reranker', 'Reorders retrieved chunks with the cross-encoder.',
     'reranker', 'cross-encoder/ms-marco-MiniLM-L-6-v2', '[]', '{"top_n": 5}'),
    ('answer_generator', 'Writes the answer from the reranked context.',
     'generator', 'llama-3.1-8b-instruct', '[]', '{"temperature": 0.2, "max_tokens": 1024}')
ON CONFLICT (name) DO NOTHING;

INSERT INTO agent_workflows (name, description, version, entry_agent_id, definition)
SELECT 'hybrid_rag_answer',
       'Route, retrieve, rerank, answer.',
       1,
       a.id,
       '{"steps": ["query_router", "hybrid_retriever", "reranker", "answer_generator"]}'::jsonb
  FROM agent_definitions a
 WHERE a.name = 'query_router'
ON CONFLICT (name, version) DO NOTHING;


-- ---------------------------------------------------------------------------
-- 4. Batches: one short transaction per batch, COMMIT in between
-- ---------------------------------------------------------------------------

-- Memories, in id order. Already enhanced rows are passed over, so a rerun
-- only re-reads the table.
DO $memories$
DECLARE
    v_max      integer := greatest(100, coalesce(nullif(current_setting('migration_005.batch_size', true), '')::integer, 5000));
    v_target   double precision := greatest(10, coalesce(nullif(current_setting('migration_005.batch_time_ms', true), '')::double precision, 300));
    v_batch    integer;
    v_ms       double precision;
    v_pause    double precision := coalesce(nullif(current_setting('migration_005.batch_pause', true), '')::double precision, 0) / 1000;
    v_throttle bigint := nullif(current_setting('knowledgehub.throttle_lock', true), '')::bigint;
    v_wait     timestamptz;
    v_total    bigint;
    v_done     bigint := 0;
    v_last     uuid;
    v_keys     uuid[];
    v_todo     uuid[];
    v_left     uuid[];
    v_ok       boolean;
    v_retries  integer := 0;
    v_batches  integer := 0;
    v_queued   bigint := 0;
    v_started  timestamptz := clock_timestamp();
    v_t0       timestamptz;
    v_longest  interval := interval '0';
    v_reported integer := 0;
BEGIN
    v_batch := least(v_max, 1000);
    SELECT count(*) INTO v_total FROM ai_memories;
    RAISE NOTICE '005 ai_memories: enhancing % memories, batches of up to % rows and about % ms', v_total, v_max, v_target;
    LOOP
        v_t0 := clock_timestamp();
        IF v_last IS NULL THEN
            SELECT array_agg(b.id ORDER BY b.id), array_agg(b.id) FILTER (WHERE b.enhanced_at IS NULL)
              INTO v_keys, v_todo
              FROM (SELECT m.id, m.enhanced_at FROM ai_memories m ORDER BY m.id LIMIT v_batch) AS b;
        ELSE
            SELECT array_agg(b.id ORDER BY b.id), array_agg(b.id) FILTER (WHERE b.enhanced_at IS NULL)
              INTO v_keys, v_todo
              FROM (SELECT m.id, m.enhanced_at FROM ai_memories m WHERE m.id > v_last ORDER BY m.id LIMIT v_batch) AS b;
        END IF;
        EXIT WHEN v_keys IS NULL;
        v_ok := false;
        BEGIN
            v_left := migration_005_sync_memories(v_todo);
            IF cardinality(v_left) > 0 THEN
                INSERT INTO migration_005_changes (memory_id) SELECT unnest(v_left);
                v_queued := v_queued + cardinality(v_left);
            END IF;
            v_ok := true;
        EXCEPTION WHEN deadlock_detected OR foreign_key_violation THEN
            v_retries := v_retries + 1;
            IF v_retries > 20 THEN
                RAISE;
            END IF;
            RAISE NOTICE '005 ai_memories: batch after % retried (%: %)', v_last, SQLSTATE, SQLERRM;
            PERFORM pg_sleep(0.1 * v_retries);
        END;
        IF v_ok THEN
            COMMIT;
            v_last := v_keys[cardinality(v_keys)];
            v_done := v_done + cardinality(v_keys);
            v_batches := v_batches + 1;
            v_longest := greatest(v_longest, clock_timestamp() - v_t0);
            v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
            IF v_ms > v_target THEN
                v_batch := greatest(100, (v_batch * v_target / v_ms * 0.9)::integer);
            ELSIF v_ms < v_target / 2 THEN
                v_batch := least(v_max, v_batch * 2);
            END IF;
            IF v_done * 10 / greatest(v_total, 1) > v_reported THEN
                v_reported := v_done * 10 / greatest(v_total, 1);
                RAISE NOTICE '005 ai_memories: %/% memories (%)', v_done, v_total,
                    least(100, v_done * 100 / greatest(v_total, 1)) || '%';
            END IF;
            IF v_pause > 0 THEN
                PERFORM pg_sleep(v_pause);
            END IF;
            IF v_throttle IS NOT NULL THEN
                v_wait := clock_timestamp();
                WHILE NOT pg_try_advisory_lock_shared(v_throttle) LOOP
                    PERFORM pg_sleep(0.2);
                END LOOP;
                PERFORM pg_advisory_unlock_shared(v_throttle);
                IF clock_timestamp() - v_wait > interval '0.5 s' THEN
                    RAISE NOTICE '005 ai_memories: paused % s by the throttle (knowledgehub.throttle_lock)',
                        round(extract(epoch FROM clock_timestamp() - v_wait)::numeric, 1);
                END IF;
            END IF;
        END IF;
    END LOOP;
    RAISE NOTICE '005 ai_memories: done, % memories in % batches, % s, longest batch % ms, % queued for the catch-up, % retries',
        v_done, v_batches, round(extract(epoch FROM clock_timestamp() - v_started)::numeric, 1),
        round(extract(epoch FROM v_longest)::numeric * 1000), v_queued, v_retries;
END
$memories$;

-- Documents, in id order, resuming after the last one that got its log.
DO $documents$
DECLARE
    v_max      integer := greatest(100, coalesce(nullif(current_setting('migration_005.batch_size', true), '')::integer, 5000));
    v_target   double precision := greatest(10, coalesce(nullif(current_setting('migration_005.batch_time_ms', true), '')::double precision, 300));
    v_batch    integer;
    v_ms       double precision;
    v_pause    double precision := coalesce(nullif(current_setting('migration_005.batch_pause', true), '')::double precision, 0) / 1000;
    v_throttle bigint := nullif(current_setting('knowledgehub.throttle_lock', true), '')::bigint;
    v_wait     timestamptz;
    v_total    bigint;
    v_done     bigint;
    v_last     uuid;
    v_keys     uuid[];
    v_ok       boolean;
    v_skipped  integer;
    v_queued   bigint := 0;
    v_retries  integer := 0;
    v_batches  integer := 0;
    v_started  timestamptz := clock_timestamp();
    v_t0       timestamptz;
    v_longest  interval := interval '0';
    v_reported integer;
BEGIN
    v_batch := least(v_max, 1000);
    SELECT count(*) INTO v_total FROM documents;
    SELECT l.document_id INTO v_last
      FROM ingestion_logs l
     WHERE l.source = 'migration_005'
     ORDER BY l.document_id DESC
     LIMIT 1;
    IF v_last IS NULL THEN
        v_done := 0;
    ELSE
        SELECT count(*) INTO v_done FROM documents d WHERE d.id <= v_last;
    END IF;
    v_reported := v_done * 10 / greatest(v_total, 1);
    RAISE NOTICE '005 ingestion_logs: % documents, % already done, batches of up to % rows and about % ms', v_total, v_done, v_max, v_target;
    LOOP
        v_t0 := clock_timestamp();
        IF v_last IS NULL THEN
            SELECT array_agg(b.id ORDER BY b.id) INTO v_keys
              FROM (SELECT d.id FROM documents d ORDER BY d.id LIMIT v_batch) AS b;
        ELSE
            SELECT array_agg(b.id ORDER BY b.id) INTO v_keys
              FROM (SELECT d.id FROM documents d WHERE d.id > v_last ORDER BY d.id LIMIT v_batch) AS b;
        END IF;
        EXIT WHEN v_keys IS NULL;
        v_ok := false;
        BEGIN
            INSERT INTO migration_005_changes (document_id)
            SELECT unnest(migration_005_sync_documents(v_keys));
            GET DIAGNOSTICS v_skipped = ROW_COUNT;
            v_queued := v_queued + v_skipped;
            v_ok := true;
        EXCEPTION WHEN deadlock_detected OR foreign_key_violation THEN
            v_retries := v_retries + 1;
            IF v_retries > 20 THEN
                RAISE;
            END IF;
            RAISE NOTICE '005 ingestion_logs: batch after % retried (%: %)', v_last, SQLSTATE, SQLERRM;
            PERFORM pg_sleep(0.1 * v_retries);
        END;
        IF v_ok THEN
            COMMIT;
            v_last := v_keys[cardinality(v_keys)];
            v_done := v_done + cardinality(v_keys);
            v_batches := v_batches + 1;
            v_longest := greatest(v_longest, clock_timestamp() - v_t0);
            v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
            IF v_ms > v_target THEN
                v_batch := greatest(100, (v_batch * v_target / v_ms * 0.9)::integer);
            ELSIF v_ms < v_target / 2 THEN
                v_batch := least(v_max, v_batch * 2);
            END IF;
            IF v_done * 10 / greatest(v_total, 1) > v_reported THEN
                v_reported := v_done * 10 / greatest(v_total, 1);
                RAISE NOTICE '005 ingestion_logs: %/% documents (%)', v_done, v_total,
                    least(100, v_done * 100 / greatest(v_total, 1)) || '%';
            END IF;
            IF v_pause > 0 THEN
                PERFORM pg_sleep(v_pause);
            END IF;
            IF v_throttle IS NOT NULL THEN
                v_wait := clock_timestamp();
                WHILE NOT pg_try_advisory_lock_shared(v_throttle) LOOP
                    PERFORM pg_sleep(0.2);
                END LOOP;
                PERFORM pg_advisory_unlock_shared(v_throttle);
                IF clock_timestamp() - v_wait > interval '0.5 s' THEN
                    RAISE NOTICE '005 ingestion_logs: paused % s by the throttle (knowledgehub.throttle_lock)',
                        round(extract(epoch FROM clock_timestamp() - v_wait)::numeric, 1);
                END IF;
            END IF;
        END IF;
    END LOOP;
    RAISE NOTICE '005 ingestion_logs: done, % documents in % batches, % s, longest batch % ms, % queued for the catch-up, % retries',
        v_done, v_batches, round(extract(epoch FROM clock_timestamp() - v_started)::numeric, 1),
        round(extract(epoch FROM v_longest)::numeric * 1000), v_queued, v_retries;
END
$documents$;

-- Chunks, in id order, resuming after the highest chunk already carried
-- over (only this step inserts enhanced chunks before the sweep below).
DO $chunks$
DECLARE
    v_max      integer := greatest(100, coalesce(nullif(current_setting('migration_005.batch_size', true), '')::integer, 5000));
    v_target   double precision := greatest(10, coalesce(nullif(current_setting('migration_005.batch_time_ms', true), '')::double precision, 300));
    v_batch    integer;
    v_ms       double precision;
    v_pause    double precision := coalesce(nullif(current_setting('migration_005.batch_pause', true), '')::double precision, 0) / 1000;
    v_throttle bigint := nullif(current_setting('knowledgehub.throttle_lock', true), '')::bigint;
    v_wait     timestamptz;
    v_total    bigint;
    v_done     bigint;
    v_last     bigint;
    v_keys     bigint[];
    v_ok       boolean;
    v_skipped  integer;
    v_queued   bigint := 0;
    v_retries  integer := 0;
    v_batches  integer := 0;
    v_started  timestamptz := clock_timestamp();
    v_t0       timestamptz;
    v_longest  interval := interval '0';
    v_reported integer;
BEGIN
    v_batch := least(v_max, 1000);
    SELECT count(*) INTO v_total FROM chunks;
    SELECT coalesce(max(e.chunk_id), 0) INTO v_last FROM enhanced_chunks e;
    SELECT count(*) INTO v_done FROM chunks c WHERE c.id <= v_last;
    v_reported := v_done * 10 / greatest(v_total, 1);
    RAISE NOTICE '005 enhanced_chunks: % chunks, % already done, batches of up to % rows and about % ms', v_total, v_done, v_max, v_target;
    LOOP
        v_t0 := clock_timestamp();
        SELECT array_agg(b.id ORDER BY b.id) INTO v_keys
          FROM (SELECT c.id FROM chunks c WHERE c.id > v_last ORDER BY c.id LIMIT v_batch) AS b;
        EXIT WHEN v_keys IS NULL;
        v_ok := false;
        BEGIN
            INSERT INTO migration_005_changes (chunk_id)
            SELECT unnest(migration_005_sync_chunks(v_keys));
            GET DIAGNOSTICS v_skipped = ROW_COUNT;
            v_queued := v_queued + v_skipped;
            v_ok := true;
        EXCEPTION WHEN deadlock_detected OR foreign_key_violation THEN
            -- a chunk or its document was deleted under the batch: read the range again
            v_retries := v_retries + 1;
            IF v_retries > 20 THEN
                RAISE;
            END IF;
            RAISE NOTICE '005 enhanced_chunks: batch after chunk % retried (%: %)', v_last, SQLSTATE, SQLERRM;
            PERFORM pg_sleep(0.1 * v_retries);
        END;
        IF v_ok THEN
            COMMIT;
            v_last := v_keys[cardinality(v_keys)];
            v_done := v_done + cardinality(v_keys);
            v_batches := v_batches + 1;
            v_longest := greatest(v_longest, clock_timestamp() - v_t0);
            v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
            IF v_ms > v_target THEN
                v_batch := greatest(100, (v_batch * v_target / v_ms * 0.9)::integer);
            ELSIF v_ms < v_target / 2 THEN
                v_batch := least(v_max, v_batch * 2);
            END IF;
            IF v_done * 10 / greatest(v_total, 1) > v_reported THEN
                v_reported := v_done * 10 / greatest(v_total, 1);
                RAISE NOTICE '005 enhanced_chunks: %/% chunks (%)', v_done, v_total,
                    least(100, v_done * 100 / greatest(v_total, 1)) || '%';
            END IF;
            IF v_pause > 0 THEN
                PERFORM pg_sleep(v_pause);
            END IF;
            IF v_throttle IS NOT NULL THEN
                v_wait := clock_timestamp();
                WHILE NOT pg_try_advisory_lock_shared(v_throttle) LOOP
                    PERFORM pg_sleep(0.2);
                END LOOP;
                PERFORM pg_advisory_unlock_shared(v_throttle);
                IF clock_timestamp() - v_wait > interval '0.5 s' THEN
                    RAISE NOTICE '005 enhanced_chunks: paused % s by the throttle (knowledgehub.throttle_lock)',
                        round(extract(epoch FROM clock_timestamp() - v_wait)::numeric, 1);
                END IF;
            END IF;
        END IF;
    END LOOP;
    RAISE NOTICE '005 enhanced_chunks: done, % chunks in % batches, % s, longest batch % ms, % queued for the catch-up, % retries',
        v_done, v_batches, round(extract(epoch FROM clock_timestamp() - v_started)::numeric, 1),
        round(extract(epoch FROM v_longest)::numeric * 1000), v_queued, v_retries;
END
$chunks$;

-- Statistics for the plans of the sweep and of the first queries of the new
-- release (ANALYZE takes no lock that blocks reads or writes).
ANALYZE enhanced_chunks (id, chunk_id, document_id, chunk_index, content_hash, token_count, created_at);
ANALYZE ingestion_logs;
ANALYZE memory_clusters;


-- ---------------------------------------------------------------------------
-- 5. Constraints and indexes of the new ai_memories columns
-- ---------------------------------------------------------------------------

-- 004 adds the foreign key and the checks of the new ai_memories columns NOT
-- VALID and leaves their indexes to 005: validate now that the data is in.
-- VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE (reads and writes go on)
-- and is a no-op for a constraint that is already valid.
-- squawk-ignore prefer-robust-stmts -- validating a valid constraint is a no-op: safe to rerun
ALTER TABLE ai_memories VALIDATE CONSTRAINT fk_ai_memories_cluster_id;
-- squawk-ignore prefer-robust-stmts -- validating a valid constraint is a no-op: safe to rerun
ALTER TABLE ai_memories VALIDATE CONSTRAINT ck_ai_memories_content_hash_format;
-- squawk-ignore prefer-robust-stmts -- validating a valid constraint is a no-op: safe to rerun
ALTER TABLE ai_memories VALIDATE CONSTRAINT ck_ai_memories_importance_score_range;

-- Built after the backfill, without blocking writes. IF NOT EXISTS keeps them
-- when an earlier 004 already created them. A build that fails or is killed
-- leaves an INVALID index under this name: drop it (DROP INDEX CONCURRENTLY)
-- before this statement runs again, as the runner does.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_ai_memories_content_hash ON ai_memories (content_hash);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_ai_memories_cluster_id ON ai_memories (cluster_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_ai_memories_user_id_importance_score
    ON ai_memories (user_id, importance_score DESC);


-- ---------------------------------------------------------------------------
-- 6. Sweep: queue whatever the batches did not carry over (reads only)
-- ---------------------------------------------------------------------------

INSERT INTO migration_005_changes (chunk_id, document_id, memory_id)
SELECT c.id, c.document_id, NULL::uuid
  FROM chunks c
 WHERE NOT EXISTS (SELECT 1 FROM enhanced_chunks e WHERE e.chunk_id = c.id)
UNION ALL
SELECT NULL, d.id, NULL
  FROM documents d
 WHERE NOT EXISTS (SELECT 1 FROM ingestion_logs l
                    WHERE l.document_id = d.id AND l.source = 'migration_005')
UNION ALL
SELECT NULL, NULL, m.id
  FROM ai_memories m
 WHERE m.enhanced_at IS NULL
    OR m.cluster_id IS NULL
    OR m.content_hash IS NULL
    OR m.importance_score IS NULL;


-- ---------------------------------------------------------------------------
-- 7. Drain the queue without locking anything but rows
-- ---------------------------------------------------------------------------

DO $drain$
DECLARE
    v_max       integer := greatest(100, coalesce(nullif(current_setting('migration_005.batch_size', true), '')::integer, 5000));
    v_target    double precision := greatest(10, coalesce(nullif(current_setting('migration_005.batch_time_ms', true), '')::double precision, 300));
    v_batch     integer;
    v_ms        double precision;
    v_threshold integer := 100;
    v_remaining bigint;
    v_taken     integer;
    v_applied   bigint := 0;
    v_rounds    integer := 0;
    v_retries   integer := 0;
    v_started   timestamptz := clock_timestamp();
    v_t0        timestamptz;
    v_longest   interval := interval '0';
    v_throttle  bigint := nullif(current_setting('knowledgehub.throttle_lock', true), '')::bigint;
    v_wait      timestamptz;
BEGIN
    v_batch := least(v_max, 1000);
    LOOP
        SELECT count(*) INTO v_remaining FROM migration_005_changes;
        EXIT WHEN v_remaining <= v_threshold OR v_rounds >= 1000;
        v_t0 := clock_timestamp();
        v_taken := NULL;
        BEGIN
            v_taken := migration_005_apply_changes(v_batch);
        EXCEPTION WHEN deadlock_detected OR foreign_key_violation THEN
            v_retries := v_retries + 1;
            IF v_retries > 20 THEN
                RAISE;
            END IF;
            RAISE NOTICE '005 drain: batch retried (%: %)', SQLSTATE, SQLERRM;
            PERFORM pg_sleep(0.1 * v_retries);
        END;
        IF v_taken IS NOT NULL THEN
            COMMIT;
            v_applied := v_applied + v_taken;
            v_rounds := v_rounds + 1;
            v_longest := greatest(v_longest, clock_timestamp() - v_t0);
            v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
            IF v_ms > v_target THEN
                v_batch := greatest(100, (v_batch * v_target / v_ms * 0.9)::integer);
            ELSIF v_ms < v_target / 2 THEN
                v_batch := least(v_max, v_batch * 2);
            END IF;
            IF v_throttle IS NOT NULL THEN
                v_wait := clock_timestamp();
                WHILE NOT pg_try_advisory_lock_shared(v_throttle) LOOP
                    PERFORM pg_sleep(0.2);
                END LOOP;
                PERFORM pg_advisory_unlock_shared(v_throttle);
                IF clock_timestamp() - v_wait > interval '0.5 s' THEN
                    RAISE NOTICE '005 drain: paused % s by the throttle (knowledgehub.throttle_lock)',
                        round(extract(epoch FROM clock_timestamp() - v_wait)::numeric, 1);
                END IF;
            END IF;
        END IF;
    END LOOP;
    RAISE NOTICE '005 drain: % queued changes applied in % batches, % s, longest batch % ms, % left for the catch-up',
        v_applied, v_rounds, round(extract(epoch FROM clock_timestamp() - v_started)::numeric, 1),
        round(extract(epoch FROM v_longest)::numeric * 1000), v_remaining;
END
$drain$;


-- ---------------------------------------------------------------------------
-- 8. Catch-up: one short transaction with the writers held off
-- ---------------------------------------------------------------------------

-- ai_memories is locked first, waiting up to lock_timeout (55P03 goes to the
-- runner, which retries the statement). documents and chunks are then taken
-- NOWAIT: when a writer holds one of them, everything is released at once
-- and tried again shortly, so writers never queue behind 005 for long.
-- SHARE and SHARE ROW EXCLUSIVE do not block readers. With the writers held
-- off, the queue holds everything the batches and the drain did not do, and
-- no row 005 writes can be locked by anyone else: 005 never waits for a row.
DO $catchup$
DECLARE
    v_attempt  integer := 0;
    v_have_one boolean;
    v_taken    integer;
    v_applied  integer := 0;
    v_rounds   integer;
    v_started  timestamptz := clock_timestamp();
    v_locked   timestamptz;
BEGIN
    LOOP
        v_attempt := v_attempt + 1;
        v_have_one := false;
        BEGIN
            LOCK TABLE ai_memories IN SHARE ROW EXCLUSIVE MODE;
            v_have_one := true;
            LOCK TABLE documents, chunks IN SHARE MODE NOWAIT;
            v_locked := clock_timestamp();
            v_rounds := 0;
            LOOP
                v_taken := migration_005_apply_changes(NULL);
                EXIT WHEN v_taken = 0;
                v_applied := v_applied + v_taken;
                v_rounds := v_rounds + 1;
                IF v_rounds >= 3 THEN
                    -- what is still queued was skipped: rows another transaction
                    -- holds with SELECT ... FOR UPDATE, which these table locks do
                    -- not stop. Let go of everything and try again (below).
                    RAISE EXCEPTION USING
                        ERRCODE = 'lock_not_available',
                        MESSAGE = format('005 catch-up: %s queued rows are locked by other transactions',
                                         (SELECT count(*) FROM migration_005_changes));
                END IF;
            END LOOP;
            RAISE NOTICE '005 catch-up: % queued changes applied with writers held off for % ms (lock attempts: %, waited % ms)',
                v_applied, round(extract(epoch FROM clock_timestamp() - v_locked)::numeric * 1000),
                v_attempt, round(extract(epoch FROM v_locked - v_started)::numeric * 1000);
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            -- a lock_timeout on ai_memories goes to the runner; a busy
            -- documents or chunks, or locked rows, are retried here a while,
            -- then go to the runner too (which retries the statement)
            IF NOT v_have_one OR v_attempt >= 50 THEN
                RAISE;
            END IF;
            v_applied := 0;
            PERFORM pg_sleep(least(0.5, 0.02 * v_attempt) + random() * 0.05);
        END;
    END LOOP;
END
$catchup$;


-- ---------------------------------------------------------------------------
-- 9. Remove the change capture, finish
-- ---------------------------------------------------------------------------

DROP TRIGGER IF EXISTS migration_005_ai_memories_update ON ai_memories;
DROP TRIGGER IF EXISTS migration_005_ai_memories_insert ON ai_memories;
DROP TRIGGER IF EXISTS migration_005_documents_update ON documents;
DROP TRIGGER IF EXISTS migration_005_documents_insert ON documents;
DROP TRIGGER IF EXISTS migration_005_chunks_update ON chunks;
DROP TRIGGER IF EXISTS migration_005_chunks_insert_delete ON chunks;

-- squawk-ignore ban-drop-function -- 005's own helpers, created above; nothing else calls them
DROP FUNCTION IF EXISTS
    migration_005_apply_changes(integer),
    migration_005_sync_chunks(bigint[]),
    migration_005_sync_documents(uuid[]),
    migration_005_sync_memories(uuid[]),
    migration_005_capture();

-- squawk-ignore ban-drop-table -- 005's own change queue, created above and empty after the catch-up
DROP TABLE IF EXISTS migration_005_changes;

-- Cluster sizes as of now (row locks on memory_clusters only).
UPDATE memory_clusters c
   SET memory_count = n.memory_count,
       updated_at   = now()
  FROM (SELECT c2.id, count(m.id)::integer AS memory_count
          FROM memory_clusters c2
          LEFT JOIN ai_memories m ON m.cluster_id = c2.id
         GROUP BY c2.id) AS n
 WHERE n.id = c.id
   AND c.memory_count <> n.memory_count;

-- Statistics for the planner: the new columns of ai_memories and the key
-- columns of the new tables. The large text and embedding columns are left
-- to autovacuum.
ANALYZE ai_memories (cluster_id, content_hash, importance_score, enhanced_at);
ANALYZE memory_clusters;
ANALYZE ingestion_logs;
ANALYZE enhanced_chunks (id, chunk_id, document_id, chunk_index, content_hash, token_count, created_at);
