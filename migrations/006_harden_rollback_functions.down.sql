-- 006_harden_rollback_functions.down.sql
--
-- Reverts 006_harden_rollback_functions.sql: the two selective-rollback
-- functions, safe_rollback_table() and safe_remove_column(), get back the
-- bodies, settings and comments 004_hybrid_rag_schema.sql gave them, byte
-- for byte (the text below is 004's, with CREATE OR REPLACE). Nothing else
-- changes: 006 created no other object and wrote no row.
--
-- Why 004's bodies and not the hardened ones: a revert must leave the
-- database exactly as it was before the version it reverts, or the ledger
-- lies. Once 006 is rolled back the ledger says 006 is pending; with the
-- hardened functions still in place the schema would say the opposite, a
-- pg_dump would not match the database 005 left, and pg_migrate would run
-- 006 again over a schema that already holds it. So the functions are again
-- the ones 004 wrote, with their known weaknesses: a NULL backup flag drops
-- a table without a backup, and they follow the caller's search_path. Do
-- not call them with such input while 006 is reverted. Applying 006 again
-- (pg_migrate) hardens them again; reverting 004 as well removes them.
--
-- CREATE OR REPLACE keeps the functions' owner and privileges. Runs in one
-- transaction (pg_rollback, or psql -1); takes no lock on an application
-- table.

-- 004's safe_rollback_table(table, backup): drop one table created by
-- 004, after copying it to rollback_backup_<table>_<yyyymmddhh24miss>
-- when backup is true. Logs the action in rollback_backup_log and returns a
-- message that also names the views and foreign keys the CASCADE removed.
CREATE OR REPLACE FUNCTION safe_rollback_table(p_table text, p_backup boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    c_allowed CONSTANT text[] := ARRAY[
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
    IF p_table IS NULL THEN
        RAISE EXCEPTION 'safe_rollback_table: table name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    IF p_table = 'rollback_backup_log' THEN
        RAISE EXCEPTION 'safe_rollback_table: refusing to drop rollback_backup_log'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'rollback_backup_log records every backup made by the rollback functions.',
                  HINT = 'Use migrations/rollback_004_005.sql to remove the whole 004 schema.';
    END IF;

    IF NOT (p_table = ANY (c_allowed)) THEN
        RAISE EXCEPTION 'safe_rollback_table: "%" is not a table created by migration 004', p_table
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Allowed tables: ' || array_to_string(c_allowed, ', ');
    END IF;

    v_oid := to_regclass(quote_ident(p_table));
    IF v_oid IS NULL THEN
        RAISE NOTICE 'safe_rollback_table: table % does not exist, nothing to do', p_table;
        RETURN format('table %s does not exist, nothing done', p_table);
    END IF;

    -- Keep writers out so that the backup and the drop see the same rows.
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', p_table);

    -- Objects the CASCADE below will remove, reported to the caller.
    SELECT string_agg(DISTINCT v.relname, ', ')
      INTO v_views
      FROM pg_depend dep
      JOIN pg_rewrite r ON r.oid = dep.objid
      JOIN pg_class v ON v.oid = r.ev_class
     WHERE dep.classid = 'pg_rewrite'::regclass
       AND dep.refclassid = 'pg_class'::regclass
       AND dep.refobjid = v_oid
       AND v.oid <> v_oid;

    SELECT string_agg(format('%s.%s', con.conrelid::regclass, con.conname), ', ' ORDER BY con.conname)
      INTO v_fkeys
      FROM pg_constraint con
     WHERE con.contype = 'f'
       AND con.confrelid = v_oid
       AND con.conrelid <> v_oid;

    IF p_backup THEN
        v_backup := 'rollback_backup_' || p_table || '_'
                    || to_char(clock_timestamp(), 'YYYYMMDDHH24MISS');
        EXECUTE format('CREATE TABLE %I AS TABLE %I', v_backup, p_table);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
    ELSE
        EXECUTE format('SELECT count(*) FROM %I', p_table) INTO v_rows;
    END IF;

    INSERT INTO rollback_backup_log
           (table_name, column_name, backup_table, row_count, action, performed_by, performed_at)
    VALUES (p_table, NULL, v_backup, v_rows, 'drop_table', current_user, now());

    EXECUTE format('DROP TABLE %I CASCADE', p_table);

    v_message := format('dropped table %s (%s rows)', p_table, v_rows)
        || CASE WHEN v_backup IS NOT NULL
                THEN format(', backup in %s', v_backup)
                ELSE ', no backup taken' END
        || CASE WHEN v_views IS NOT NULL
                THEN format(', also dropped views: %s', v_views) ELSE '' END
        || CASE WHEN v_fkeys IS NOT NULL
                THEN format(', also dropped foreign keys: %s', v_fkeys) ELSE '' END;
    RAISE NOTICE 'safe_rollback_table: %', v_message;
    RETURN v_message;
END
$fn$;

-- 004's safe_remove_column(table, column): drop one of the columns 004
-- added to ai_memories, after copying (id, column) to
-- rollback_backup_<table>_<column>_<yyyymmddhh24miss>. Logs the action in
-- rollback_backup_log. Indexes, constraints and views that use the column
-- are dropped with it and named in the returned message.
CREATE OR REPLACE FUNCTION safe_remove_column(p_table text, p_column text)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
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
        RAISE EXCEPTION 'safe_remove_column: "%.%" is not a column added by migration 004', p_table, p_column
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Allowed columns: ' || array_to_string(c_allowed, ', ');
    END IF;

    v_oid := to_regclass(quote_ident(p_table));
    IF v_oid IS NOT NULL THEN
        SELECT a.attnum INTO v_attnum
          FROM pg_attribute a
         WHERE a.attrelid = v_oid AND a.attname = p_column AND NOT a.attisdropped;
    END IF;
    IF v_attnum IS NULL THEN
        RAISE NOTICE 'safe_remove_column: column %.% does not exist, nothing to do', p_table, p_column;
        RETURN format('column %s.%s does not exist, nothing done', p_table, p_column);
    END IF;

    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', p_table);

    SELECT string_agg(DISTINCT v.relname, ', ')
      INTO v_views
      FROM pg_depend dep
      JOIN pg_rewrite r ON r.oid = dep.objid
      JOIN pg_class v ON v.oid = r.ev_class
     WHERE dep.classid = 'pg_rewrite'::regclass
       AND dep.refclassid = 'pg_class'::regclass
       AND dep.refobjid = v_oid
       AND dep.refobjsubid = v_attnum
       AND v.oid <> v_oid;

    v_backup := 'rollback_backup_' || p_table || '_' || p_column || '_'
                || to_char(clock_timestamp(), 'YYYYMMDDHH24MISS');
    EXECUTE format('CREATE TABLE %I AS SELECT id, %I FROM %I', v_backup, p_column, p_table);
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    INSERT INTO rollback_backup_log
           (table_name, column_name, backup_table, row_count, action, performed_by, performed_at)
    VALUES (p_table, p_column, v_backup, v_rows, 'drop_column', current_user, now());

    EXECUTE format('ALTER TABLE %I DROP COLUMN %I CASCADE', p_table, p_column);

    v_message := format('dropped column %s.%s (%s rows), backup in %s', p_table, p_column, v_rows, v_backup)
        || CASE WHEN v_views IS NOT NULL
                THEN format(', also dropped views: %s', v_views) ELSE '' END;
    RAISE NOTICE 'safe_remove_column: %', v_message;
    RETURN v_message;
END
$fn$;

COMMENT ON FUNCTION safe_rollback_table(text, boolean) IS
    'Back up (optional) and drop one table created by migration 004, logged in rollback_backup_log.';
COMMENT ON FUNCTION safe_remove_column(text, text) IS
    'Back up (id, column) and drop one column migration 004 added to ai_memories, logged in rollback_backup_log.';
