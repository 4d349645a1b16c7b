-- An agent's in-context message ids (its state's `messages`), one row each, in `seq` order. They
-- were a jsonb array on view_agents that every message of a turn rewrote whole: O(context) per
-- message, ~1 ms of the views' single writer once an agent held ~900 messages in context, and a
-- model with a large window holds thousands. An append is now one insert.
-- `seq` is a double: a summary goes between the system message and the first message kept.
CREATE TABLE IF NOT EXISTS view_agent_context (
    agent_id uuid NOT NULL,
    seq double precision NOT NULL,
    message_id uuid NOT NULL,
    PRIMARY KEY (agent_id, seq)
);

INSERT INTO view_agent_context (agent_id, seq, message_id)
    SELECT a.id, t.n - 1, t.id::uuid
    FROM view_agents a, jsonb_array_elements_text(a.message_ids) WITH ORDINALITY AS t(id, n)
    ON CONFLICT DO NOTHING;

ALTER TABLE view_agents DROP COLUMN message_ids;
