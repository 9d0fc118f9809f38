-- SLA clocks, computed from their own log of start / pause / resume / stop, each with the
-- frozen copy of the definition it started with; the monthly reports sent.
-- Times are milliseconds since the epoch; durations are business milliseconds.

CREATE TABLE sla_clocks (
    ticket_id       TEXT NOT NULL REFERENCES incidents (id),
    -- `acknowledge` (first human acceptance) or `resolve`.
    metric          TEXT NOT NULL,
    -- What the policy was chosen for: a change of either re-selects the target.
    kind            TEXT NOT NULL,
    priority        TEXT NOT NULL,
    -- JSON: the definition as it was when the clock started (policy name, target,
    -- calendar with its time zone, hours and holidays, warning thresholds).
    policy          TEXT NOT NULL,
    target_ms       BIGINT NOT NULL,
    started_at      BIGINT NOT NULL,
    -- 1 while the clock counts (started, not paused, not stopped).
    running         BIGINT NOT NULL,
    -- Business time counted up to `counted_to`.
    elapsed_ms      BIGINT NOT NULL,
    counted_to      BIGINT NOT NULL,
    -- When it was due with no pause, and when it is due now (pauses added); NULL while
    -- paused (it is not coming due).
    original_due_at BIGINT NOT NULL,
    due_at          BIGINT,
    stopped_at      BIGINT,
    -- Warnings sent: 0 none, 1 the first threshold (75 %), 2 the second (90 %).
    warned          BIGINT NOT NULL DEFAULT 0,
    -- When the elapsed time reached the target; the head is told once (`breach_notified`).
    breached_at     BIGINT,
    breach_notified BIGINT NOT NULL DEFAULT 0,
    -- When the SLA timers must look at it next (a warning or the breach); NULL when
    -- nothing can happen until it changes.
    next_check_at   BIGINT,
    PRIMARY KEY (ticket_id, metric)
);
CREATE INDEX sla_clocks_next_check ON sla_clocks (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX sla_clocks_by_stop ON sla_clocks (stopped_at);

CREATE TABLE sla_clock_events (
    id        TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES incidents (id),
    metric    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    -- start, pause, resume, stop, restart (a reopen), retarget (priority or kind changed).
    kind      TEXT NOT NULL,
    reason    TEXT
);
CREATE INDEX sla_clock_events_by_ticket ON sla_clock_events (ticket_id, metric, at);

-- Breached tickets are flagged on the ticket too, for listings.
ALTER TABLE incidents ADD COLUMN sla_breached BIGINT NOT NULL DEFAULT 0;

-- Monthly reports as sent: the JSON snapshot and its SHA-256, so the report a unit head
-- received can be proven later.
CREATE TABLE report_snapshots (
    id           TEXT PRIMARY KEY,
    unit         TEXT NOT NULL REFERENCES units (code),
    month        TEXT NOT NULL,
    generated_at BIGINT NOT NULL,
    body         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    sent_at      BIGINT,
    recipients   TEXT,
    UNIQUE (unit, month)
);
