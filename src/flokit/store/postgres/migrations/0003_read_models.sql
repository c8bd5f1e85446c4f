-- Read models (issue 12): projections of the log, built beside ingest by the projector.
-- The transaction that wrote each event: the projector follows the log by windows of
-- transaction ids that have all ended, since seq is assigned before commit and concurrent
-- transactions commit out of seq order. (Adding the column rewrites the table once.)
ALTER TABLE events ADD COLUMN tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX events_tx ON events (tx);

CREATE TABLE projection_state (
    name text PRIMARY KEY,
    as_of bigint NOT NULL,
    seq bigint NOT NULL,
    tx_lo bigint NOT NULL,
    tx_hi bigint NOT NULL
);
INSERT INTO projection_state VALUES ('identity', 0, 0, 0, 0);

CREATE TABLE identity_pairs (
    workspace_id bigint NOT NULL,
    anonymous_id text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    ts bigint NOT NULL,
    seq bigint NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    conflict integer NOT NULL,
    PRIMARY KEY (workspace_id, anonymous_id, user_id)
);
CREATE INDEX identity_pairs_user ON identity_pairs (workspace_id, user_id);
CREATE INDEX identity_conflicts ON identity_pairs (workspace_id, seq) WHERE conflict = 1;

CREATE TABLE identity_links (
    workspace_id bigint NOT NULL,
    anonymous_id text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, anonymous_id)
);
CREATE INDEX identity_links_user ON identity_links (workspace_id, user_id);

CREATE TABLE identity_facts (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    facts text NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE TABLE people (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    first_seen bigint NOT NULL,
    last_seen bigint NOT NULL,
    event_count bigint NOT NULL,
    status text NOT NULL,
    has_install integer NOT NULL,
    joined integer NOT NULL,
    revenue_events bigint NOT NULL,
    facts text NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX people_recent ON people (workspace_id, last_seen, kind, id);
CREATE INDEX people_id ON people (workspace_id, id);

CREATE TABLE identity_totals (
    workspace_id bigint PRIMARY KEY,
    users bigint NOT NULL,
    unlinked bigint NOT NULL,
    linked bigint NOT NULL,
    installs bigint NOT NULL,
    joined bigint NOT NULL,
    revenue_events bigint NOT NULL,
    unattributed bigint NOT NULL,
    conflicts bigint NOT NULL
);

CREATE TABLE event_index (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    ts bigint NOT NULL,
    solo integer NOT NULL,
    PRIMARY KEY (workspace_id, key, seq)
);
