-- Data sources: their documents and passages, and which agents they are attached to.
CREATE TABLE IF NOT EXISTS view_sources (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    name text NOT NULL,
    description text,
    embedding_config jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS view_sources_user_idx ON view_sources (user_id, created_at, id);

CREATE TABLE IF NOT EXISTS view_source_documents (
    id uuid PRIMARY KEY,
    source_id uuid NOT NULL,
    filename text NOT NULL,
    passages int NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS view_source_documents_idx ON view_source_documents (source_id, created_at, id);

CREATE TABLE IF NOT EXISTS view_source_passages (
    id uuid PRIMARY KEY,
    source_id uuid NOT NULL,
    document_id uuid NOT NULL,
    text text NOT NULL,
    created_at timestamptz NOT NULL,
    position bigint NOT NULL,
    seq int NOT NULL
);
CREATE INDEX IF NOT EXISTS view_source_passages_idx ON view_source_passages (source_id, position, seq);

CREATE TABLE IF NOT EXISTS view_source_attachments (
    source_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    PRIMARY KEY (source_id, agent_id)
);

CREATE TABLE IF NOT EXISTS view_sources_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
INSERT INTO view_sources_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
