-- The service-desk procedure: tickets (the incidents table holds every kind), people's
-- availability and language, person tokens, tier-3 groups, approvals, comments, the
-- audit chain and the notification outbox. Times are milliseconds since the epoch.

-- Tickets registered by people come from the `desk` source; their fingerprint is their id.
INSERT INTO sources (name, description, created_at)
    VALUES ('desk', 'Tickets registered by people at the service desk', 0);

ALTER TABLE incidents ADD COLUMN kind TEXT NOT NULL DEFAULT 'incident';
ALTER TABLE incidents ADD COLUMN hold_reason TEXT;
ALTER TABLE incidents ADD COLUMN tier BIGINT;
ALTER TABLE incidents ADD COLUMN group_id TEXT;
ALTER TABLE incidents ADD COLUMN assignee TEXT;
-- 1 while the ticket waits in the central desk's queue (its unit has no tier-1 technician).
ALTER TABLE incidents ADD COLUMN central_desk BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN requester TEXT;
ALTER TABLE incidents ADD COLUMN registered_by TEXT;
ALTER TABLE incidents ADD COLUMN channel TEXT;
ALTER TABLE incidents ADD COLUMN category TEXT;
ALTER TABLE incidents ADD COLUMN held_at BIGINT;
ALTER TABLE incidents ADD COLUMN resume_at BIGINT;
ALTER TABLE incidents ADD COLUMN due_at BIGINT;
ALTER TABLE incidents ADD COLUMN reassignments BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN reopens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN solution TEXT;
ALTER TABLE incidents ADD COLUMN resolution_code TEXT;
ALTER TABLE incidents ADD COLUMN problem_id TEXT REFERENCES incidents (id);
ALTER TABLE incidents ADD COLUMN problem_requested BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN duplicate_of TEXT REFERENCES incidents (id);
ALTER TABLE incidents ADD COLUMN cancel_reason TEXT;
CREATE INDEX incidents_open_by_assignee ON incidents (assignee)
    WHERE status NOT IN ('resolved', 'closed', 'canceled');
-- The desk's timers: tickets to assign, to resume, to close.
CREATE INDEX incidents_desk_timers ON incidents (status, resume_at)
    WHERE status IN ('new', 'on_hold', 'resolved');
CREATE INDEX incidents_by_problem ON incidents (problem_id) WHERE problem_id IS NOT NULL;

ALTER TABLE people ADD COLUMN available BIGINT NOT NULL DEFAULT 1;
ALTER TABLE people ADD COLUMN language TEXT NOT NULL DEFAULT 'es';
-- For tier-3 contacts from outside the ministry (a vendor's name).
ALTER TABLE people ADD COLUMN organization TEXT;
-- Round-robin among technicians with the same open work.
ALTER TABLE people ADD COLUMN last_assigned_at BIGINT;

-- A person's token takes its role, unit and tier from the person, so changes apply at once.
ALTER TABLE api_tokens ADD COLUMN person TEXT REFERENCES people (login);

-- Tier-3 groups a unit head forms: specialists and vendor contacts.
CREATE TABLE desk_groups (
    id         TEXT PRIMARY KEY,
    unit       TEXT NOT NULL REFERENCES units (code),
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE desk_group_members (
    group_id TEXT NOT NULL REFERENCES desk_groups (id),
    login    TEXT NOT NULL REFERENCES people (login),
    PRIMARY KEY (group_id, login)
);

CREATE TABLE ticket_comments (
    id        TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES incidents (id),
    author    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX ticket_comments_by_ticket ON ticket_comments (ticket_id, at);

CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    ticket_id    TEXT NOT NULL REFERENCES incidents (id),
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    request      TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   BIGINT,
    decision     TEXT,
    comment      TEXT
);
CREATE INDEX approvals_by_ticket ON approvals (ticket_id, requested_at);

-- Append-only: every change to a ticket, each record carrying the hash of the one before.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    ticket_id  TEXT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT,
    comment    TEXT,
    request_id TEXT,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_log_by_ticket ON audit_log (ticket_id, seq);
-- The chain's head: one row, locked by every append so records chain in order, and
-- remembered so removing the newest records is detected too.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY,
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Notifications to send: written in the ticket change's transaction, sent afterwards
-- with retries, so a failing mail server never blocks or undoes a change.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL,
    topic           TEXT NOT NULL,
    ticket_id       TEXT,
    recipient       TEXT NOT NULL,
    subject         TEXT,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    sent_at         BIGINT,
    failed_at       BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_by_ticket ON outbox (ticket_id);
