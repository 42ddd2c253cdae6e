-- 005_data_migration.down.sql
--
-- Reverts 005_data_migration.sql: the database returns to what 004 left.
-- Everything 005 wrote is derived from documents, chunks and ai_memories or
-- is a default configuration, so applying 005 again writes it all again.
-- What it undoes:
--
--   * the change capture (triggers, helper functions, queue) an interrupted
--     005 may have left; 005 drops it itself when it completes
--   * the 3 indexes 005 built on the new ai_memories columns
--   * ai_memories: cluster_id, content_hash, importance_score and enhanced_at
--     are NULL again, as 004 adds them, and their foreign key and checks are
--     NOT VALID again, as 004 adds them (005 validated them). No column that
--     existed before 004 is written.
--   * the rows 005 wrote, found by what marks them as 005's:
--       ingestion_logs          source 'migration_005'
--       enhanced_chunks         metadata {"migrated_by": "005_data_migration"}
--       memory_clusters         the '<type> memories' clusters described as
--                               the initial clustering by migration 005
--       rag_configurations      hybrid_default, hybrid_rrf, vector_only,
--                               keyword_only
--       service_configurations  embedding, reranker, vector_store, llm,
--                               keyword_search, query_cache
--       agent_workflows         hybrid_rag_answer, version 1
--       agent_definitions       query_router, hybrid_retriever, reranker,
--                               answer_generator
--
-- Rows the new release wrote since are never deleted or changed: a row of
-- 005 that one of them refers to (a query log naming a configuration, a
-- task run by an agent, an entity found in an enhanced chunk ...) is kept,
-- and a NOTICE counts what was kept. Without such rows, the database is
-- exactly what 004 left. Kept rows do not stop 005 from being applied again
-- (it skips rows that exist), and 004_hybrid_rag_schema.down.sql removes
-- them with their tables.
--
-- Guarded: a table or column that safe_rollback_table() or
-- safe_remove_column() already removed is passed over, and the file can run
-- after a 005 that was interrupted part-way. No transaction control:
-- pg_rollback runs it in one transaction together with the ledger's update.

-- 1. The change capture of an interrupted 005. Each DROP TRIGGER locks its
--    table for an instant; documents before chunks, as the application.
DROP TRIGGER IF EXISTS migration_005_ai_memories_update ON ai_memories;
DROP TRIGGER IF EXISTS migration_005_ai_memories_insert ON ai_memories;
DROP TRIGGER IF EXISTS migration_005_documents_update ON documents;
DROP TRIGGER IF EXISTS migration_005_documents_insert ON documents;
DROP TRIGGER IF EXISTS migration_005_chunks_update ON chunks;
DROP TRIGGER IF EXISTS migration_005_chunks_insert_delete ON chunks;
DROP FUNCTION IF EXISTS
    migration_005_apply_changes(integer),
    migration_005_sync_chunks(bigint[]),
    migration_005_sync_documents(uuid[]),
    migration_005_sync_memories(uuid[]),
    migration_005_capture();
DROP TABLE IF EXISTS migration_005_changes;

-- 2. The indexes 005 built after its backfill.
DROP INDEX IF EXISTS idx_ai_memories_content_hash;
DROP INDEX IF EXISTS idx_ai_memories_cluster_id;
DROP INDEX IF EXISTS idx_ai_memories_user_id_importance_score;

-- 3. ai_memories: the four columns empty again, their constraints NOT VALID
--    again (dropped and added back exactly as 004 adds them).
DO $memories$
DECLARE
    c_columns CONSTANT text[] := ARRAY['cluster_id', 'content_hash', 'importance_score', 'enhanced_at'];
    v_table   oid := to_regclass('ai_memories');
    v_present text[];
    v_rows    bigint;
