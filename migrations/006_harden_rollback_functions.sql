-- 006_harden_rollback_functions.sql
--
-- Replaces the two selective-rollback functions of 004_hybrid_rag_schema.sql
-- (safe_rollback_table, safe_remove_column) with versions that are safe on
-- edge input. 004 is left as it was applied (its checksum is in every ledger
-- that ran it); this file corrects the functions in place.
--
-- What changes:
--   * NULL is refused for every argument (004's safe_rollback_table read a
--     NULL p_backup as "no backup" and dropped the table without one).
--   * search_path is pinned to pg_catalog, pg_temp for the call, and every
--     object is named with its schema: the schema the functions live in,
--     fixed when this file runs. A caller whose search_path puts another
--     schema first (holding a table of the same name) can no longer make the
--     function back up, log or drop that other table.
--   * Identifiers are always quoted with %I (format) and the allow-lists are
--     matched exactly, so no input can reach SQL as text.
--
-- Their signatures and the rollback_backup_log rows are as before; the
-- messages they return name views, foreign keys and missing tables with
-- their schema. rollback_004_005.sql removes them as it did. Runs in one transaction; it
-- takes no lock on an application table (CREATE OR REPLACE FUNCTION only).

DO $harden$
DECLARE
    v_schema CONSTANT text := current_schema();
