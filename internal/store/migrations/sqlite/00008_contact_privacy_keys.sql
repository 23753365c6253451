-- Contacts keep the privacy features their privacy index is computed from;
-- public keys say where they were found (api, wkd, dane, hkp, autocrypt)
-- and whether a DNS answer that gave one was DNSSEC-authenticated; the
-- hosted WKD serves the keys published for the users' own addresses, one
-- row per (address, key) in the binary form WKD answers with.

-- +goose Up
ALTER TABLE contacts ADD COLUMN privacy_features TEXT NOT NULL DEFAULT '{}';
ALTER TABLE public_keys ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE public_keys ADD COLUMN authenticated BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE wkd_keys (
    domain       TEXT NOT NULL,
    local_hash   TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    key_data     BLOB NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (domain, local_hash, key_id)
);
CREATE INDEX wkd_keys_owner ON wkd_keys (user_id, key_id);

-- +goose Down
DROP TABLE wkd_keys;
ALTER TABLE public_keys DROP COLUMN authenticated;
ALTER TABLE public_keys DROP COLUMN source;
ALTER TABLE contacts DROP COLUMN privacy_features;
