-- An aggregate's events by log position: what a past state (`at=`), a fork or a revert looks up
-- ("which version of this agent stood at position N?") without scanning the agent's history.
CREATE INDEX IF NOT EXISTS memgpt_events_originator_position_idx
    ON memgpt_events (originator_id, notification_id);
