-- 001_knowledge_store.sql
--
-- Baseline, part 1 of 3: the document knowledge store of the Hybrid RAG
-- application, as production databases already hold it.
--
--   sources    where documents come from (a crawled site, a file share, a wiki)
--   documents  one row per ingested document, identified by a UUID
--   chunks     the text pieces a document is split into, with their
--              embedding (real[], no pgvector) and a generated full-text
--              search column used for keyword search
--
-- Plain PostgreSQL 15, no extensions. The migration runner executes this
-- file statement by statement inside one transaction and records it in its
-- ledger. There is no transaction control in here on purpose.

CREATE TABLE sources (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    source_type text        NOT NULL,
    base_uri    text,
    config      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    is_active   boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_sources_name UNIQUE (name),
    CONSTRAINT ck_sources_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT ck_sources_source_type CHECK (
        source_type IN ('web', 'file', 's3', 'confluence', 'github', 'notion', 'api', 'manual')),
    CONSTRAINT ck_sources_config_is_object CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT ck_sources_updated_after_created CHECK (updated_at >= created_at)
);

CREATE TABLE documents (
    id             uuid        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    source_id      bigint      NOT NULL,
    title          text        NOT NULL,
    uri            text,
    mime_type      text        NOT NULL DEFAULT 'text/plain',
    content_sha256 text,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_documents_source_id FOREIGN KEY (source_id)
        REFERENCES sources (id) ON DELETE RESTRICT,
    CONSTRAINT uq_documents_source_id_uri UNIQUE (source_id, uri),
    CONSTRAINT ck_documents_title_not_blank CHECK (btrim(title) <> ''),
    CONSTRAINT ck_documents_mime_type_format CHECK (mime_type ~ '^[a-z]+/[a-z0-9.+-]+$'),
    CONSTRAINT ck_documents_content_sha256_format CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_documents_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT ck_documents_updated_after_created CHECK (updated_at >= created_at)
);

CREATE INDEX idx_documents_content_sha256 ON documents (content_sha256);
CREATE INDEX idx_documents_created_at ON documents (created_at);

CREATE TABLE chunks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id uuid        NOT NULL,
    chunk_index integer     NOT NULL,
    content     text        NOT NULL,
    token_count integer     NOT NULL,
    embedding   real[],
    content_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, content)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fk_chunks_document_id FOREIGN KEY (document_id)
        REFERENCES documents (id) ON DELETE CASCADE,
    CONSTRAINT uq_chunks_document_id_chunk_index UNIQUE (document_id, chunk_index),
    CONSTRAINT ck_chunks_chunk_index_non_negative CHECK (chunk_index >= 0),
    CONSTRAINT ck_chunks_content_not_empty CHECK (content <> ''),
    CONSTRAINT ck_chunks_token_count_non_negative CHECK (token_count >= 0),
    CONSTRAINT ck_chunks_embedding_one_dimensional CHECK (
        embedding IS NULL OR array_ndims(embedding) = 1)
);

CREATE INDEX idx_chunks_document_id ON chunks (document_id);
CREATE INDEX idx_chunks_content_tsv ON chunks USING gin (content_tsv);

COMMENT ON TABLE sources IS 'Where documents come from: a site, a file share, a wiki space, an API.';
COMMENT ON TABLE documents IS 'One row per ingested document.';
COMMENT ON TABLE chunks IS 'Text pieces of a document with their embedding and a generated full-text vector.';
COMMENT ON COLUMN chunks.embedding IS 'Embedding vector as real[]. NULL while not yet embedded.';
