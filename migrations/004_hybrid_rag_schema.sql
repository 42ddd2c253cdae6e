-- 004_hybrid_rag_schema.sql
--
-- Schema of the Hybrid RAG release. Adds, without touching any existing row:
--
--   * 19 new tables
--       retrieval     rag_configurations, rag_query_logs, retrieval_results,
--                     query_cache, user_feedback
--       ingestion     ingestion_logs, enhanced_chunks
--       knowledge     kg_entities, kg_relations, chunk_entities
--       memory        memory_clusters, memory_relationships
--       agents        agent_definitions, agent_workflows, workflow_executions,
--                     agent_tasks
--       services      service_configurations, service_health_checks
--       rollback      rollback_backup_log (audit of the two functions below)
--   * 4 new nullable columns on ai_memories: cluster_id (foreign key to
--     memory_clusters, ON DELETE SET NULL), content_hash, importance_score,
--     enhanced_at. They have no default, so adding them does not rewrite
--     the table. 005_data_migration.sql fills them.
--   * 4 reporting views: v_memory_overview, v_ingestion_status,
--     v_rag_query_performance, v_agent_workflow_status
--   * 2 functions for a selective rollback: safe_rollback_table() backs up
--     and drops one of the tables above, safe_remove_column() backs up and
--     drops one of the columns added to ai_memories. Both log what they did
--     in rollback_backup_log.
--   * named indexes (idx_<table>_<columns>), named foreign keys
--     (fk_<table>_<column>), named checks (ck_...) and unique
--     constraints (uq_...).
--
-- Every statement can run inside a transaction (no CREATE INDEX
-- CONCURRENTLY). The migration runner executes this file statement by
-- statement inside one transaction, so there is no transaction control
-- here. Plain CREATE is used on purpose: if any of these objects already
-- exists the migration must fail instead of silently skipping it.
--
-- Locks: ALTER TABLE ai_memories holds an ACCESS EXCLUSIVE lock on
-- ai_memories until the transaction ends, and the new foreign keys hold
-- SHARE ROW EXCLUSIVE locks on chunks, documents, search_queries and
-- ai_memories (writers wait, readers do not). The file runs in well under a
-- second, but it waits behind any open transaction on those tables.
--
-- migrations/rollback_004_005.sql undoes this file and 005.
-- migrations/expectations/004_hybrid_rag_schema.yml lists every object
-- created here and must be kept in step with this file.


-- Lock order. The foreign keys below take SHARE ROW EXCLUSIVE on chunks and
-- documents. The application writes them in the order documents -> chunks (a
-- document, then its chunks), so taking them in the foreign keys' order could
-- deadlock with it. Taking both here, in the application's order, rules that
-- out: this waits for the application's open transactions (at most
-- lock_timeout, then the runner retries), and then holds writers of the two
-- tables off for the rest of this short transaction, as the first foreign key
-- would anyway. Readers are never blocked by this lock.
LOCK TABLE documents, chunks IN SHARE ROW EXCLUSIVE MODE;

-- ---------------------------------------------------------------------------
-- Retrieval configuration and query logging
-- ---------------------------------------------------------------------------

CREATE TABLE rag_configurations (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text        NOT NULL,
    description          text,
    is_default           boolean     NOT NULL DEFAULT false,
    retrieval_mode       text        NOT NULL DEFAULT 'hybrid',
    vector_weight        real        NOT NULL DEFAULT 0.7,
    keyword_weight       real        NOT NULL DEFAULT 0.3,
    top_k                integer     NOT NULL DEFAULT 20,
    rerank_top_n         integer,
    similarity_threshold real,
    chunk_size           integer     NOT NULL DEFAULT 512,
    chunk_overlap        integer     NOT NULL DEFAULT 64,
    embedding_model      text,
    embedding_dimension  integer,
    reranker_model       text,
    llm_model            text,
    parameters           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_rag_configurations_name UNIQUE (name),
    CONSTRAINT ck_rag_configurations_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT ck_rag_configurations_retrieval_mode CHECK (
        retrieval_mode IN ('vector', 'keyword', 'hybrid')),
    CONSTRAINT ck_rag_configurations_weights_range CHECK (
        vector_weight BETWEEN 0 AND 1 AND keyword_weight BETWEEN 0 AND 1),
    CONSTRAINT ck_rag_configurations_top_k_range CHECK (top_k BETWEEN 1 AND 1000),
    CONSTRAINT ck_rag_configurations_rerank_top_n_range CHECK (
        rerank_top_n BETWEEN 1 AND top_k),
    CONSTRAINT ck_rag_configurations_similarity_threshold_range CHECK (
        similarity_threshold BETWEEN -1 AND 1),
    CONSTRAINT ck_rag_configurations_chunking CHECK (
        chunk_size > 0 AND chunk_overlap >= 0 AND chunk_overlap < chunk_size),
    CONSTRAINT ck_rag_configurations_embedding_dimension_positive CHECK (embedding_dimension > 0),
    CONSTRAINT ck_rag_configurations_parameters_is_object CHECK (jsonb_typeof(parameters) = 'object'),
    CONSTRAINT ck_rag_configurations_updated_after_created CHECK (updated_at >= created_at)
);

