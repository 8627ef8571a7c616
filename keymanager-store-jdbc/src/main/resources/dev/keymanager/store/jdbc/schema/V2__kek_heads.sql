-- keymanager-store-jdbc schema version 2: one head row per KEK, which orders every KEK-wide change
-- (state, primary version, minimum decryption version, destruction time, CMK of new versions).
-- KEKs written at version 1 have no head row until their first change; their version rows are
-- read as they are. The CHECK constraints repeat KekHead's invariants.
CREATE TABLE ${head_table} (
  kek_id                     VARCHAR(255) COLLATE "C" PRIMARY KEY,
  state                      VARCHAR(32)  NOT NULL CHECK (state ~ '^[A-Z_]+$' AND state <> 'RETIRED'),
  primary_version            INTEGER      NOT NULL CHECK (primary_version >= 1),
  minimum_decryption_version INTEGER      NOT NULL,
  cmk_uri                    TEXT         NOT NULL,
  updated_at_seconds         BIGINT       NOT NULL,
  updated_at_nanos           INTEGER      NOT NULL CHECK (updated_at_nanos BETWEEN 0 AND 999999999),
  destroy_at_seconds         BIGINT,
  destroy_at_nanos           INTEGER               CHECK (destroy_at_nanos BETWEEN 0 AND 999999999),
  revision                   BIGINT       NOT NULL CHECK (revision >= 1),
  CHECK (minimum_decryption_version BETWEEN 1 AND primary_version),
  CHECK ((destroy_at_seconds IS NULL) = (destroy_at_nanos IS NULL)),
  CHECK ((state = 'PENDING_DESTRUCTION') = (destroy_at_seconds IS NOT NULL))
);

INSERT INTO ${version_table} (version, description) VALUES (2, 'KEK heads');
