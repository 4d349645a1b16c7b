-- Turn bookkeeping on the agents view (what a runner sweep looks for), every message of every
-- agent (recall memory), and archival passages (text; embeddings arrive with their own migration).
ALTER TABLE view_agents ADD COLUMN IF NOT EXISTS queued_turns int NOT NULL DEFAULT 0;
ALTER TABLE view_agents ADD COLUMN IF NOT EXISTS turn_open boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS view_agents_busy_idx ON view_agents (id) WHERE queued_turns > 0 OR turn_open;

CREATE TABLE IF NOT EXISTS view_messages (
    id uuid PRIMARY KEY,
    agent_id uuid NOT NULL,
    role text NOT NULL,
    text text,
    content text NOT NULL DEFAULT '',  -- what a person would read: unpacked, no JSON
    name text,
    tool_call jsonb,
    tool_call_id text,
    created_at timestamptz NOT NULL,
    position bigint NOT NULL,
    seq int NOT NULL  -- order among the messages of one event
);
CREATE INDEX IF NOT EXISTS view_messages_agent_idx ON view_messages (agent_id, position, seq);

CREATE TABLE IF NOT EXISTS view_passages (
    id uuid PRIMARY KEY,
    agent_id uuid NOT NULL,
    text text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS view_passages_agent_idx ON view_passages (agent_id, created_at, id);

CREATE TABLE IF NOT EXISTS view_messages_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
CREATE TABLE IF NOT EXISTS view_passages_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
INSERT INTO view_messages_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
INSERT INTO view_passages_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