-- At most one configuration can be the default one.
CREATE UNIQUE INDEX idx_rag_configurations_is_default
    ON rag_configurations (is_default) WHERE is_default;

CREATE TABLE rag_query_logs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    configuration_id bigint,
    search_query_id  bigint,
    user_id          text,
    session_id       text,
    query_text       text        NOT NULL,
    query_embedding  real[],
    retrieval_mode   text        NOT NULL,
    status           text        NOT NULL DEFAULT 'completed',
    result_count     integer     NOT NULL DEFAULT 0,
    cache_hit        boolean     NOT NULL DEFAULT false,
    vector_ms        integer,
    keyword_ms       integer,
    rerank_ms        integer,
    generation_ms    integer,
    total_ms         integer,
    prompt_tokens    integer,
    completion_tokens integer,
    error_message    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_rag_query_logs_configuration_id FOREIGN KEY (configuration_id)
        REFERENCES rag_configurations (id) ON DELETE SET NULL,
    CONSTRAINT fk_rag_query_logs_search_query_id FOREIGN KEY (search_query_id)
        REFERENCES search_queries (id) ON DELETE SET NULL,
    CONSTRAINT ck_rag_query_logs_query_text_not_empty CHECK (query_text <> ''),
    CONSTRAINT ck_rag_query_logs_retrieval_mode CHECK (
        retrieval_mode IN ('vector', 'keyword', 'hybrid')),
    CONSTRAINT ck_rag_query_logs_status CHECK (
        status IN ('running', 'completed', 'failed', 'timeout')),
    CONSTRAINT ck_rag_query_logs_result_count_non_negative CHECK (result_count >= 0),
    CONSTRAINT ck_rag_query_logs_timings_non_negative CHECK (
        vector_ms >= 0 AND keyword_ms >= 0 AND rerank_ms >= 0
        AND generation_ms >= 0 AND total_ms >= 0),
    CONSTRAINT ck_rag_query_logs_tokens_non_negative CHECK (
        prompt_tokens >= 0 AND completion_tokens >= 0)
);

CREATE INDEX idx_rag_query_logs_created_at ON rag_query_logs (created_at);
CREATE INDEX idx_rag_query_logs_configuration_id ON rag_query_logs (configuration_id);
CREATE INDEX idx_rag_query_logs_search_query_id ON rag_query_logs (search_query_id);
CREATE INDEX idx_rag_query_logs_user_id_created_at ON rag_query_logs (user_id, created_at);

CREATE TABLE retrieval_results (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query_log_id   bigint      NOT NULL,
    chunk_id       bigint      NOT NULL,
    rank           integer     NOT NULL,
    retriever      text        NOT NULL DEFAULT 'hybrid',
    vector_score   real,
    keyword_score  real,
    combined_score real,
    rerank_score   real,
    used_in_context boolean    NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_retrieval_results_query_log_id FOREIGN KEY (query_log_id)
        REFERENCES rag_query_logs (id) ON DELETE CASCADE,
    CONSTRAINT fk_retrieval_results_chunk_id FOREIGN KEY (chunk_id)
        REFERENCES chunks (id) ON DELETE CASCADE,
    CONSTRAINT uq_retrieval_results_query_log_id_rank UNIQUE (query_log_id, rank),
    CONSTRAINT ck_retrieval_results_rank_positive CHECK (rank >= 1),
    CONSTRAINT ck_retrieval_results_retriever CHECK (
        retriever IN ('vector', 'keyword', 'hybrid', 'graph', 'memory'))
);

CREATE INDEX idx_retrieval_results_chunk_id ON retrieval_results (chunk_id);

