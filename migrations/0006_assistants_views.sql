-- The OpenAI-Assistants-compatible surface: assistants, threads, their messages, and runs.
CREATE TABLE IF NOT EXISTS view_assistants (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    name text NOT NULL,
    model text NOT NULL,
    instructions text NOT NULL,
    description text,
    tools jsonb NOT NULL,
    metadata jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS view_assistants_user_idx ON view_assistants (user_id, created_at, id);

CREATE TABLE IF NOT EXISTS view_threads (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    agent_id uuid,
    metadata jsonb NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS view_thread_messages (
    id uuid PRIMARY KEY,
    thread_id uuid NOT NULL,
    role text NOT NULL,
    content text NOT NULL,
    assistant_id uuid,
    run_id uuid,
    metadata jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    position bigint NOT NULL,
    seq int NOT NULL
);
CREATE INDEX IF NOT EXISTS view_thread_messages_idx ON view_thread_messages (thread_id, position, seq);

CREATE TABLE IF NOT EXISTS view_runs (
    id uuid PRIMARY KEY,
    thread_id uuid NOT NULL,
    assistant_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    turn_id uuid NOT NULL UNIQUE,
    status text NOT NULL,
    last_error text,
    created_at timestamptz NOT NULL,
    started_at timestamptz,
    completed_at timestamptz,
    failed_at timestamptz
);
CREATE INDEX IF NOT EXISTS view_runs_thread_idx ON view_runs (thread_id, created_at, id);

CREATE TABLE IF NOT EXISTS view_assistants_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
INSERT INTO view_assistants_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
