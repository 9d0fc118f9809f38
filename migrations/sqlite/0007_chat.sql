-- The chat channel: who may use the bots, the messages already handled (a platform
-- retries its webhooks; a retried message opens no second ticket) and the senders the
-- bots refused. Times are milliseconds since the epoch.

-- A person's account on a chat platform (`telegram`, or a configured bot's name).
CREATE TABLE chat_identities (
    platform    TEXT NOT NULL,
    external_id TEXT NOT NULL,
    person      TEXT NOT NULL REFERENCES people (login),
    linked_by   TEXT NOT NULL,
    linked_at   BIGINT NOT NULL,
    PRIMARY KEY (platform, external_id)
);
-- One account per person and platform.
CREATE UNIQUE INDEX chat_identities_by_person ON chat_identities (person, platform);

-- Each message handled, once: its platform's key (Telegram's update_id, a bot's
-- message_id), the ticket it opened and the reply it got, sent again on a retry.
CREATE TABLE chat_messages (
    platform    TEXT NOT NULL,
    message_key TEXT NOT NULL,
    person      TEXT,
    outcome     TEXT NOT NULL,
    ticket_id   TEXT REFERENCES incidents (id),
    reply       TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (platform, message_key)
);

-- Messages from senders no person is linked to: who wrote, what (an excerpt), when.
CREATE TABLE chat_refusals (
    id          TEXT PRIMARY KEY,
    platform    TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name        TEXT,
    excerpt     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- A person's open tickets (`/estado`), newest first.
CREATE INDEX incidents_by_requester ON incidents (requester, opened_at)
    WHERE requester IS NOT NULL;
