-- A save of events in one statement: lock the log, notify its listeners (on commit), insert, and
-- return the positions given; run as an autocommit statement, it is its own transaction. It does
-- what the library's insert does in six statements (begin, the lock's timeout, lock, notify,
-- insert, commit), in one round trip and one statement for the server to send and PostgreSQL to
-- parse (`PromptRecorder`). No lock timeout, as the library's default (POSTGRES_LOCK_TIMEOUT,
-- which this server does not set): a save waits for the saves before it.
-- The exclusive lock keeps positions in commit order, so a reader following the log by position
-- never passes over an event committed after it read.
CREATE OR REPLACE FUNCTION memgpt_append(events stored_event_uuid[]) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL lock_timeout = '0s';
    LOCK TABLE memgpt_events IN EXCLUSIVE MODE;
    NOTIFY memgpt_events;
    RETURN QUERY
        INSERT INTO memgpt_events (originator_id, originator_version, topic, state)
        SELECT e.originator_id, e.originator_version, e.topic, e.state FROM unnest(events) AS e
        RETURNING notification_id;
END
$$;
