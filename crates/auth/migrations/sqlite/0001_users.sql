-- Users. The email is personal data: only its envelope-encrypted ciphertext
-- and a keyed hash (for lookup and uniqueness) are stored, never the plaintext.
CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    email_hash       BLOB NOT NULL UNIQUE,
    email_ciphertext BLOB NOT NULL,
    password_hash    TEXT NOT NULL,
    bio              TEXT,
    image            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- A session is one login; its refresh tokens form one rotation family.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT,
    user_agent     TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_revoked ON sessions (revoked_at);

-- Refresh tokens, stored only as SHA-256 hashes; single use.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Access tokens revoked one by one (RFC 7009), until they expire.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

-- Brute-force state per account key (keyed hash of the email, so unknown
-- emails lock exactly like known ones).
CREATE TABLE account_lockouts (
    account_key  BLOB PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locks        INTEGER NOT NULL,
    locked_until INTEGER
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms      INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_by_user ON audit_events (user_id, at_ms);
