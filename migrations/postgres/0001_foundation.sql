-- Foundation: sources, raw alerts, events, incidents and their links, API tokens.
-- Times are milliseconds since the Unix epoch (BIGINT), as in the SQLite schema, so
-- both stores answer the same SQL.

CREATE TABLE sources (
    name        TEXT PRIMARY KEY,
    description TEXT,
    created_at  BIGINT NOT NULL
);

-- Every accepted payload, byte for byte, for audit and replay.
CREATE TABLE raw_alerts (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL REFERENCES sources (name),
    received_at BIGINT NOT NULL,
    received_by TEXT NOT NULL,
    rule        TEXT NOT NULL,
    alert_count BIGINT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX raw_alerts_by_source ON raw_alerts (source, received_at);

CREATE TABLE incidents (
    id                TEXT PRIMARY KEY,
    source            TEXT NOT NULL REFERENCES sources (name),
    fingerprint       TEXT NOT NULL,
    status            TEXT NOT NULL,
    severity          TEXT NOT NULL,
    summary           TEXT NOT NULL,
    description       TEXT,
    opened_at         BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    event_count       BIGINT NOT NULL,
    alert_count       BIGINT NOT NULL,
    alerts_cleared_at BIGINT,
    resolved_at       BIGINT,
    resolution        TEXT,
    acked_at          BIGINT,
    acked_by          TEXT
);
-- One open incident per alert identity; terminal states free the slot.
CREATE UNIQUE INDEX incidents_one_open ON incidents (source, fingerprint)
    WHERE status NOT IN ('resolved', 'closed', 'canceled');
CREATE INDEX incidents_by_status ON incidents (status, id);

CREATE TABLE events (
    id                TEXT PRIMARY KEY,
    source            TEXT NOT NULL REFERENCES sources (name),
    fingerprint       TEXT NOT NULL,
    rule              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    severity          TEXT NOT NULL,
    summary           TEXT NOT NULL,
    description       TEXT,
    labels            TEXT NOT NULL,
    annotations       TEXT NOT NULL,
    ci_candidates     TEXT NOT NULL,
    alert_count       BIGINT NOT NULL,
    first_seen        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    starts_at         BIGINT,
    ends_at           BIGINT,
    resolved_at       BIGINT,
    previous_event_id TEXT REFERENCES events (id),
    last_raw_alert_id TEXT NOT NULL REFERENCES raw_alerts (id),
    acked_at          BIGINT,
    acked_by          TEXT
);
-- The rule that dedup relies on: one open event per (source, fingerprint).
CREATE UNIQUE INDEX events_one_open ON events (source, fingerprint) WHERE status = 'open';
CREATE INDEX events_by_fingerprint ON events (source, fingerprint, id);
CREATE INDEX events_by_status ON events (status, id);

CREATE TABLE incident_events (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    event_id    TEXT NOT NULL REFERENCES events (id),
    linked_at   BIGINT NOT NULL,
    PRIMARY KEY (incident_id, event_id)
);
CREATE INDEX incident_events_by_event ON incident_events (event_id);

-- Only a SHA-256 of each token is kept; the token itself is shown once.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
