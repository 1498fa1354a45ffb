-- Users. The email is personal data: only its envelope-encrypted ciphertext
-- and a keyed hash (for lookup and uniqueness) are stored, never the plaintext.
CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    email_hash       BYTEA NOT NULL UNIQUE,
    email_ciphertext BYTEA NOT NULL,
    password_hash    TEXT NOT NULL,
    bio              TEXT,
    image            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- A session is one login; its refresh tokens form one rotation family.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT,
    user_agent     TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_revoked ON sessions (revoked_at);

-- Refresh tokens, stored only as SHA-256 hashes; single use.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Access tokens revoked one by one (RFC 7009), until they expire.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Brute-force state per account key (keyed hash of the email, so unknown
-- emails lock exactly like known ones).
CREATE TABLE account_lockouts (
    account_key  BYTEA PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locks        BIGINT NOT NULL,
    locked_until BIGINT
);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    ip         TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_by_user ON audit_events (user_id, at_ms);