BEGIN
    IF v_table IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum)
      INTO v_present
      FROM pg_attribute a
     WHERE a.attrelid = v_table AND a.attname = ANY (c_columns) AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_present IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('UPDATE ai_memories SET %s WHERE %s',
                   (SELECT string_agg(format('%I = NULL', c), ', ') FROM unnest(v_present) c),
                   (SELECT string_agg(format('%I IS NOT NULL', c), ' OR ') FROM unnest(v_present) c));
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RAISE NOTICE '005 revert: % memories emptied of %', v_rows, array_to_string(v_present, ', ');

    IF EXISTS (SELECT 1 FROM pg_constraint
                WHERE conrelid = v_table AND conname = 'fk_ai_memories_cluster_id' AND convalidated) THEN
        ALTER TABLE ai_memories
            DROP CONSTRAINT fk_ai_memories_cluster_id,
            ADD CONSTRAINT fk_ai_memories_cluster_id FOREIGN KEY (cluster_id)
                REFERENCES memory_clusters (id) ON DELETE SET NULL NOT VALID;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint
                WHERE conrelid = v_table AND conname = 'ck_ai_memories_content_hash_format' AND convalidated) THEN
        ALTER TABLE ai_memories
            DROP CONSTRAINT ck_ai_memories_content_hash_format,
            ADD CONSTRAINT ck_ai_memories_content_hash_format CHECK (content_hash ~ '^[0-9a-f]{64}$') NOT VALID;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint
                WHERE conrelid = v_table AND conname = 'ck_ai_memories_importance_score_range' AND convalidated) THEN
        ALTER TABLE ai_memories
            DROP CONSTRAINT ck_ai_memories_importance_score_range,
            ADD CONSTRAINT ck_ai_memories_importance_score_range CHECK (
                importance_score >= 0 AND importance_score <= 1) NOT VALID;
    END IF;
END
$memories$;

-- 4. The rows 005 wrote, dependants first. A row is kept when a row in one
--    of the tables named beside it refers to it (by <table>.<column> = id).
DO $rows$
DECLARE
    r        record;
    v_ref    text;
    v_used   text;
    v_gone   bigint;
    v_kept   bigint;
BEGIN
    FOR r IN
        SELECT *
          FROM (VALUES
            (1, 'ingestion_logs', $c$t.source = 'migration_005'$c$, ARRAY[]::text[]),
            (2, 'enhanced_chunks', $c$t.metadata @> '{"migrated_by": "005_data_migration"}'$c$,
             ARRAY['chunk_entities.enhanced_chunk_id', 'kg_relations.evidence_chunk_id',
                   'enhanced_chunks.parent_chunk_id']),
            (3, 'memory_clusters',
             $c$t.label = t.memory_type || ' memories'
                AND t.description = 'All ' || t.memory_type || ' memories of the user (initial clustering by migration 005)'$c$,
             ARRAY['ai_memories.cluster_id']),
            (4, 'agent_workflows', $c$t.name = 'hybrid_rag_answer' AND t.version = 1$c$,
             ARRAY['workflow_executions.workflow_id']),
            (5, 'agent_definitions',
             $c$t.name IN ('query_router', 'hybrid_retriever', 'reranker', 'answer_generator')$c$,
             ARRAY['agent_workflows.entry_agent_id', 'agent_tasks.agent_id']),
            (6, 'rag_configurations',
             $c$t.name IN ('hybrid_default', 'hybrid_rrf', 'vector_only', 'keyword_only')$c$,
             ARRAY['rag_query_logs.configuration_id', 'query_cache.configuration_id']),
            (7, 'service_configurations',
             $c$t.service_name IN ('embedding', 'reranker', 'vector_store', 'llm', 'keyword_search', 'query_cache')$c$,
             ARRAY['service_health_checks.service_id'])
          ) AS s (n, tbl, cond, refs)
         ORDER BY n
    LOOP
        CONTINUE WHEN to_regclass(quote_ident(r.tbl)) IS NULL;
        v_used := 'false';
        FOREACH v_ref IN ARRAY r.refs LOOP
            IF to_regclass(quote_ident(split_part(v_ref, '.', 1))) IS NOT NULL THEN
                v_used := v_used || format(' OR EXISTS (SELECT 1 FROM %I x WHERE x.%I = t.id)',
                                           split_part(v_ref, '.', 1), split_part(v_ref, '.', 2));
            END IF;
        END LOOP;
        EXECUTE format('SELECT count(*) FROM %I t WHERE (%s) AND (%s)', r.tbl, r.cond, v_used) INTO v_kept;
        EXECUTE format('DELETE FROM %I t WHERE (%s) AND NOT (%s)', r.tbl, r.cond, v_used);
        GET DIAGNOSTICS v_gone = ROW_COUNT;
        RAISE NOTICE '005 revert: % rows of % deleted%', v_gone, r.tbl,
            CASE WHEN v_kept > 0 THEN format(', %s kept (rows written since refer to them)', v_kept) ELSE '' END;
    END LOOP;
END
$rows$;