CREATE TABLE query_cache (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query_hash          text        NOT NULL,
    configuration_id    bigint,
    query_text          text        NOT NULL,
    query_embedding     real[],
    response            jsonb       NOT NULL,
    retrieved_chunk_ids bigint[]    NOT NULL DEFAULT '{}',
    hit_count           integer     NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_hit_at         timestamptz,
    expires_at          timestamptz NOT NULL,
    CONSTRAINT fk_query_cache_configuration_id FOREIGN KEY (configuration_id)
        REFERENCES rag_configurations (id) ON DELETE CASCADE,
    CONSTRAINT uq_query_cache_query_hash UNIQUE (query_hash),
    CONSTRAINT ck_query_cache_query_hash_format CHECK (query_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_query_cache_hit_count_non_negative CHECK (hit_count >= 0),
    CONSTRAINT ck_query_cache_expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX idx_query_cache_expires_at ON query_cache (expires_at);
CREATE INDEX idx_query_cache_configuration_id ON query_cache (configuration_id);


-- ---------------------------------------------------------------------------
-- Ingestion
-- ---------------------------------------------------------------------------

CREATE TABLE ingestion_logs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     uuid        NOT NULL,
    source          text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    chunk_count     integer     NOT NULL DEFAULT 0,
    total_tokens    bigint      NOT NULL DEFAULT 0,
    embedding_model text,
    error_message   text,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    started_at      timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_ingestion_logs_document_id FOREIGN KEY (document_id)
        REFERENCES documents (id) ON DELETE CASCADE,
    CONSTRAINT ck_ingestion_logs_source_not_blank CHECK (btrim(source) <> ''),
    CONSTRAINT ck_ingestion_logs_status CHECK (
        status IN ('pending', 'processing', 'completed', 'failed', 'skipped')),
    CONSTRAINT ck_ingestion_logs_counts_non_negative CHECK (chunk_count >= 0 AND total_tokens >= 0),
    CONSTRAINT ck_ingestion_logs_completed_after_started CHECK (completed_at >= started_at),
    CONSTRAINT ck_ingestion_logs_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE INDEX idx_ingestion_logs_document_id_created_at ON ingestion_logs (document_id, created_at);
CREATE INDEX idx_ingestion_logs_status_created_at ON ingestion_logs (status, created_at);

CREATE TABLE enhanced_chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk_id        bigint      NOT NULL,
    document_id     uuid        NOT NULL,
    chunk_index     integer     NOT NULL,
    content         text        NOT NULL,
    content_hash    text        NOT NULL,
    embedding       real[],
    embedding_model text,
    token_count     integer     NOT NULL,
    context_summary text,
    parent_chunk_id bigint,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_enhanced_chunks_chunk_id FOREIGN KEY (chunk_id)
        REFERENCES chunks (id) ON DELETE CASCADE,
    CONSTRAINT fk_enhanced_chunks_document_id FOREIGN KEY (document_id)
        REFERENCES documents (id) ON DELETE CASCADE,
    CONSTRAINT fk_enhanced_chunks_parent_chunk_id FOREIGN KEY (parent_chunk_id)
        REFERENCES enhanced_chunks (id) ON DELETE SET NULL,
    CONSTRAINT uq_enhanced_chunks_chunk_id UNIQUE (chunk_id),
    CONSTRAINT ck_enhanced_chunks_chunk_index_non_negative CHECK (chunk_index >= 0),
    CONSTRAINT ck_enhanced_chunks_content_not_empty CHECK (content <> ''),
    CONSTRAINT ck_enhanced_chunks_content_hash_format CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_enhanced_chunks_embedding_one_dimensional CHECK (
        embedding IS NULL OR array_ndims(embedding) = 1),
    CONSTRAINT ck_enhanced_chunks_token_count_non_negative CHECK (token_count >= 0),
    CONSTRAINT ck_enhanced_chunks_not_own_parent CHECK (parent_chunk_id <> id),
    CONSTRAINT ck_enhanced_chunks_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);

-- Embeddings are float noise to a compressor: store them out of line without
-- trying to compress them first (as pgvector does). Only large embeddings
-- are moved out of the row, small ones stay inline.
ALTER TABLE enhanced_chunks ALTER COLUMN embedding SET STORAGE EXTERNAL;

CREATE INDEX idx_enhanced_chunks_document_id_chunk_index ON enhanced_chunks (document_id, chunk_index);
CREATE INDEX idx_enhanced_chunks_content_hash ON enhanced_chunks (content_hash);
CREATE INDEX idx_enhanced_chunks_parent_chunk_id ON enhanced_chunks (parent_chunk_id);


-- ---------------------------------------------------------------------------
-- Knowledge graph
-- ---------------------------------------------------------------------------

CREATE TABLE kg_entities (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL,
    entity_type   text        NOT NULL,
    description   text,
    embedding     real[],
    mention_count integer     NOT NULL DEFAULT 0,
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_kg_entities_name_entity_type UNIQUE (name, entity_type),
    CONSTRAINT ck_kg_entities_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT ck_kg_entities_entity_type CHECK (
        entity_type IN ('person', 'organization', 'location', 'product', 'technology',
                        'concept', 'event', 'other')),
    CONSTRAINT ck_kg_entities_mention_count_non_negative CHECK (mention_count >= 0),
    CONSTRAINT ck_kg_entities_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE INDEX idx_kg_entities_lower_name ON kg_entities (lower(name));
CREATE INDEX idx_kg_entities_entity_type ON kg_entities (entity_type);

CREATE TABLE kg_relations (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_entity_id  bigint      NOT NULL,
    target_entity_id  bigint      NOT NULL,
    relation_type     text        NOT NULL,
    weight            real        NOT NULL DEFAULT 1.0,
    evidence_chunk_id bigint,
    metadata          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_kg_relations_source_entity_id FOREIGN KEY (source_entity_id)
        REFERENCES kg_entities (id) ON DELETE CASCADE,
    CONSTRAINT fk_kg_relations_target_entity_id FOREIGN KEY (target_entity_id)
        REFERENCES kg_entities (id) ON DELETE CASCADE,
    CONSTRAINT fk_kg_relations_evidence_chunk_id FOREIGN KEY (evidence_chunk_id)
        REFERENCES enhanced_chunks (id) ON DELETE SET NULL,
    CONSTRAINT uq_kg_relations_source_target_type UNIQUE (source_entity_id, target_entity_id, relation_type),
    CONSTRAINT ck_kg_relations_not_self CHECK (source_entity_id <> target_entity_id),
    CONSTRAINT ck_kg_relations_relation_type_not_blank CHECK (btrim(relation_type) <> ''),
    CONSTRAINT ck_kg_relations_weight_non_negative CHECK (weight >= 0),
    CONSTRAINT ck_kg_relations_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE INDEX idx_kg_relations_target_entity_id ON kg_relations (target_entity_id);
CREATE INDEX idx_kg_relations_evidence_chunk_id ON kg_relations (evidence_chunk_id);

CREATE TABLE chunk_entities (
    enhanced_chunk_id bigint      NOT NULL,
    entity_id         bigint      NOT NULL,
    mention_count     integer     NOT NULL DEFAULT 1,
    confidence        real,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chunk_entities_pkey PRIMARY KEY (enhanced_chunk_id, entity_id),
    CONSTRAINT fk_chunk_entities_enhanced_chunk_id FOREIGN KEY (enhanced_chunk_id)
        REFERENCES enhanced_chunks (id) ON DELETE CASCADE,
    CONSTRAINT fk_chunk_entities_entity_id FOREIGN KEY (entity_id)
        REFERENCES kg_entities (id) ON DELETE CASCADE,
    CONSTRAINT ck_chunk_entities_mention_count_positive CHECK (mention_count >= 1),
    CONSTRAINT ck_chunk_entities_confidence_range CHECK (confidence BETWEEN 0 AND 1)
);

CREATE INDEX idx_chunk_entities_entity_id ON chunk_entities (entity_id);


-- ---------------------------------------------------------------------------
-- Memory clustering and relationships
-- ---------------------------------------------------------------------------

CREATE TABLE memory_clusters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text        NOT NULL,
    memory_type  text,
    label        text        NOT NULL,
    description  text,
    centroid     real[],
    memory_count integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_memory_clusters_user_id_label UNIQUE (user_id, label),
    CONSTRAINT ck_memory_clusters_user_id_not_blank CHECK (btrim(user_id) <> ''),
    CONSTRAINT ck_memory_clusters_label_not_blank CHECK (btrim(label) <> ''),
    CONSTRAINT ck_memory_clusters_memory_type CHECK (
        memory_type IN ('fact', 'preference', 'conversation', 'task', 'insight')),
    CONSTRAINT ck_memory_clusters_memory_count_non_negative CHECK (memory_count >= 0),
    CONSTRAINT ck_memory_clusters_centroid_one_dimensional CHECK (
        centroid IS NULL OR array_ndims(centroid) = 1)
);

CREATE INDEX idx_memory_clusters_user_id_memory_type ON memory_clusters (user_id, memory_type);

CREATE TABLE memory_relationships (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_memory_id  uuid        NOT NULL,
    target_memory_id  uuid        NOT NULL,
    relationship_type text        NOT NULL,
    strength          real        NOT NULL DEFAULT 0.5,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_memory_relationships_source_memory_id FOREIGN KEY (source_memory_id)
        REFERENCES ai_memories (id) ON DELETE CASCADE,
    CONSTRAINT fk_memory_relationships_target_memory_id FOREIGN KEY (target_memory_id)
        REFERENCES ai_memories (id) ON DELETE CASCADE,
    CONSTRAINT uq_memory_relationships_source_target_type UNIQUE (
        source_memory_id, target_memory_id, relationship_type),
    CONSTRAINT ck_memory_relationships_not_self CHECK (source_memory_id <> target_memory_id),
    CONSTRAINT ck_memory_relationships_relationship_type CHECK (
        relationship_type IN ('related', 'supports', 'contradicts', 'supersedes',
                              'derived_from', 'follows')),
    CONSTRAINT ck_memory_relationships_strength_range CHECK (strength BETWEEN 0 AND 1)
);

CREATE INDEX idx_memory_relationships_target_memory_id ON memory_relationships (target_memory_id);

-- New columns on the existing ai_memories table. All nullable and without a
-- default: PostgreSQL only updates the catalog, the table is not rewritten.
-- The foreign key and the checks are added NOT VALID: they hold for every row
-- written from now on, without scanning the table while this transaction keeps
-- it ACCESS EXCLUSIVE (every existing value is NULL anyway). 005 validates them
-- once the data is in, under a lock that blocks neither reads nor writes, and
-- builds the indexes on these columns CONCURRENTLY after its backfill.
ALTER TABLE ai_memories
    ADD COLUMN cluster_id bigint,
    ADD COLUMN content_hash text,
    ADD COLUMN importance_score real,
    ADD COLUMN enhanced_at timestamptz,
    ADD CONSTRAINT fk_ai_memories_cluster_id FOREIGN KEY (cluster_id)
        REFERENCES memory_clusters (id) ON DELETE SET NULL NOT VALID,
    ADD CONSTRAINT ck_ai_memories_content_hash_format CHECK (content_hash ~ '^[0-9a-f]{64}$') NOT VALID,
    ADD CONSTRAINT ck_ai_memories_importance_score_range CHECK (
        importance_score >= 0 AND importance_score <= 1) NOT VALID;

COMMENT ON COLUMN ai_memories.cluster_id IS 'Memory cluster this memory belongs to (added by migration 004).';
COMMENT ON COLUMN ai_memories.content_hash IS 'Hex SHA-256 of content as UTF-8, for de-duplication (added by migration 004).';
COMMENT ON COLUMN ai_memories.importance_score IS 'Importance combined with usage, 0 to 1 (added by migration 004).';
COMMENT ON COLUMN ai_memories.enhanced_at IS 'When the hybrid RAG pipeline last enhanced this memory (added by migration 004).';


-- ---------------------------------------------------------------------------
-- Agents and workflows
-- ---------------------------------------------------------------------------

CREATE TABLE agent_definitions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL,
    description   text,
    agent_type    text        NOT NULL,
    model         text,
    system_prompt text,
    tools         jsonb       NOT NULL DEFAULT '[]'::jsonb,
    config        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    is_active     boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_agent_definitions_name UNIQUE (name),
    CONSTRAINT ck_agent_definitions_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT ck_agent_definitions_agent_type CHECK (
        agent_type IN ('router', 'planner', 'retriever', 'reranker', 'generator',
                       'evaluator', 'tool')),
    CONSTRAINT ck_agent_definitions_tools_is_array CHECK (jsonb_typeof(tools) = 'array'),
    CONSTRAINT ck_agent_definitions_config_is_object CHECK (jsonb_typeof(config) = 'object')
);

CREATE TABLE agent_workflows (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text        NOT NULL,
    description    text,
    version        integer     NOT NULL DEFAULT 1,
    entry_agent_id bigint,
    definition     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    is_active      boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_agent_workflows_entry_agent_id FOREIGN KEY (entry_agent_id)
        REFERENCES agent_definitions (id) ON DELETE SET NULL,
    CONSTRAINT uq_agent_workflows_name_version UNIQUE (name, version),
    CONSTRAINT ck_agent_workflows_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT ck_agent_workflows_version_positive CHECK (version >= 1),
    CONSTRAINT ck_agent_workflows_definition_is_object CHECK (jsonb_typeof(definition) = 'object')
);

CREATE INDEX idx_agent_workflows_entry_agent_id ON agent_workflows (entry_agent_id);

CREATE TABLE workflow_executions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id      bigint      NOT NULL,
    rag_query_log_id bigint,
    user_id          text,
    status           text        NOT NULL DEFAULT 'pending',
    input            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    output           jsonb,
    error_message    text,
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_workflow_executions_workflow_id FOREIGN KEY (workflow_id)
        REFERENCES agent_workflows (id) ON DELETE CASCADE,
    CONSTRAINT fk_workflow_executions_rag_query_log_id FOREIGN KEY (rag_query_log_id)
        REFERENCES rag_query_logs (id) ON DELETE SET NULL,
    CONSTRAINT ck_workflow_executions_status CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT ck_workflow_executions_completed_after_started CHECK (completed_at >= started_at)
);

