-- CI registry, correlation and noise controls. Times are milliseconds since the epoch.
-- Flags are BIGINT 0/1, since sqlx's Any driver cannot read SQLite booleans.

CREATE TABLE units (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    head       TEXT,
    desk_email TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE config_items (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    unit        TEXT NOT NULL REFERENCES units (code),
    criticality TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX config_items_by_unit ON config_items (unit, id);

-- Identifiers are stored lower-cased: one CI per identifier, whatever case tools use.
CREATE TABLE ci_identifiers (
    identifier TEXT PRIMARY KEY,
    ci_id      TEXT NOT NULL REFERENCES config_items (id) ON DELETE CASCADE,
    position   BIGINT NOT NULL
);
CREATE INDEX ci_identifiers_by_ci ON ci_identifiers (ci_id);

CREATE TABLE ci_dependencies (
    ci_id      TEXT NOT NULL REFERENCES config_items (id) ON DELETE CASCADE,
    depends_on TEXT NOT NULL REFERENCES config_items (id),
    relation   TEXT NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (ci_id, depends_on)
);
CREATE INDEX ci_dependencies_by_target ON ci_dependencies (depends_on);

-- Bumped by every change of the registry or of the noise controls, so every replica
-- knows when its in-memory copy is out of date.
CREATE TABLE generations (
    name       TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO generations (name, generation) VALUES ('registry', 1), ('suppressions', 1);

CREATE TABLE maintenance_windows (
    id                 TEXT PRIMARY KEY,
    -- No foreign key: a window outlives the CI it was for, as a record.
    ci_id              TEXT NOT NULL,
    include_dependants BIGINT NOT NULL,
    starts_at          BIGINT NOT NULL,
    ends_at            BIGINT NOT NULL,
    reason             TEXT NOT NULL,
    author             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    canceled_at        BIGINT,
    replayed_at        BIGINT
);
CREATE INDEX maintenance_windows_by_end ON maintenance_windows (ends_at);

CREATE TABLE silences (
    id          TEXT PRIMARY KEY,
    matchers    TEXT NOT NULL,
    comment     TEXT NOT NULL,
    author      TEXT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    canceled_at BIGINT,
    replayed_at BIGINT
);
CREATE INDEX silences_by_end ON silences (ends_at);

-- Binding and noise controls on events.
ALTER TABLE events ADD COLUMN ci_id TEXT;
ALTER TABLE events ADD COLUMN unit TEXT;
-- What kept the event from opening an incident: `maintenance:<id>`, `silence:<id>`,
-- `threshold` or `flapping`; NULL when nothing did.
ALTER TABLE events ADD COLUMN held_by TEXT;
-- Recent firing times and state changes (JSON) for threshold and flapping rules.
ALTER TABLE events ADD COLUMN marks TEXT;
ALTER TABLE events ADD COLUMN flapping BIGINT NOT NULL DEFAULT 0;
-- How the event ended: `alert` (the tool said so) or `timeout`.
ALTER TABLE events ADD COLUMN resolved_by TEXT;
-- Few events are held at a time; the sweeper finds them by what holds them.
CREATE INDEX events_held ON events (held_by) WHERE held_by IS NOT NULL;

-- Root CI, owning unit, priority and merges on incidents.
ALTER TABLE incidents ADD COLUMN ci_id TEXT;
ALTER TABLE incidents ADD COLUMN unit TEXT;
ALTER TABLE incidents ADD COLUMN triage BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN impact TEXT;
ALTER TABLE incidents ADD COLUMN urgency TEXT;
ALTER TABLE incidents ADD COLUMN priority TEXT;
ALTER TABLE incidents ADD COLUMN merged_into TEXT REFERENCES incidents (id);
ALTER TABLE incidents ADD COLUMN closed_at BIGINT;
-- The CIs of its alerts (JSON list), kept with the row so correlation reads no links.
ALTER TABLE incidents ADD COLUMN cis TEXT;
-- Correlation reads the open incidents about a CI with a recent alert; incidents bound
-- to no CI never correlate, and stay out of the index (and its upkeep).
CREATE INDEX incidents_open_by_last_seen ON incidents (last_seen)
    WHERE status NOT IN ('resolved', 'closed', 'canceled') AND ci_id IS NOT NULL;

-- Why an event belongs to an incident: `origin`, `repeat` (same alert), `same_ci`,
-- `related` (a dependency's incident) or `merged`, with the explanation as JSON.
ALTER TABLE incident_events ADD COLUMN relation TEXT NOT NULL DEFAULT 'origin';
ALTER TABLE incident_events ADD COLUMN reason TEXT;

-- What happened to an incident, in order: opened, merged, merged_into, priority_changed.
CREATE TABLE incident_log (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX incident_log_by_incident ON incident_log (incident_id, id);
