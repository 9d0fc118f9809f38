-- The people of the desk, as the registry file lists them: who they are, their unit,
-- their role (admin, unit_head, technician, requester) and a technician's tier.
CREATE TABLE people (
    login      TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    unit       TEXT NOT NULL REFERENCES units (code),
    role       TEXT NOT NULL,
    tier       BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX people_by_unit ON people (unit, login);
