-- Read models for users, API keys and agents, each with the library's single-row tracking
-- table. The ('__migration__', 1) row is the marker the library writes when it creates a
-- tracking table itself; without it a start with CREATE_TABLE=yes would rebuild the table.
CREATE TABLE IF NOT EXISTS view_users (
    user_id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS view_keys (
    key_digest text PRIMARY KEY,
    key_id uuid NOT NULL UNIQUE,
    user_id uuid NOT NULL,
    name text,
    masked text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS view_keys_user_idx ON view_keys (user_id, created_at);

CREATE TABLE IF NOT EXISTS view_agents (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    name text NOT NULL,
    preset text NOT NULL,
    persona_name text NOT NULL,
    human_name text NOT NULL,
    system text NOT NULL,
    functions jsonb NOT NULL,
    core_memory jsonb NOT NULL,
    llm_config jsonb NOT NULL,
    embedding_config jsonb NOT NULL,
    message_ids jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS view_agents_user_idx ON view_agents (user_id, created_at);

CREATE TABLE IF NOT EXISTS view_users_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
CREATE TABLE IF NOT EXISTS view_keys_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
CREATE TABLE IF NOT EXISTS view_agents_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
INSERT INTO view_users_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
INSERT INTO view_keys_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
INSERT INTO view_agents_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
