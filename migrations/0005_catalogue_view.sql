-- Each user's own humans, personas and presets (the shared defaults are in the code).
CREATE TABLE IF NOT EXISTS view_catalogue (
    user_id uuid NOT NULL,
    kind text NOT NULL,  -- human | persona | preset
    name text NOT NULL,
    body jsonb NOT NULL,  -- {"text"} or {"system", "functions"}
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, kind, name)
);
CREATE TABLE IF NOT EXISTS view_catalogue_tracking (
    application_name text PRIMARY KEY, notification_id bigint);
INSERT INTO view_catalogue_tracking VALUES ('__migration__', 1) ON CONFLICT DO NOTHING;