CREATE INDEX idx_workflow_executions_workflow_id_started_at ON workflow_executions (workflow_id, started_at);
CREATE INDEX idx_workflow_executions_status ON workflow_executions (status);
CREATE INDEX idx_workflow_executions_rag_query_log_id ON workflow_executions (rag_query_log_id);

CREATE TABLE agent_tasks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id  bigint      NOT NULL,
    agent_id      bigint      NOT NULL,
    step_index    integer     NOT NULL,
    status        text        NOT NULL DEFAULT 'pending',
    input         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    output        jsonb,
    tokens_used   integer,
    duration_ms   integer,
    error_message text,
    started_at    timestamptz,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_agent_tasks_execution_id FOREIGN KEY (execution_id)
        REFERENCES workflow_executions (id) ON DELETE CASCADE,
    CONSTRAINT fk_agent_tasks_agent_id FOREIGN KEY (agent_id)
        REFERENCES agent_definitions (id) ON DELETE RESTRICT,
    CONSTRAINT uq_agent_tasks_execution_id_step_index UNIQUE (execution_id, step_index),
    CONSTRAINT ck_agent_tasks_step_index_non_negative CHECK (step_index >= 0),
    CONSTRAINT ck_agent_tasks_status CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'skipped', 'cancelled')),
    CONSTRAINT ck_agent_tasks_usage_non_negative CHECK (tokens_used >= 0 AND duration_ms >= 0),
    CONSTRAINT ck_agent_tasks_completed_after_started CHECK (completed_at >= started_at)
);

