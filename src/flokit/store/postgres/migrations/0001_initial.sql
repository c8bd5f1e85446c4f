-- FloKit's PostgreSQL schema, version 1: the SQLite schema's tables, one for one.
-- Identifiers and keys use the "C" collation: byte order, as SQLite compares text, and the
-- cheapest comparisons for the primary-key and unique indexes every write walks.

CREATE TABLE workspaces (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id text COLLATE "C" NOT NULL UNIQUE,
    name text NOT NULL,
    created_us bigint NOT NULL,
    requests_per_minute integer
);

CREATE TABLE api_keys (
    key_id text COLLATE "C" PRIMARY KEY,
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    key_hash text COLLATE "C" NOT NULL UNIQUE,
    kind text NOT NULL CHECK (kind IN ('read_write', 'read_only')),
    created_us bigint NOT NULL,
    revoked_us bigint
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

-- Append-only; seq and the time-ordered event_id grow at the right edge of their indexes.
-- Properties are the compact JSON text as received, kept byte for byte (not jsonb).
CREATE TABLE events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL,
    event_id text COLLATE "C" NOT NULL UNIQUE,
    event text NOT NULL,
    user_id text,
    anonymous_id text,
    timestamp_us bigint NOT NULL,
    received_us bigint NOT NULL,
    properties text,
    insert_id text
);
CREATE INDEX events_workspace_seq ON events (workspace_id, seq);

-- Duplicate keys (contract §5): 'i:<insert_id>' expire, 't:<event>\x1f<txn>' never do (NULL).
CREATE TABLE dedup_keys (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    expires_us bigint,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX dedup_keys_expiry ON dedup_keys (expires_us) WHERE expires_us IS NOT NULL;

-- Idempotency-Key responses (contract §6), committed with the request's events.
CREATE TABLE idempotency (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    fingerprint bytea NOT NULL,
    status integer NOT NULL,
    body bytea NOT NULL,
    headers text NOT NULL,
    expires_us bigint NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_expiry ON idempotency (expires_us);

-- CSV import jobs (contract §10); (stored_ts, stored_row) is the store phase's resume point.
CREATE TABLE imports (
    id text COLLATE "C" PRIMARY KEY,
    workspace_id bigint NOT NULL,
    status text NOT NULL,
    dry_run boolean NOT NULL,
    file_sha256 text COLLATE "C" NOT NULL,
    file_bytes bigint NOT NULL,
    file_name text,
    duplicate_of text COLLATE "C",
    rows_total bigint,
    rows_processed bigint NOT NULL,
    accepted bigint NOT NULL,
    rejected bigint NOT NULL,
    duplicates bigint NOT NULL,
    errors text NOT NULL,
    failure text,
    phase text NOT NULL,
    stored_ts bigint NOT NULL,
    stored_row bigint NOT NULL,
    created_us bigint NOT NULL,
    started_us bigint,
    finished_us bigint,
    heartbeat_us bigint
);
CREATE INDEX imports_workspace ON imports (workspace_id, created_us);
CREATE INDEX imports_file ON imports (workspace_id, file_sha256);
-- What claim_import scans: the few jobs not finished, oldest first.
CREATE INDEX imports_unfinished ON imports (created_us) WHERE status IN ('queued', 'running');

-- Rate-limit buckets and in-flight markers: shared by every node, not worth a WAL record
-- (a crash forgets a few seconds of spending and the requests that were running anyway).
CREATE UNLOGGED TABLE rate_buckets (
    workspace_id bigint PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_s double precision NOT NULL,
    capacity integer NOT NULL
);

CREATE UNLOGGED TABLE inflight (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    fingerprint bytea NOT NULL,
    token text NOT NULL,
    expires_us bigint NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX inflight_expiry ON inflight (expires_us);
