-- Schema version 1 as commit 694bc99 created it (V1__kek_records.sql), then its rows.
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

-- Rows of schema version 1 (before KEK heads), written by commit 694bc99's
-- key manager: the same records as the golden file store golden/file-store-v1.
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-disabled', 1, 'DISABLED', 'fake-kms://golden-a', '\x0138c5c034a2847b8738839d33356a9d0758adbe5a8fc5ec41d47b04f19d84ef727a103183c2be760501fe490f1752b4fe78e3575312d269a8975ddb1f', 1796040005, 0, 1796040006, 0, NULL, NULL, 2);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-disabled', 2, 'DISABLED', 'fake-kms://golden-a', '\x014e5a15c1fba3edd0e94406751a9926cb0a05bb8be05769b13bbfb17aef3f6abad0a30e4e7dda862b63ec2a6ffed80f90f1e2c50854a73d541bd56f97', 1796040006, 0, 1796040006, 0, NULL, NULL, 2);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-enabled', 1, 'ENABLED', 'fake-kms://golden-a', '\x0137c8a7cbf5a9fac76958538b8227fb95f722b0a44b806a6f3403d638b107208b759750f8741f468fa79501e38fbd00979a2e8aafc8f5b3ff3ad3d028', 1796040000, 0, 1796040000, 0, NULL, NULL, 1);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-enabled', 2, 'ENABLED', 'fake-kms://golden-a', '\x01fae428cf46c1499036f2ad81805f7cb52c532b64c13c13686d7c18e676638380846466d538fffd2f692fc7db82ba16d387dd148759ab31693c2adfdb', 1796040001, 0, 1796040001, 0, NULL, NULL, 1);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-moved', 1, 'ENABLED', 'fake-kms://golden-b', '\x01d7e5d76f6948b2a445e5c631ca7bf183d61155444cafdfb58384fe9e429492170896efdda8c0219cd9bbea5699f45dfcbdaaa1f5dbc1082b4ca18159', 1796040009, 0, 1796040010, 0, NULL, NULL, 2);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-pending', 1, 'PENDING_DESTRUCTION', 'fake-kms://golden-a', '\x01b09b75a187f5cb174cb06d368c2d064599f40264cc1ae919ef47dd7b580a510a8cd021637ae40d136fc595afcbef99f63a25bd52e0f2cf8a9671cb3c', 1796040007, 0, 1796040008, 0, 1798632008, 0, 2);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-retired', 1, 'RETIRED', 'fake-kms://golden-a', '\x014f43b0614a4c3b7c4a5a925f0ad2a60c47462edafc1c087a9790cb14dee0ce6d453faa4f470f14883e53a2340f03eb441339c7a8f6fdb52547ebb79c', 1796040002, 0, 1796040005, 0, NULL, NULL, 2);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-retired', 2, 'ENABLED', 'fake-kms://golden-a', '\x01835b29807560a33112cdaf81206b32f2e104071d2b89ec9f73e106acbfa486a6ac7ae133234b6706e58a87016225a366117012d4a3165c9d2e0a711a', 1796040003, 0, 1796040003, 0, NULL, NULL, 1);
INSERT INTO ${table} (kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds, created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision) VALUES ('golden-retired', 3, 'ENABLED', 'fake-kms://golden-a', '\x0124eb91516e302254d602d1d287df9f43d15293938f1a57507ae267e0770ee57f301f09662ad84c17618dc5525c3dcd2111d1a12c6898c35c2df8ae6a', 1796040004, 0, 1796040004, 0, NULL, NULL, 1);