CREATE INDEX idx_agent_tasks_agent_id ON agent_tasks (agent_id);
CREATE INDEX idx_agent_tasks_status ON agent_tasks (status);


-- ---------------------------------------------------------------------------
-- External services (embedding, reranker, vector store, LLM, ...)
-- ---------------------------------------------------------------------------

CREATE TABLE service_configurations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_name text        NOT NULL,
    service_type text        NOT NULL,
    endpoint_url text,
    model_name   text,
    timeout_ms   integer     NOT NULL DEFAULT 30000,
    max_retries  integer     NOT NULL DEFAULT 3,
    config       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    is_enabled   boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_service_configurations_service_name UNIQUE (service_name),
    CONSTRAINT ck_service_configurations_service_name_not_blank CHECK (btrim(service_name) <> ''),
    CONSTRAINT ck_service_configurations_service_type CHECK (
        service_type IN ('embedding', 'reranker', 'vector_store', 'llm', 'keyword_search',
                         'cache', 'graph_store')),
    CONSTRAINT ck_service_configurations_timeout_positive CHECK (timeout_ms > 0),
    CONSTRAINT ck_service_configurations_max_retries_non_negative CHECK (max_retries >= 0),
    CONSTRAINT ck_service_configurations_config_is_object CHECK (jsonb_typeof(config) = 'object')
);

