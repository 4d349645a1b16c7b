-- The turns of every agent (GET /api/agents/{id}/turns): where each was queued, started and
-- ended in the log (positions, and the agent's versions there, so a turn's events are read from
-- the log without a scan), how many steps it took and the tokens its model reported.
CREATE TABLE IF NOT EXISTS view_turns (
    id uuid PRIMARY KEY,
    agent_id uuid NOT NULL,
    status text NOT NULL,  -- queued | running | completed | failed
    role text NOT NULL,
    queued_at timestamptz NOT NULL,
    started_at timestamptz,
    ended_at timestamptz,
    queued_position bigint NOT NULL,
    started_position bigint,
    ended_position bigint,
    queued_version int NOT NULL,
    started_version int,
    ended_version int,
    steps int NOT NULL DEFAULT 0,
    prompt_tokens bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    failure text
);
CREATE INDEX IF NOT EXISTS view_turns_agent_idx ON view_turns (agent_id, queued_position, id);

CREATE TABLE IF NOT EXISTS view_turns_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
INSERT INTO view_turns_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
