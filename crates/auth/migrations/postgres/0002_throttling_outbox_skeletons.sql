-- Brute-force budgets are kept per account and per (account, client) pair in
-- account_lockouts; updated_at lets old rows be pruned.
ALTER TABLE account_lockouts ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX account_lockouts_by_updated ON account_lockouts (updated_at);

-- A client (address, keyed with the account) that logged in to an account
-- recently: an attacker's failures on that account do not hold it back.
CREATE TABLE known_clients (
    pair_key        BYTEA PRIMARY KEY,
    last_success_at BIGINT NOT NULL
);
CREATE INDEX known_clients_by_last_success ON known_clients (last_success_at);

-- Messages to users that a mailer sends (e.g. "your email was changed", to
-- the old address). The address is envelope-encrypted like the user's own.
CREATE TABLE email_outbox (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    recipient_ciphertext BYTEA NOT NULL,
    created_at           BIGINT NOT NULL,
    sent_at              BIGINT
);

CREATE INDEX audit_events_by_time ON audit_events (at_ms);

-- What a username looks like (Unicode TR39 skeleton of its lowercase NFKC
-- form): names a reader cannot tell apart ("alice", "аlice" with a Cyrillic а)
-- cannot both be registered. Filled for earlier users at start.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_by_username_skeleton ON users (username_skeleton);
