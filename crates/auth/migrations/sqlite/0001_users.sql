-- Users. The email is personal data: only its ciphertext (envelope-encrypted)
-- and a keyed hash for lookup are stored, never the plaintext.
CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    email_hash       BLOB NOT NULL UNIQUE,
    email_ciphertext BLOB NOT NULL,
    password_hash    TEXT NOT NULL,
    bio              TEXT,
    image            TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
