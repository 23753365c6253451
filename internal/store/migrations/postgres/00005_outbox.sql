-- The transactional outbox: publish/subscribe orders written in the same
-- transaction as the change they announce, and relayed to JetStream
-- afterwards (a row leaves once the stream has acknowledged it). id is the
-- order's Nats-Msg-Id; seq keeps the commit order; lease_until is when
-- another relay may take a row that its first publisher has not sent.
--
-- Idempotency keys of the API's creating requests: the first answer to a
-- (user, key) is kept until expires_at and replayed for the same request;
-- locked_until marks a request still being served.

-- +goose Up
CREATE TABLE outbox (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    subject     TEXT NOT NULL,
    data        BYTEA NOT NULL,
    header      TEXT NOT NULL DEFAULT '{}',
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
);
CREATE INDEX outbox_lease ON outbox (lease_until, seq);

CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,
    header       TEXT NOT NULL DEFAULT '{}',
    body         BYTEA,
    created_at   BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE outbox;
