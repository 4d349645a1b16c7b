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
-- A database that already has events fills the index here, in one pass of SQL, instead of by the
-- view's runner one event at a time (~500 events/s: half an hour for a million events, with every
-- write lagging meanwhile). The rows are what projections/events.py makes of each event; anything
-- this pass cannot read (a state that is not JSON, text jsonb cannot hold, an odd request id) leaves
-- the index empty, for the runner, which handles every event.
DO $backfill$
DECLARE
    head bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM view_event_index)
       OR EXISTS (SELECT 1 FROM view_event_index_tracking WHERE application_name = 'memgpt') THEN
        RETURN;
    END IF;
    LOCK TABLE memgpt_events IN SHARE MODE;  -- no event lands below the head while this reads
    SELECT max(notification_id) INTO head FROM memgpt_events;
    IF head IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        CREATE TEMP TABLE bf_ev ON COMMIT DROP AS
        SELECT e.notification_id AS position, e.originator_id AS oid, e.originator_version AS version,
               CASE WHEN e.topic LIKE 'memgpt.%' THEN substr(e.topic, 8) ELSE e.topic END AS type,
               convert_from(e.state, 'UTF8')::jsonb AS s
        FROM memgpt_events e WHERE e.notification_id <= head;

        CREATE TEMP TABLE bf ON COMMIT DROP AS
        SELECT position, oid, version, type, split_part(type, '.', 1) AS kind, s,
               CASE WHEN jsonb_typeof(s -> 'caused_by') = 'object' THEN s -> 'caused_by' END AS cause,
               (coalesce(s -> 'user_id' ->> '_data_', s ->> 'user_id'))::uuid AS user_field,
               (coalesce(s -> 'turn_id' ->> '_data_', s ->> 'turn_id'))::uuid AS turn_field,
               CASE
                   WHEN split_part(type, '.', 1) = 'Agent' THEN oid
                   WHEN s ->> 'kind' = 'agent' AND s ? 'item_id' THEN (coalesce(s -> 'item_id' ->> '_data_', s ->> 'item_id'))::uuid
                   ELSE (coalesce(s -> 'agent_id' ->> '_data_', s ->> 'agent_id'))::uuid
               END AS agent_field,
               split_part(type, '.', 1) = 'Agent' AND jsonb_typeof(s -> 'core_memory') = 'object' AS sets_memory,
               (s -> 'timestamp' ->> '_data_')::timestamptz AS time
        FROM bf_ev;
        CREATE INDEX ON bf (oid, position);
        CREATE INDEX ON bf (turn_field, position);
        ANALYZE bf;

        IF EXISTS (SELECT 1 FROM bf WHERE cause IS NOT NULL AND (
                coalesce(jsonb_typeof(cause -> 'request_id'), 'null') NOT IN ('string', 'null')
                OR coalesce(jsonb_typeof(cause -> 'client_request_id'), 'null') NOT IN ('string', 'null'))) THEN
            RAISE EXCEPTION 'a request id that is not text';
        END IF;
        UPDATE bf SET cause = cause
            || CASE WHEN length(cause ->> 'request_id') > 200
                    THEN jsonb_build_object('request_id', left(cause ->> 'request_id', 200)) ELSE '{}' END
            || CASE WHEN length(cause ->> 'client_request_id') > 200
                    THEN jsonb_build_object('client_request_id', left(cause ->> 'client_request_id', 200)) ELSE '{}' END
        WHERE length(cause ->> 'request_id') > 200 OR length(cause ->> 'client_request_id') > 200;

        -- issued keys: their first issuance names them
        CREATE TEMP TABLE bf_keys ON COMMIT DROP AS
        SELECT DISTINCT ON (key_id) key_id, oid AS user_id, position, name
        FROM (SELECT (coalesce(s -> 'key_id' ->> '_data_', s ->> 'key_id'))::uuid AS key_id, oid, position,
                     nullif(coalesce(s ->> 'name', ''), '') AS name
              FROM bf WHERE type = 'User.KeyIssued') k
        WHERE key_id IS NOT NULL ORDER BY key_id, position;

        -- the owner each aggregate's Created named (a name claim: its agent's owner)
        CREATE TEMP TABLE bf_owner ON COMMIT DROP AS
        SELECT DISTINCT ON (oid) oid, user_field AS user_id, kind, position
        FROM bf WHERE kind <> 'User' AND user_field IS NOT NULL ORDER BY oid, position;
        CREATE INDEX ON bf_owner (oid);
        ANALYZE bf_owner;
        INSERT INTO bf_owner
        SELECT DISTINCT ON (c.oid) c.oid, o.user_id, 'AgentName', c.position
        FROM bf c LEFT JOIN bf_owner o ON o.oid = c.agent_field AND o.position < c.position
        WHERE c.kind = 'AgentName' AND c.type LIKE '%.Created' ORDER BY c.oid, c.position;

        -- where each agent's memory was set before each change (the rows that set it, in order)
        CREATE TEMP TABLE bf_mem ON COMMIT DROP AS
        SELECT position, oid, lag(position) OVER (PARTITION BY oid ORDER BY position) AS before
        FROM bf WHERE sets_memory;
        CREATE INDEX ON bf_mem (position);
        CREATE INDEX ON bf_mem (oid, position);

        CREATE TEMP TABLE bf_rows ON COMMIT DROP AS
        SELECT b.position, b.oid, b.version, b.type, b.kind, b.cause, b.sets_memory, b.time, b.agent_field,
               coalesce(CASE WHEN b.kind = 'User' THEN b.oid ELSE b.user_field END, o.user_id) AS user_id,
               coalesce(b.agent_field, CASE
                   WHEN b.kind = 'Agent' AND o.oid IS NOT NULL THEN b.oid
                   WHEN b.kind = 'AgentName' THEN (SELECT c.agent_field FROM bf c WHERE c.oid = b.oid
                       AND c.position < b.position AND c.agent_field IS NOT NULL ORDER BY c.position DESC LIMIT 1)
               END) AS agent_id,
               coalesce(b.turn_field, CASE WHEN b.kind = 'Agent' AND b.cause IS NULL AND o.oid IS NOT NULL THEN (
                   SELECT CASE WHEN NOT EXISTS (
                       SELECT 1 FROM bf f WHERE f.oid = b.oid AND f.turn_field = t.turn_field
                       AND f.type IN ('Agent.TurnCompleted', 'Agent.TurnFailed')
                       AND f.position > t.position AND f.position < b.position) THEN t.turn_field END
                   FROM (SELECT l.turn_field, l.position FROM bf l WHERE l.oid = b.oid AND l.type = 'Agent.TurnStarted'
                         AND l.position < b.position ORDER BY l.position DESC LIMIT 1) t) END) AS turn_id,
               CASE WHEN b.sets_memory AND o.oid IS NOT NULL THEN m.before END AS memory_before,
               CASE WHEN b.cause ->> 'key_id' ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'
                    THEN (b.cause ->> 'key_id')::uuid END AS key_id
        FROM bf b
        LEFT JOIN bf_mem m ON m.position = b.position
        LEFT JOIN bf_owner o ON o.oid = CASE WHEN b.kind = 'AgentName' AND b.type LIKE '%.Created'
                                             THEN b.agent_field ELSE b.oid END
                             AND o.position < b.position;

        -- a cause gains its key's name; a turn's events without a cause of their own take the cause
        -- of its (first) TurnQueued
        CREATE TEMP TABLE bf_caused ON COMMIT DROP AS
        SELECT r.position, r.cause || coalesce(jsonb_build_object('key_name', k.name), '{}') AS cause
        FROM bf_rows r JOIN bf_keys k ON k.key_id = r.key_id AND k.position < r.position
        WHERE r.cause IS NOT NULL;
        CREATE INDEX ON bf_caused (position);
        CREATE TEMP TABLE bf_turn_cause ON COMMIT DROP AS
        SELECT DISTINCT ON (r.turn_id) r.turn_id, r.position, coalesce(c.cause, r.cause) AS cause
        FROM bf_rows r LEFT JOIN bf_caused c ON c.position = r.position
        WHERE r.type = 'Agent.TurnQueued' AND r.turn_id IS NOT NULL ORDER BY r.turn_id, r.position;

        INSERT INTO view_event_index
            (position, originator_id, version, type, user_id, agent_id, turn_id, caused_by, memory_before, time)
        SELECT r.position, r.oid, r.version, r.type, r.user_id, r.agent_id, r.turn_id,
               CASE WHEN r.cause IS NOT NULL THEN coalesce(c.cause, r.cause) ELSE t.cause END,
               r.memory_before, r.time
        FROM bf_rows r
        LEFT JOIN bf_caused c ON c.position = r.position
        LEFT JOIN bf_turn_cause t ON r.cause IS NULL AND t.turn_id = r.turn_id AND t.position < r.position
        ORDER BY r.position;

        INSERT INTO view_event_owners (id, user_id, agent_id, turn_id, memory_at, key_name)
        SELECT o.oid, o.user_id,
               CASE WHEN o.kind = 'Agent' THEN o.oid
                    WHEN o.kind = 'AgentName' THEN (SELECT c.agent_field FROM bf c WHERE c.oid = o.oid
                        AND c.agent_field IS NOT NULL ORDER BY c.position DESC LIMIT 1) END,
               CASE WHEN o.kind = 'Agent' THEN (
                   SELECT CASE WHEN NOT EXISTS (
                       SELECT 1 FROM bf f WHERE f.oid = o.oid AND f.turn_field = t.turn_field
                       AND f.type IN ('Agent.TurnCompleted', 'Agent.TurnFailed') AND f.position > t.position)
                       THEN t.turn_field END
                   FROM (SELECT l.turn_field, l.position FROM bf l WHERE l.oid = o.oid AND l.type = 'Agent.TurnStarted'
                         ORDER BY l.position DESC LIMIT 1) t) END,
               (SELECT max(m.position) FROM bf_mem m WHERE m.oid = o.oid),
               NULL
        FROM bf_owner o;
        INSERT INTO view_event_owners (id, user_id, key_name)
        SELECT key_id, user_id, name FROM bf_keys ON CONFLICT (id) DO NOTHING;

        INSERT INTO view_event_index_tracking VALUES ('memgpt', head)
            ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'event index left to its runner: %', SQLERRM;
    END;
END
$backfill$;
