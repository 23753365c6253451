-- The ids of a user's correspondents on a protocol whose messages are
-- addressed by id (an X user id beside the username): learnt from synced
-- messages and earlier lookups, so that sending does not ask again.

-- +goose Up
CREATE TABLE remote_handles (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    protocol   TEXT NOT NULL,
    address    TEXT NOT NULL,
    remote_id  TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, protocol, address)
);

-- +goose Down
DROP TABLE remote_handles;
