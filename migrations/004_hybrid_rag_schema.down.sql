-- 004_hybrid_rag_schema.down.sql
--
-- Reverts 004_hybrid_rag_schema.sql: the database returns to exactly the
-- schema it had before 004, and every row that existed before 004 is still
-- there, unchanged. Run it after 006 and 005 are reverted (pg_rollback does:
-- highest version first). What it removes:
--
--   * the 4 views and the 2 functions of 004
--   * the 4 columns 004 added to ai_memories (cluster_id, content_hash,
--     importance_score, enhanced_at) with their foreign key, checks and
--     indexes
--   * the 19 tables of 004, with everything in them (also rows the new
--     release wrote after the migration)
--
-- It does NOT remove the backup tables rollback_backup_<table>_<timestamp>
-- that safe_rollback_table() or safe_remove_column() may have created.
-- They hold data someone chose to keep. They are listed in a NOTICE before
-- rollback_backup_log is dropped. Drop them by hand once they are no longer
-- needed.
--
-- Every statement is guarded (IF EXISTS, to_regclass), so the file works
-- after a partial removal (tables already dropped with safe_rollback_table,
-- columns with safe_remove_column). Tables are dropped children first and
-- without CASCADE: if an object outside 004 was built on top of them the
-- file stops with an error naming it, instead of dropping it. It also
-- removes the change capture an interrupted 005 may have left (its
-- triggers read enhanced_at, a column dropped here).
--
-- No transaction control: pg_rollback runs it in one transaction together
-- with the ledger's update (by hand: psql -1 -v ON_ERROR_STOP=1 -f).
-- migrations/rollback_004_005.sql does the same for 004, 005 and 006 at once.

-- Dropping a table that references documents or chunks takes an ACCESS
-- EXCLUSIVE lock on them. Take both first, in the order the application
-- writes them (a document, then its chunks), as 004 did: the drops below
-- cannot deadlock with the application. This waits for open transactions on
-- them (lock_timeout, then the runner retries) and holds readers off until
-- the commit, a fraction of a second.
LOCK TABLE documents, chunks IN ACCESS EXCLUSIVE MODE;

-- Say which backup tables are kept, while their log still exists.
DO $notice$
DECLARE
    r record;
BEGIN
    IF to_regclass('rollback_backup_log') IS NOT NULL THEN
        FOR r IN
            SELECT l.backup_table, l.table_name, l.column_name, l.row_count, l.performed_at
              FROM rollback_backup_log l
             WHERE l.backup_table IS NOT NULL
               AND to_regclass(quote_ident(l.backup_table)) IS NOT NULL
             ORDER BY l.performed_at, l.id
        LOOP
            RAISE NOTICE 'keeping backup table % (% rows of %, taken %)',
                r.backup_table, r.row_count,
                r.table_name || coalesce('.' || r.column_name, ''), r.performed_at;
        END LOOP;
    END IF;
END
$notice$;

-- Views first: they depend on the tables and on the new ai_memories columns.
DROP VIEW IF EXISTS v_agent_workflow_status;
DROP VIEW IF EXISTS v_rag_query_performance;
DROP VIEW IF EXISTS v_ingestion_status;
DROP VIEW IF EXISTS v_memory_overview;

DROP FUNCTION IF EXISTS safe_rollback_table(text, boolean);
DROP FUNCTION IF EXISTS safe_remove_column(text, text);

-- The change capture of an interrupted 005 (005 drops it itself when it
-- completes, and 005_data_migration.down.sql drops it too).
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

-- The columns 004 added to ai_memories. Dropping a column also drops its
-- indexes and constraints, the explicit drops only make that visible.
ALTER TABLE IF EXISTS ai_memories DROP CONSTRAINT IF EXISTS fk_ai_memories_cluster_id;
ALTER TABLE IF EXISTS ai_memories DROP CONSTRAINT IF EXISTS ck_ai_memories_content_hash_format;
ALTER TABLE IF EXISTS ai_memories DROP CONSTRAINT IF EXISTS ck_ai_memories_importance_score_range;
DROP INDEX IF EXISTS idx_ai_memories_content_hash;
DROP INDEX IF EXISTS idx_ai_memories_cluster_id;
DROP INDEX IF EXISTS idx_ai_memories_user_id_importance_score;
ALTER TABLE IF EXISTS ai_memories
    DROP COLUMN IF EXISTS cluster_id,
    DROP COLUMN IF EXISTS content_hash,
    DROP COLUMN IF EXISTS importance_score,
    DROP COLUMN IF EXISTS enhanced_at;

-- The 19 tables, each one after every table that references it.
DROP TABLE IF EXISTS agent_tasks;
DROP TABLE IF EXISTS workflow_executions;
DROP TABLE IF EXISTS agent_workflows;
DROP TABLE IF EXISTS agent_definitions;
DROP TABLE IF EXISTS user_feedback;
DROP TABLE IF EXISTS retrieval_results;
DROP TABLE IF EXISTS query_cache;
DROP TABLE IF EXISTS rag_query_logs;
DROP TABLE IF EXISTS rag_configurations;
DROP TABLE IF EXISTS chunk_entities;
DROP TABLE IF EXISTS kg_relations;
DROP TABLE IF EXISTS kg_entities;
DROP TABLE IF EXISTS enhanced_chunks;
DROP TABLE IF EXISTS ingestion_logs;
DROP TABLE IF EXISTS memory_relationships;
DROP TABLE IF EXISTS memory_clusters;
DROP TABLE IF EXISTS service_health_checks;
DROP TABLE IF EXISTS service_configurations;
DROP TABLE IF EXISTS rollback_backup_log;
