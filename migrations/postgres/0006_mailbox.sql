-- The desk mailboxes: every message read from a unit's mailbox, keyed so that a message
-- is turned into a ticket (or a comment) once, even if marking it processed on the IMAP
-- server failed after the commit; and the files that came attached to tickets.
-- Times are milliseconds since the epoch.

CREATE TABLE mailbox_messages (
    unit          TEXT NOT NULL,
    -- The Message-ID header, or `sha256:` and the hash of the raw message without one.
    message_key   TEXT NOT NULL,
    ticket_id     TEXT NOT NULL REFERENCES incidents (id),
    -- `registered` (it opened the ticket) or `commented` (a reply added to it).
    outcome       TEXT NOT NULL,
    -- The sender as the message gave it, kept whether or not the registry knows them,
    -- so the desk can answer senders with no account.
    from_address  TEXT NOT NULL,
    from_name     TEXT,
    subject       TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    PRIMARY KEY (unit, message_key)
);
CREATE INDEX mailbox_messages_by_ticket ON mailbox_messages (ticket_id);

CREATE TABLE ticket_attachments (
    id            TEXT PRIMARY KEY,
    ticket_id     TEXT NOT NULL REFERENCES incidents (id),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    -- 0 when it was over the size limit: listed, its content not kept.
    stored        BIGINT NOT NULL,
    content       BYTEA,
    -- Who sent it (the sender's address) and when.
    sender        TEXT NOT NULL,
    added_at      BIGINT NOT NULL
);
CREATE INDEX ticket_attachments_by_ticket ON ticket_attachments (ticket_id, added_at);

-- Senders are matched to people by address, whatever its case, on every message.
CREATE INDEX people_by_email ON people (LOWER(email));
