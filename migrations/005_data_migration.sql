-- 005_data_migration.sql
--
-- Data of the Hybrid RAG release. Fills the tables and columns created by
-- 004_hybrid_rag_schema.sql from the existing data:
--
--   1. memory_clusters gets one cluster per (user_id, memory_type) of
--      ai_memories. Centroids are left NULL for the clustering service.
--   2. Every ai_memories row is kept and enhanced: cluster_id, content_hash
--      (hex SHA-256 of the UTF-8 content), importance_score (0.7 x importance
--      plus 0.3 x a usage term that grows with access_count and reaches 1 at
--      100 accesses) and enhanced_at. No column that existed before 004 is
--      changed, updated_at included.
--   3. ingestion_logs gets exactly one row per document: source
--      'migration_005', status 'completed', its number of chunks and their
--      total tokens (documents without chunks get 0).
--   4. enhanced_chunks gets exactly one row per chunk: chunk_id, document_id,
--      chunk_index, content, embedding, token_count and created_at copied,
--      plus content_hash and a short context line naming the document.
--   5. Default rows: 4 rag_configurations (exactly one is_default), 6
--      service_configurations (embedding, reranker, vector_store, llm,
--      keyword_search, cache), 4 agent_definitions and 1 agent_workflow.
--      The embedding dimension is taken from the existing chunks (384 when
--      no chunk has an embedding yet).
--
-- Everything is set-based (one INSERT or UPDATE per step). The migration
-- first takes locks that keep writers out of documents, chunks and
-- ai_memories until it commits, so the copies are consistent. Readers are
-- not blocked. It refuses to run when the target tables already hold data
-- and checks its own row counts at the end, so a failure rolls the whole
-- file back. The runner executes this file statement by statement inside one
-- transaction. LOCK TABLE fails outside a transaction block, which is
-- intended. Checks the validation tooling runs afterwards are listed in
-- migrations/expectations/005_data_migration.yml.

-- Writers of the source tables wait until this transaction ends.
LOCK TABLE documents, chunks IN SHARE MODE;
LOCK TABLE ai_memories IN EXCLUSIVE MODE;

-- Refuse to run twice or on top of data written by something else.
DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM enhanced_chunks)
       OR EXISTS (SELECT 1 FROM ingestion_logs)
       OR EXISTS (SELECT 1 FROM memory_clusters)
       OR EXISTS (SELECT 1 FROM rag_configurations)
       OR EXISTS (SELECT 1 FROM service_configurations)
       OR EXISTS (SELECT 1 FROM agent_definitions)
       OR EXISTS (SELECT 1 FROM agent_workflows)
       OR EXISTS (SELECT 1 FROM ai_memories
                   WHERE cluster_id IS NOT NULL OR content_hash IS NOT NULL
                      OR importance_score IS NOT NULL OR enhanced_at IS NOT NULL)
    THEN
        RAISE EXCEPTION '005_data_migration: the hybrid RAG tables already hold data'
            USING HINT = 'This migration only runs once, right after 004 on an untouched schema. '
                      || 'Run migrations/rollback_004_005.sql and apply 004 and 005 again.';
    END IF;
END
$guard$;


-- 1. Memory clusters: one per user and memory type.
INSERT INTO memory_clusters (user_id, memory_type, label, description, memory_count)
SELECT m.user_id,
       m.memory_type,
       m.memory_type || ' memories',
       'All ' || m.memory_type || ' memories of the user (initial clustering by migration 005)',
       count(*)
  FROM ai_memories m
 GROUP BY m.user_id, m.memory_type
 ORDER BY m.user_id, m.memory_type;

ANALYZE memory_clusters;


-- 2. Enhance every memory. Only the columns added by 004 are written.
UPDATE ai_memories m
   SET cluster_id       = c.id,
       content_hash     = encode(sha256(convert_to(m.content, 'UTF8')), 'hex'),
       importance_score = round((0.7 * m.importance
                                 + 0.3 * least(1.0, ln(1 + m.access_count) / ln(101)))::numeric,
                                4)::real,
       enhanced_at      = now()
  FROM memory_clusters c
 WHERE c.user_id = m.user_id
   AND c.memory_type = m.memory_type;


-- 3. One completed ingestion log per existing document.
INSERT INTO ingestion_logs (document_id, source, status, chunk_count, total_tokens,
                            embedding_model, metadata, started_at, completed_at)
SELECT d.id,
       'migration_005',
       'completed',
       coalesce(s.chunk_count, 0),
       coalesce(s.total_tokens, 0),
       d.metadata ->> 'embedding_model',
       jsonb_build_object('migrated_by', '005_data_migration',
                          'embedded_chunks', coalesce(s.embedded_chunks, 0),
                          'chunks_without_embedding', coalesce(s.chunk_count - s.embedded_chunks, 0)),
       d.created_at,
       greatest(d.created_at, d.updated_at)
  FROM documents d
  LEFT JOIN (
        SELECT c.document_id,
               count(*)           AS chunk_count,
               sum(c.token_count) AS total_tokens,
               count(c.embedding) AS embedded_chunks
          FROM chunks c
         GROUP BY c.document_id
       ) AS s ON s.document_id = d.id;


