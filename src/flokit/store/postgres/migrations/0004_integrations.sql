-- Provider integrations (integrations.md): one row each, with its counters; per-hour event
-- counts, drops by reason, the newest delivery errors and what its mapper remembers.

CREATE TABLE integrations (
    id text COLLATE "C" PRIMARY KEY,
    workspace_id bigint NOT NULL REFERENCES workspaces(id),
    type text COLLATE "C" NOT NULL,
    keep_sandbox boolean NOT NULL,
    settings text NOT NULL,
    secret_hash text COLLATE "C" UNIQUE,
    signing_secret text COLLATE "C",
    created_us bigint NOT NULL,
    events_total bigint NOT NULL DEFAULT 0,
    earliest_event_us bigint,
    last_synced_us bigint,
    last_status integer,
    last_error text
);

CREATE INDEX integrations_workspace ON integrations(workspace_id);

CREATE TABLE integration_hours (
    integration_id text COLLATE "C" NOT NULL,
    hour bigint NOT NULL,
    events bigint NOT NULL,
    PRIMARY KEY (integration_id, hour)
);

CREATE TABLE integration_drops (
    integration_id text COLLATE "C" NOT NULL,
    reason text COLLATE "C" NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (integration_id, reason)
);

CREATE TABLE integration_errors (
    integration_id text COLLATE "C" NOT NULL,
    at_us bigint NOT NULL,
    status integer NOT NULL,
    message text NOT NULL
);

CREATE INDEX integration_errors_newest ON integration_errors(integration_id, at_us);

CREATE TABLE integration_memory (
    integration_id text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (integration_id, key)
);