BEGIN
    IF v_schema IS NULL THEN
        RAISE EXCEPTION '006: no current schema (search_path is empty); run it with the search_path 004 ran with';
    END IF;
    IF to_regclass(format('%I.rollback_backup_log', v_schema)) IS NULL THEN
        RAISE EXCEPTION '006: %.rollback_backup_log does not exist: 006 needs 004 applied in schema %',
            v_schema, v_schema;
    END IF;

    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.safe_rollback_table(p_table text, p_backup boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c_schema    CONSTANT text := %2$L;
    c_allowed   CONSTANT text[] := ARRAY[
        'rag_configurations', 'rag_query_logs', 'retrieval_results', 'ingestion_logs',
        'enhanced_chunks', 'kg_entities', 'kg_relations', 'chunk_entities',
        'memory_clusters', 'memory_relationships', 'agent_definitions', 'agent_workflows',
        'workflow_executions', 'agent_tasks', 'service_configurations',
        'service_health_checks', 'query_cache', 'user_feedback'];
    v_oid       oid;
    v_backup    text;
    v_rows      bigint;
    v_views     text;
    v_fkeys     text;
    v_message   text;
BEGIN
    IF p_table IS NULL OR p_backup IS NULL THEN
        RAISE EXCEPTION 'safe_rollback_table: table name and backup flag must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Call safe_rollback_table(''<table>'', true) to keep a copy, or false to drop without one.';
    END IF;

    IF p_table = 'rollback_backup_log' THEN
        RAISE EXCEPTION 'safe_rollback_table: refusing to drop rollback_backup_log'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'rollback_backup_log records every backup made by the rollback functions.',
                  HINT = 'Use migrations/rollback_004_005.sql to remove the whole 004 schema.';
    END IF;

    IF NOT (p_table = ANY (c_allowed)) THEN
        RAISE EXCEPTION 'safe_rollback_table: "%%" is not a table created by migration 004', p_table
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Allowed tables: ' || array_to_string(c_allowed, ', ');
    END IF;

    v_oid := to_regclass(format('%%I.%%I', c_schema, p_table));
    IF v_oid IS NULL THEN
        RAISE NOTICE 'safe_rollback_table: table %%.%% does not exist, nothing to do', c_schema, p_table;
        RETURN format('table %%s.%%s does not exist, nothing done', c_schema, p_table);
    END IF;

    -- Keep writers out so that the backup and the drop see the same rows.
    EXECUTE format('LOCK TABLE %%I.%%I IN ACCESS EXCLUSIVE MODE', c_schema, p_table);

    -- Objects the CASCADE below will remove, reported to the caller.
    SELECT string_agg(DISTINCT v.oid::regclass::text, ', ')
      INTO v_views
      FROM pg_catalog.pg_depend dep
      JOIN pg_catalog.pg_rewrite r ON r.oid = dep.objid
      JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
     WHERE dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND dep.refobjid = v_oid
       AND v.oid <> v_oid;

    SELECT string_agg(format('%%s.%%s', con.conrelid::regclass, con.conname), ', ' ORDER BY con.conname)
      INTO v_fkeys
      FROM pg_catalog.pg_constraint con
     WHERE con.contype = 'f'
       AND con.confrelid = v_oid
       AND con.conrelid <> v_oid;

    IF p_backup THEN
        v_backup := 'rollback_backup_' || p_table || '_'
                    || to_char(clock_timestamp(), 'YYYYMMDDHH24MISS');
        EXECUTE format('CREATE TABLE %%I.%%I AS TABLE %%I.%%I', c_schema, v_backup, c_schema, p_table);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
    ELSE
        EXECUTE format('SELECT count(*) FROM %%I.%%I', c_schema, p_table) INTO v_rows;
    END IF;

    EXECUTE format('INSERT INTO %%I.rollback_backup_log (table_name, column_name, backup_table, row_count, action, '
                   'performed_by, performed_at) VALUES ($1, NULL, $2, $3, ''drop_table'', current_user, now())',
                   c_schema)
      USING p_table, v_backup, v_rows;

    EXECUTE format('DROP TABLE %%I.%%I CASCADE', c_schema, p_table);

    v_message := format('dropped table %%s (%%s rows)', p_table, v_rows)
        || CASE WHEN v_backup IS NOT NULL
                THEN format(', backup in %%s', v_backup)
                ELSE ', no backup taken' END
        || CASE WHEN v_views IS NOT NULL
                THEN format(', also dropped views: %%s', v_views) ELSE '' END
        || CASE WHEN v_fkeys IS NOT NULL
                THEN format(', also dropped foreign keys: %%s', v_fkeys) ELSE '' END;
    RAISE NOTICE 'safe_rollback_table: %%', v_message;
    RETURN v_message;
END
$fn$
$create$, v_schema, v_schema);

    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.safe_remove_column(p_table text, p_column text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c_schema  CONSTANT text := %2$L;
    c_allowed CONSTANT text[] := ARRAY[
        'ai_memories.cluster_id', 'ai_memories.content_hash',
        'ai_memories.importance_score', 'ai_memories.enhanced_at'];
    v_oid     oid;
    v_attnum  smallint;
    v_backup  text;
    v_rows    bigint;
    v_views   text;
    v_message text;
BEGIN
    IF p_table IS NULL OR p_column IS NULL THEN
        RAISE EXCEPTION 'safe_remove_column: table and column names must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    IF NOT ((p_table || '.' || p_column) = ANY (c_allowed)) THEN
        RAISE EXCEPTION 'safe_remove_column: "%%.%%" is not a column added by migration 004', p_table, p_column
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Allowed columns: ' || array_to_string(c_allowed, ', ');
    END IF;

    v_oid := to_regclass(format('%%I.%%I', c_schema, p_table));
    IF v_oid IS NOT NULL THEN
        SELECT a.attnum INTO v_attnum
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_oid AND a.attname = p_column AND NOT a.attisdropped;
    END IF;
    IF v_attnum IS NULL THEN
        RAISE NOTICE 'safe_remove_column: column %%.%%.%% does not exist, nothing to do', c_schema, p_table, p_column;
        RETURN format('column %%s.%%s.%%s does not exist, nothing done', c_schema, p_table, p_column);
    END IF;

    EXECUTE format('LOCK TABLE %%I.%%I IN ACCESS EXCLUSIVE MODE', c_schema, p_table);

    SELECT string_agg(DISTINCT v.oid::regclass::text, ', ')
      INTO v_views
      FROM pg_catalog.pg_depend dep
      JOIN pg_catalog.pg_rewrite r ON r.oid = dep.objid
      JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
     WHERE dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND dep.refobjid = v_oid
       AND dep.refobjsubid = v_attnum
       AND v.oid <> v_oid;

    v_backup := 'rollback_backup_' || p_table || '_' || p_column || '_'
                || to_char(clock_timestamp(), 'YYYYMMDDHH24MISS');
    EXECUTE format('CREATE TABLE %%I.%%I AS SELECT id, %%I FROM %%I.%%I',
                   c_schema, v_backup, p_column, c_schema, p_table);
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    EXECUTE format('INSERT INTO %%I.rollback_backup_log (table_name, column_name, backup_table, row_count, action, '
                   'performed_by, performed_at) VALUES ($1, $2, $3, $4, ''drop_column'', current_user, now())',
                   c_schema)
      USING p_table, p_column, v_backup, v_rows;

    EXECUTE format('ALTER TABLE %%I.%%I DROP COLUMN %%I CASCADE', c_schema, p_table, p_column);

    v_message := format('dropped column %%s.%%s (%%s rows), backup in %%s', p_table, p_column, v_rows, v_backup)
        || CASE WHEN v_views IS NOT NULL
                THEN format(', also dropped views: %%s', v_views) ELSE '' END;
    RAISE NOTICE 'safe_remove_column: %%', v_message;
    RETURN v_message;
END
$fn$
$create$, v_schema, v_schema);
END
$harden$;

COMMENT ON FUNCTION safe_rollback_table(text, boolean) IS
    'Back up (optional, never NULL) and drop one table created by migration 004, logged in rollback_backup_log. '
    'Pinned search_path; schema-qualified objects only (006).';
COMMENT ON FUNCTION safe_remove_column(text, text) IS
    'Back up (id, column) and drop one column migration 004 added to ai_memories, logged in rollback_backup_log. '
    'Pinned search_path; schema-qualified objects only (006).';
