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

-- Each list becomes rows in its order, and the column goes (once: run again, this does nothing).
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'view_agents' AND column_name = 'message_ids') THEN
        INSERT INTO view_agent_context (agent_id, seq, message_id)
            SELECT a.id, t.n - 1, t.id::uuid
            FROM view_agents a, jsonb_array_elements_text(a.message_ids) WITH ORDINALITY AS t(id, n)
            ON CONFLICT DO NOTHING;
        ALTER TABLE view_agents DROP COLUMN message_ids;
    END IF;
END $$;
