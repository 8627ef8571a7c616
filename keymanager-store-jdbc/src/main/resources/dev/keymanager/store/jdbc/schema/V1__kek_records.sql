-- keymanager-store-jdbc schema version 1: one row per KEK version.
-- Timestamps are epoch seconds + nanoseconds, so they round-trip to the nanosecond.
-- The CHECK constraints repeat KeyEncryptionKey's invariants, so no statement can leave a
-- half-made record. The state is a KekState name; the list is not repeated here, so that a
-- library release adding a state needs no schema migration.
CREATE TABLE ${table} (
  kek_id             VARCHAR(255) COLLATE "C" NOT NULL,
  kek_version        INTEGER      NOT NULL CHECK (kek_version >= 1),
  state              VARCHAR(32)  NOT NULL CHECK (state ~ '^[A-Z_]+$'),
  cmk_uri            TEXT         NOT NULL,
  wrapped_material   BYTEA        NOT NULL,
  created_at_seconds BIGINT       NOT NULL,
  created_at_nanos   INTEGER      NOT NULL CHECK (created_at_nanos BETWEEN 0 AND 999999999),
  updated_at_seconds BIGINT       NOT NULL,
  updated_at_nanos   INTEGER      NOT NULL CHECK (updated_at_nanos BETWEEN 0 AND 999999999),
  destroy_at_seconds BIGINT,
  destroy_at_nanos   INTEGER               CHECK (destroy_at_nanos BETWEEN 0 AND 999999999),
  revision           BIGINT       NOT NULL CHECK (revision >= 1),
  PRIMARY KEY (kek_id, kek_version),
  CHECK ((destroy_at_seconds IS NULL) = (destroy_at_nanos IS NULL)),
  CHECK ((state = 'PENDING_DESTRUCTION') = (destroy_at_seconds IS NOT NULL)),
  CHECK ((state = 'DESTROYED') = (octet_length(wrapped_material) = 0))
);

CREATE TABLE ${version_table} (
  version     INTEGER      PRIMARY KEY,
  description VARCHAR(200) NOT NULL,
  applied_at  TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO ${version_table} (version, description) VALUES (1, 'KEK records');
