-- 002_ai_memories.sql
--
-- Baseline, part 2 of 3: the assistant's long-term memory, as production
-- databases already hold it.
--
--   memory_sessions  one row per conversation session of a user
--   ai_memories      facts, preferences, conversation snippets, tasks and
--                    insights the assistant remembers about a user, each
--                    with an optional embedding (real[]) and an importance
--
-- There are no triggers here: updated_at and last_accessed_at are set by
-- the application. Plain PostgreSQL 15, no extensions, no transaction
-- control (the migration runner wraps the file in one transaction).

CREATE TABLE memory_sessions (
    session_id text        NOT NULL PRIMARY KEY,
    user_id    text        NOT NULL,
    title      text,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at   timestamptz,
    metadata   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT ck_memory_sessions_session_id_not_blank CHECK (btrim(session_id) <> ''),
    CONSTRAINT ck_memory_sessions_user_id_not_blank CHECK (btrim(user_id) <> ''),
    CONSTRAINT ck_memory_sessions_ended_after_started CHECK (ended_at >= started_at),
    CONSTRAINT ck_memory_sessions_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE INDEX idx_memory_sessions_user_id_started_at ON memory_sessions (user_id, started_at);

CREATE TABLE ai_memories (
    id               uuid        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id          text        NOT NULL,
    session_id       text,
    memory_type      text        NOT NULL,
    content          text        NOT NULL,
    embedding        real[],
    importance       real        NOT NULL DEFAULT 0.5,
    metadata         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    access_count     integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_accessed_at timestamptz,
    CONSTRAINT fk_ai_memories_session_id FOREIGN KEY (session_id)
        REFERENCES memory_sessions (session_id) ON DELETE SET NULL,
    CONSTRAINT ck_ai_memories_user_id_not_blank CHECK (btrim(user_id) <> ''),
    CONSTRAINT ck_ai_memories_memory_type CHECK (
        memory_type IN ('fact', 'preference', 'conversation', 'task', 'insight')),
    CONSTRAINT ck_ai_memories_content_not_empty CHECK (content <> ''),
    CONSTRAINT ck_ai_memories_embedding_one_dimensional CHECK (
        embedding IS NULL OR array_ndims(embedding) = 1),
    CONSTRAINT ck_ai_memories_importance_range CHECK (importance >= 0 AND importance <= 1),
    CONSTRAINT ck_ai_memories_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT ck_ai_memories_access_count_non_negative CHECK (access_count >= 0),
    CONSTRAINT ck_ai_memories_updated_after_created CHECK (updated_at >= created_at)
);

CREATE INDEX idx_ai_memories_user_id_created_at ON ai_memories (user_id, created_at);
CREATE INDEX idx_ai_memories_session_id ON ai_memories (session_id);
CREATE INDEX idx_ai_memories_user_id_memory_type ON ai_memories (user_id, memory_type);
CREATE INDEX idx_ai_memories_metadata ON ai_memories USING gin (metadata jsonb_path_ops);

COMMENT ON TABLE memory_sessions IS 'Conversation sessions of a user with the assistant.';
COMMENT ON TABLE ai_memories IS 'Long-term memories of the assistant about a user.';
COMMENT ON COLUMN ai_memories.importance IS 'Importance set by the application, 0 (trivial) to 1 (essential).';
