-- Login sessions of the API. A session is found by the SHA-256 of its token
-- (hex); the token itself is never stored. Timestamps as in 00001.

-- +goose Up
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, expires_at);

-- +goose Down
DROP TABLE sessions;