CREATE INDEX idx_service_configurations_service_type ON service_configurations (service_type);

CREATE TABLE service_health_checks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id    bigint      NOT NULL,
    status        text        NOT NULL,
    response_ms   integer,
    error_message text,
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    checked_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_service_health_checks_service_id FOREIGN KEY (service_id)
        REFERENCES service_configurations (id) ON DELETE CASCADE,
    CONSTRAINT ck_service_health_checks_status CHECK (
        status IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    CONSTRAINT ck_service_health_checks_response_ms_non_negative CHECK (response_ms >= 0)
);

CREATE INDEX idx_service_health_checks_service_id_checked_at ON service_health_checks (service_id, checked_at);


-- ---------------------------------------------------------------------------
-- User feedback on answers (rag_query_logs), chunks and memories
-- ---------------------------------------------------------------------------

CREATE TABLE user_feedback (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query_log_id  bigint,
    chunk_id      bigint,
    memory_id     uuid,
    user_id       text,
    feedback_type text        NOT NULL,
    rating        smallint,
    comment       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_user_feedback_query_log_id FOREIGN KEY (query_log_id)
        REFERENCES rag_query_logs (id) ON DELETE CASCADE,
    CONSTRAINT fk_user_feedback_chunk_id FOREIGN KEY (chunk_id)
        REFERENCES chunks (id) ON DELETE CASCADE,
    CONSTRAINT fk_user_feedback_memory_id FOREIGN KEY (memory_id)
        REFERENCES ai_memories (id) ON DELETE CASCADE,
    CONSTRAINT ck_user_feedback_feedback_type CHECK (
        feedback_type IN ('thumbs_up', 'thumbs_down', 'rating', 'correction', 'comment')),
    CONSTRAINT ck_user_feedback_rating_range CHECK (rating BETWEEN 1 AND 5),
    CONSTRAINT ck_user_feedback_rating_when_rated CHECK (
        feedback_type <> 'rating' OR rating IS NOT NULL),
    CONSTRAINT ck_user_feedback_has_subject CHECK (
        num_nonnulls(query_log_id, chunk_id, memory_id) >= 1)
);

CREATE INDEX idx_user_feedback_query_log_id ON user_feedback (query_log_id);
CREATE INDEX idx_user_feedback_chunk_id ON user_feedback (chunk_id);
CREATE INDEX idx_user_feedback_memory_id ON user_feedback (memory_id);
CREATE INDEX idx_user_feedback_user_id_created_at ON user_feedback (user_id, created_at);