-- 4. One enhanced chunk per existing chunk.
INSERT INTO enhanced_chunks (chunk_id, document_id, chunk_index, content, content_hash,
                             embedding, embedding_model, token_count, context_summary,
                             metadata, created_at)
SELECT c.id,
       c.document_id,
       c.chunk_index,
       c.content,
       encode(sha256(convert_to(c.content, 'UTF8')), 'hex'),
       c.embedding,
       CASE WHEN c.embedding IS NOT NULL THEN d.metadata ->> 'embedding_model' END,
       c.token_count,
       'From "' || left(d.title, 200) || '", chunk ' || (c.chunk_index + 1)
           || ' of ' || n.chunk_count,
       jsonb_build_object('migrated_by', '005_data_migration', 'source_id', d.source_id),
       c.created_at
  FROM chunks c
  JOIN documents d ON d.id = c.document_id
  JOIN (
        SELECT document_id, count(*) AS chunk_count
          FROM chunks
         GROUP BY document_id
       ) AS n ON n.document_id = c.document_id;


-- 5. Default configurations.
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
         top_k, rerank_top_n, similarity_threshold, reranker_model, parameters);

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
 ) AS v (service_name, service_type, endpoint_url, model_name, timeout_ms, max_retries, config);

INSERT INTO agent_definitions (name, description, agent_type, model, tools, config)
VALUES
    ('query_router', 'Decides whether a question needs documents, memories or both.',
     'router', 'llama-3.1-8b-instruct', '[]', '{"temperature": 0}'),
    ('hybrid_retriever', 'Runs vector and keyword search with the default RAG configuration.',
     'retriever', NULL, '["vector_search", "keyword_search", "memory_search"]', '{"configuration": "hybrid_default"}'),
    ('reranker', 'Reorders retrieved chunks with the cross-encoder.',
     'reranker', 'cross-encoder/ms-marco-MiniLM-L-6-v2', '[]', '{"top_n": 5}'),
    ('answer_generator', 'Writes the answer from the reranked context.',
     'generator', 'llama-3.1-8b-instruct', '[]', '{"temperature": 0.2, "max_tokens": 1024}');

INSERT INTO agent_workflows (name, description, version, entry_agent_id, definition)
SELECT 'hybrid_rag_answer',
       'Route, retrieve, rerank, answer.',
       1,
       a.id,
       '{"steps": ["query_router", "hybrid_retriever", "reranker", "answer_generator"]}'::jsonb
  FROM agent_definitions a
 WHERE a.name = 'query_router';


-- Statistics for the planner, before the checks below and the first
-- queries of the new release: the new columns of ai_memories and the key
-- columns of the new tables. The large text and embedding columns are left
-- to autovacuum.
ANALYZE ai_memories (cluster_id, content_hash, importance_score, enhanced_at);
ANALYZE ingestion_logs;
ANALYZE enhanced_chunks (id, chunk_id, document_id, chunk_index, content_hash, token_count, created_at);


-- Own row-count checks: any mismatch aborts and rolls back the whole file.
DO $check$
DECLARE
    v_chunks    bigint;
    v_enhanced  bigint;
    v_documents bigint;
    v_logs      bigint;
    v_memories  bigint;
    v_defaults  bigint;
BEGIN
    SELECT count(*) INTO v_chunks FROM chunks;
    SELECT count(*) INTO v_enhanced FROM enhanced_chunks;
    IF v_chunks <> v_enhanced THEN
        RAISE EXCEPTION '005_data_migration: % chunks but % enhanced_chunks', v_chunks, v_enhanced;
    END IF;

    SELECT count(*) INTO v_documents FROM documents;
    SELECT count(DISTINCT document_id) INTO v_logs
      FROM ingestion_logs WHERE source = 'migration_005';
    IF v_documents <> v_logs THEN
        RAISE EXCEPTION '005_data_migration: % documents but % have an ingestion log', v_documents, v_logs;
    END IF;

    SELECT count(*) INTO v_memories
      FROM ai_memories
     WHERE cluster_id IS NULL OR content_hash IS NULL
        OR importance_score IS NULL OR enhanced_at IS NULL;
    IF v_memories <> 0 THEN
        RAISE EXCEPTION '005_data_migration: % memories were not enhanced', v_memories;
    END IF;

    SELECT count(*) INTO v_defaults FROM rag_configurations WHERE is_default;
    IF v_defaults <> 1 THEN
        RAISE EXCEPTION '005_data_migration: % default rag_configurations instead of 1', v_defaults;
    END IF;
END
$check$;
