-- Search: full-text over recall memory, and pgvector embeddings for archival passages.
-- Embeddings have the dimension of each agent's embedding model; one HNSW index per common
-- dimension (384: all-MiniLM-L6-v2, 1536: OpenAI ada-002) over a cast of the untyped column.
CREATE EXTENSION IF NOT EXISTS vector;

ALTER TABLE view_messages ADD COLUMN IF NOT EXISTS tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('english', content)) STORED;
CREATE INDEX IF NOT EXISTS view_messages_tsv_idx ON view_messages USING gin (tsv);

ALTER TABLE view_passages ADD COLUMN IF NOT EXISTS position bigint NOT NULL DEFAULT 0;
ALTER TABLE view_passages ADD COLUMN IF NOT EXISTS seq int NOT NULL DEFAULT 0;  -- order within one event
CREATE INDEX IF NOT EXISTS view_passages_order_idx ON view_passages (agent_id, position, seq);
ALTER TABLE view_passages ADD COLUMN IF NOT EXISTS embedding vector;
ALTER TABLE view_passages ADD COLUMN IF NOT EXISTS dim int;
ALTER TABLE view_passages ADD COLUMN IF NOT EXISTS attempts int NOT NULL DEFAULT 0;
ALTER TABLE view_passages ADD COLUMN IF NOT EXISTS retry_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE view_passages ADD COLUMN IF NOT EXISTS last_error text;
CREATE INDEX IF NOT EXISTS view_passages_pending_idx ON view_passages (retry_at) WHERE embedding IS NULL;
CREATE INDEX IF NOT EXISTS view_passages_384_idx ON view_passages
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dim = 384;
CREATE INDEX IF NOT EXISTS view_passages_1536_idx ON view_passages
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE dim = 1536;
