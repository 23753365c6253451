-- The end of a remote account's rate-limit window: no sync calls its API
-- before it (X answers 429 with the time its window resets).

-- +goose Up
ALTER TABLE identities ADD COLUMN throttled_until BIGINT;

-- +goose Down
ALTER TABLE identities DROP COLUMN throttled_until;
