-- Events a view could not apply, set aside so that the view goes on (projections.base): kept with
-- the error until `POST /admin/views/retry` or `memgpt rebuild` applies them after a fix.
CREATE TABLE IF NOT EXISTS view_set_aside (
    view_name text NOT NULL,
    notification_id bigint NOT NULL,
    topic text NOT NULL,
    error text NOT NULL,
    attempts int NOT NULL DEFAULT 1,
    set_aside_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (view_name, notification_id)
);