-- ---------------------------------------------------------------------------
-- Audit log of the selective rollback functions
-- ---------------------------------------------------------------------------

CREATE TABLE rollback_backup_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name   text        NOT NULL,
    column_name  text,
    backup_table text,
    row_count    bigint      NOT NULL,
    action       text        NOT NULL,
    performed_by text        NOT NULL DEFAULT current_user,
    performed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_rollback_backup_log_action CHECK (action IN ('drop_table', 'drop_column')),
    CONSTRAINT ck_rollback_backup_log_column_matches_action CHECK (
        (action = 'drop_table' AND column_name IS NULL)
        OR (action = 'drop_column' AND column_name IS NOT NULL)),
    CONSTRAINT ck_rollback_backup_log_row_count_non_negative CHECK (row_count >= 0)
);

CREATE INDEX idx_rollback_backup_log_table_name_performed_at ON rollback_backup_log (table_name, performed_at);


-- ---------------------------------------------------------------------------
-- Table comments
-- ---------------------------------------------------------------------------

COMMENT ON TABLE rag_configurations IS 'Retrieval and generation settings. At most one row has is_default = true.';
COMMENT ON TABLE rag_query_logs IS 'One row per question answered by the hybrid RAG pipeline, with timings.';
COMMENT ON TABLE retrieval_results IS 'Chunks retrieved for a query, with their scores and rank.';
COMMENT ON TABLE query_cache IS 'Cached answers keyed by the SHA-256 of the normalized query.';
COMMENT ON TABLE ingestion_logs IS 'One row per ingestion run of a document.';
COMMENT ON TABLE enhanced_chunks IS 'Chunks as used by the hybrid pipeline: copy of chunks plus hash, context and hierarchy.';
COMMENT ON TABLE kg_entities IS 'Knowledge graph entities extracted from chunks.';
COMMENT ON TABLE kg_relations IS 'Directed, typed relations between knowledge graph entities.';
COMMENT ON TABLE chunk_entities IS 'Which entities are mentioned in which enhanced chunk.';
COMMENT ON TABLE memory_clusters IS 'Groups of related memories of one user.';
COMMENT ON TABLE memory_relationships IS 'Typed links between two memories.';
COMMENT ON TABLE agent_definitions IS 'Agents the workflow engine can run.';
COMMENT ON TABLE agent_workflows IS 'Versioned workflow definitions made of agent steps.';
COMMENT ON TABLE workflow_executions IS 'One row per run of a workflow.';
COMMENT ON TABLE agent_tasks IS 'One row per agent step of a workflow execution.';
COMMENT ON TABLE service_configurations IS 'Endpoints and settings of the external services.';
COMMENT ON TABLE service_health_checks IS 'Results of periodic health checks of the external services.';
COMMENT ON TABLE user_feedback IS 'Feedback on answers, chunks or memories.';
COMMENT ON TABLE rollback_backup_log IS 'What safe_rollback_table() and safe_remove_column() dropped and where they saved it.';


-- ---------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------

-- Memories per user and type, with clustering and enhancement progress.
CREATE VIEW v_memory_overview AS
SELECT m.user_id,
       m.memory_type,
       count(*)                                         AS memory_count,
       count(DISTINCT m.cluster_id)                     AS cluster_count,
       count(*) FILTER (WHERE m.enhanced_at IS NOT NULL) AS enhanced_count,
       count(*) FILTER (WHERE m.embedding IS NULL)      AS missing_embedding_count,
       round(avg(m.importance)::numeric, 3)             AS avg_importance,
       round(avg(m.importance_score)::numeric, 3)       AS avg_importance_score,
       sum(m.access_count)                              AS total_access_count,
       min(m.created_at)                                AS first_created_at,
       max(m.created_at)                                AS last_created_at,
       max(m.last_accessed_at)                          AS last_accessed_at
  FROM ai_memories m
 GROUP BY m.user_id, m.memory_type;

-- Latest ingestion state of every document.
CREATE VIEW v_ingestion_status AS
SELECT d.id                 AS document_id,
       d.title,
       d.source_id,
       s.name               AS source_name,
       last_run.status      AS last_status,
       last_run.source      AS last_ingestion_source,
       last_run.chunk_count,
       last_run.total_tokens,
       last_run.started_at,
       last_run.completed_at,
       last_run.error_message,
       (SELECT count(*) FROM ingestion_logs l WHERE l.document_id = d.id)  AS ingestion_runs,
       (SELECT count(*) FROM enhanced_chunks e WHERE e.document_id = d.id) AS enhanced_chunk_count
  FROM documents d
  JOIN sources s ON s.id = d.source_id
  LEFT JOIN LATERAL (
        SELECT l.status, l.source, l.chunk_count, l.total_tokens,
               l.started_at, l.completed_at, l.error_message
          FROM ingestion_logs l
         WHERE l.document_id = d.id
         ORDER BY l.created_at DESC, l.id DESC
         LIMIT 1
       ) AS last_run ON true;

