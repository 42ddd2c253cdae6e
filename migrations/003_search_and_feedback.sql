-- 003_search_and_feedback.sql
--
-- Baseline, part 3 of 3: the search log and the feedback users give on
-- search results, as production databases already hold it.
--
--   search_queries  every search the application ran: the query text, the
--                   kind of search, how many results and how long it took,
--                   and the best chunk it found
--   query_feedback  a user's rating of a search, optionally about one
--                   returned chunk
--
-- Deleting a chunk keeps the search log (top_chunk_id becomes NULL) but
-- removes feedback about that chunk. Plain PostgreSQL 15, no extensions,
-- no transaction control (the migration runner wraps the file in one
-- transaction).

CREATE TABLE search_queries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         text,
    session_id      text,
    query_text      text        NOT NULL,
    search_type     text        NOT NULL DEFAULT 'hybrid',
    result_count    integer     NOT NULL DEFAULT 0,
    latency_ms      integer,
    top_chunk_id    bigint,
    top_document_id uuid,
    filters         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_search_queries_top_chunk_id FOREIGN KEY (top_chunk_id)
        REFERENCES chunks (id) ON DELETE SET NULL,
    CONSTRAINT fk_search_queries_top_document_id FOREIGN KEY (top_document_id)
        REFERENCES documents (id) ON DELETE SET NULL,
    CONSTRAINT ck_search_queries_query_text_not_empty CHECK (query_text <> ''),
    CONSTRAINT ck_search_queries_search_type CHECK (search_type IN ('vector', 'keyword', 'hybrid')),
    CONSTRAINT ck_search_queries_result_count_non_negative CHECK (result_count >= 0),
    CONSTRAINT ck_search_queries_latency_non_negative CHECK (latency_ms >= 0),
    CONSTRAINT ck_search_queries_filters_is_object CHECK (jsonb_typeof(filters) = 'object')
);

CREATE INDEX idx_search_queries_created_at ON search_queries (created_at);
CREATE INDEX idx_search_queries_user_id_created_at ON search_queries (user_id, created_at);
CREATE INDEX idx_search_queries_top_chunk_id ON search_queries (top_chunk_id);
CREATE INDEX idx_search_queries_top_document_id ON search_queries (top_document_id);

CREATE TABLE query_feedback (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query_id   bigint      NOT NULL,
    chunk_id   bigint,
    user_id    text,
    rating     smallint    NOT NULL,
    is_helpful boolean,
    comment    text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_query_feedback_query_id FOREIGN KEY (query_id)
        REFERENCES search_queries (id) ON DELETE CASCADE,
    CONSTRAINT fk_query_feedback_chunk_id FOREIGN KEY (chunk_id)
        REFERENCES chunks (id) ON DELETE CASCADE,
    CONSTRAINT ck_query_feedback_rating_range CHECK (rating BETWEEN 1 AND 5)
);

CREATE INDEX idx_query_feedback_query_id ON query_feedback (query_id);
CREATE INDEX idx_query_feedback_chunk_id ON query_feedback (chunk_id);
CREATE INDEX idx_query_feedback_created_at ON query_feedback (created_at);

COMMENT ON TABLE search_queries IS 'Log of every search the application ran.';
COMMENT ON TABLE query_feedback IS 'User ratings of searches, optionally about one returned chunk.';
