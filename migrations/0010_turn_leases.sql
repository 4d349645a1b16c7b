-- One runner per agent across processes, without holding a connection while a model answers:
-- a runner claims an agent's row (or takes over an expired one), renews it while its turns run,
-- and deletes it when done. A runner killed with -9 stops renewing; its lease expires.
CREATE TABLE IF NOT EXISTS turn_leases (
    agent_id uuid PRIMARY KEY,
    owner uuid NOT NULL,
    expires_at timestamptz NOT NULL
);
