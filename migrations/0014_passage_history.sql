-- Every archival passage an agent ever had, with the log positions between which it was there:
-- the archival listing at a past position (`at=`) is one indexed read, however long the history.
-- A table of the archival view (its rules fill both; one tracking position): started from the
-- passages there now, as a database that had the view before this table cannot know the deleted ones.
CREATE TABLE IF NOT EXISTS view_passage_history (
    id uuid PRIMARY KEY,
    agent_id uuid NOT NULL,
    text text NOT NULL,
    created_at timestamptz NOT NULL,
    position bigint NOT NULL,  -- where it was inserted
    seq int NOT NULL,  -- its place among the passages of that event
    deleted_position bigint  -- where it was deleted; null while it is there
);
CREATE INDEX IF NOT EXISTS view_passage_history_agent_idx ON view_passage_history (agent_id, position, seq);
INSERT INTO view_passage_history (id, agent_id, text, created_at, position, seq)
    SELECT id, agent_id, text, created_at, position, seq FROM view_passages ON CONFLICT DO NOTHING;
