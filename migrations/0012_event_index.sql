-- The event history's index (projections/events.py): one row per event of the log, saying whom it
-- belongs to (owner user, agent, turn) and who caused it, so that a page of one agent's or one
-- user's events is an index range scan; the payload itself is decoded from memgpt_events by
-- position. `view_event_owners` holds what later events of an aggregate do not carry: the owner
-- an aggregate's Created event named, a name claim's agent, an agent's running turn and the
-- position of its last core-memory value, the names of issued keys.
CREATE TABLE IF NOT EXISTS view_event_index (
    position bigint PRIMARY KEY,  -- the log's notification_id
    originator_id uuid NOT NULL,
    version bigint NOT NULL,
    type text NOT NULL,  -- the topic without "memgpt."
    user_id uuid,  -- the owner: the user whose history it is
    agent_id uuid,  -- the agent it is about, if any
    turn_id uuid,
    caused_by jsonb,  -- its own cause, or (runner events) the cause of its turn's TurnQueued
    request_id text GENERATED ALWAYS AS (caused_by ->> 'request_id') STORED,
    client_request_id text GENERATED ALWAYS AS (caused_by ->> 'client_request_id') STORED,
    memory_before bigint,  -- a core-memory change: the position of the value it replaced
    time timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS view_event_index_agent_idx ON view_event_index (agent_id, position);
CREATE INDEX IF NOT EXISTS view_event_index_user_idx ON view_event_index (user_id, position);
CREATE INDEX IF NOT EXISTS view_event_index_type_idx ON view_event_index (type, position);
-- one type of one agent's or one user's events (a type scattered through a long history)
CREATE INDEX IF NOT EXISTS view_event_index_agent_type_idx ON view_event_index (agent_id, type, position);
CREATE INDEX IF NOT EXISTS view_event_index_user_type_idx ON view_event_index (user_id, type, position);
CREATE INDEX IF NOT EXISTS view_event_index_request_idx ON view_event_index (request_id);
CREATE INDEX IF NOT EXISTS view_event_index_turn_idx ON view_event_index (turn_id);

CREATE TABLE IF NOT EXISTS view_event_owners (
    id uuid PRIMARY KEY,  -- an aggregate, or an issued key
    user_id uuid,
    agent_id uuid,
    turn_id uuid,  -- an agent's running turn
    memory_at bigint,  -- an agent's last core-memory value: the position of the event holding it
    key_name text  -- an issued key's name
);

CREATE TABLE IF NOT EXISTS view_event_index_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
INSERT INTO view_event_index_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