-- Daily query volume, latency and feedback per configuration and mode.
CREATE VIEW v_rag_query_performance AS
SELECT date_trunc('day', q.created_at)                        AS day,
       q.configuration_id,
       c.name                                                 AS configuration_name,
       q.retrieval_mode,
       count(*)                                               AS query_count,
       count(*) FILTER (WHERE q.status = 'failed')            AS failed_count,
       count(*) FILTER (WHERE q.status = 'timeout')           AS timeout_count,
       count(*) FILTER (WHERE q.cache_hit)                    AS cache_hit_count,
       round(avg(q.result_count)::numeric, 2)                 AS avg_result_count,
       round(avg(q.total_ms)::numeric, 1)                     AS avg_total_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY q.total_ms)  AS p50_total_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY q.total_ms) AS p95_total_ms,
       round(avg(q.vector_ms)::numeric, 1)                    AS avg_vector_ms,
       round(avg(q.keyword_ms)::numeric, 1)                   AS avg_keyword_ms,
       round(avg(q.rerank_ms)::numeric, 1)                    AS avg_rerank_ms,
       round(avg(q.generation_ms)::numeric, 1)                AS avg_generation_ms,
       sum(f.positive_count)                                  AS positive_feedback_count,
       sum(f.negative_count)                                  AS negative_feedback_count,
       round(avg(f.avg_rating)::numeric, 2)                   AS avg_rating
  FROM rag_query_logs q
  LEFT JOIN rag_configurations c ON c.id = q.configuration_id
  LEFT JOIN (
        SELECT uf.query_log_id,
               count(*) FILTER (WHERE uf.feedback_type = 'thumbs_up' OR uf.rating >= 4)   AS positive_count,
               count(*) FILTER (WHERE uf.feedback_type = 'thumbs_down' OR uf.rating <= 2) AS negative_count,
               avg(uf.rating)                                                            AS avg_rating
          FROM user_feedback uf
         WHERE uf.query_log_id IS NOT NULL
         GROUP BY uf.query_log_id
       ) AS f ON f.query_log_id = q.id
 GROUP BY date_trunc('day', q.created_at), q.configuration_id, c.name, q.retrieval_mode;

-- Execution counts, durations and failures per workflow.
CREATE VIEW v_agent_workflow_status AS
SELECT w.id                                                   AS workflow_id,
       w.name,
       w.version,
       w.is_active,
       count(e.id)                                            AS execution_count,
       count(e.id) FILTER (WHERE e.status = 'pending')        AS pending_count,
       count(e.id) FILTER (WHERE e.status = 'running')        AS running_count,
       count(e.id) FILTER (WHERE e.status = 'completed')      AS completed_count,
       count(e.id) FILTER (WHERE e.status = 'failed')         AS failed_count,
       count(e.id) FILTER (WHERE e.status = 'cancelled')      AS cancelled_count,
       round(avg(extract(epoch FROM e.completed_at - e.started_at) * 1000)
             FILTER (WHERE e.status = 'completed'), 1)        AS avg_duration_ms,
       max(e.started_at)                                      AS last_started_at,
       coalesce(sum(t.task_count), 0)                         AS task_count,
       coalesce(sum(t.failed_task_count), 0)                  AS failed_task_count
  FROM agent_workflows w
  LEFT JOIN workflow_executions e ON e.workflow_id = w.id
  LEFT JOIN (
        SELECT tk.execution_id,
               count(*)                                     AS task_count,
               count(*) FILTER (WHERE tk.status = 'failed') AS failed_task_count
          FROM agent_tasks tk
         GROUP BY tk.execution_id
       ) AS t ON t.execution_id = e.id
 GROUP BY w.id, w.name, w.version, w.is_active;


-- ---------------------------------------------------------------------------
-- Selective rollback functions
-- ---------------------------------------------------------------------------

-- safe_rollback_table(table, backup): drop one table created by this
-- migration, after copying it to rollback_backup_<table>_<yyyymmddhh24miss>
-- when backup is true. Logs the action in rollback_backup_log and returns a
-- message that also names the views and foreign keys the CASCADE removed.
CREATE FUNCTION safe_rollback_table(p_table text, p_backup boolean DEFAULT true)
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

-- safe_remove_column(table, column): drop one of the columns this
-- migration added to ai_memories, after copying (id, column) to
-- rollback_backup_<table>_<column>_<yyyymmddhh24miss>. Logs the action in
-- rollback_backup_log. Indexes, constraints and views that use the column
-- are dropped with it and named in the returned message.
CREATE FUNCTION safe_remove_column(p_table text, p_column text)
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
