package dev.keymanager.store.jdbc;

import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import java.net.URI;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;

/**
 * Maps {@link KeyEncryptionKey} to and from one row of schema version 1.
 *
 * <p>Instants are stored as epoch seconds plus nanoseconds, two integer columns, so every {@link
 * Instant} round-trips exactly; a SQL {@code TIMESTAMP} keeps microseconds at best.
 */
final class KekRows {
  /** Every column, in the order {@link #read} and {@link #bindValues} use. */
  static final String COLUMNS =
      "kek_id, kek_version, state, cmk_uri, wrapped_material, created_at_seconds,"
          + " created_at_nanos, updated_at_seconds, updated_at_nanos, destroy_at_seconds,"
          + " destroy_at_nanos, revision";

  /** {@code ?} for each of {@link #COLUMNS}. */
  static final String PLACEHOLDERS = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";

  /** The assignments of an update: every column except the key. */
  static final String ASSIGNMENTS =
      "state = ?, cmk_uri = ?, wrapped_material = ?, created_at_seconds = ?, created_at_nanos = ?,"
          + " updated_at_seconds = ?, updated_at_nanos = ?, destroy_at_seconds = ?,"
          + " destroy_at_nanos = ?, revision = ?";

  private KekRows() {}

  /** Binds the key columns then every other column, from parameter 1; returns the next index. */
  static int bindAll(PreparedStatement s, KeyEncryptionKey record) throws SQLException {
    s.setString(1, record.id());
    s.setInt(2, record.version());
    return bindValues(s, 3, record);
  }

  /** Binds {@link #ASSIGNMENTS}' columns from parameter {@code first}; returns the next index. */
  static int bindValues(PreparedStatement s, int first, KeyEncryptionKey record)
      throws SQLException {
    int i = first;
    s.setString(i++, record.state().name());
    s.setString(i++, record.cmkUri().toString());
    s.setBytes(i++, record.wrappedMaterial());
    i = bindInstant(s, i, record.createdAt());
    i = bindInstant(s, i, record.updatedAt());
    if (record.destroyAt().isPresent()) {
      i = bindInstant(s, i, record.destroyAt().get());
    } else {
      s.setNull(i++, Types.BIGINT);
      s.setNull(i++, Types.INTEGER);
    }
    s.setLong(i++, record.revision());
    return i;
  }

  /**
   * The record in the current row.
   *
   * @throws KekStoreException (not retryable) if the row does not make a valid record
   */
  static KeyEncryptionKey read(ResultSet rs, TableNames names) throws SQLException {
    String id = rs.getString(1);
    int version = rs.getInt(2);
    try {
      long destroySeconds = rs.getLong(10);
      Instant destroyAt =
          rs.wasNull() ? null : Instant.ofEpochSecond(destroySeconds, rs.getInt(11));
      return KeyEncryptionKey.builder()
          .id(id)
          .version(version)
          .state(KekState.valueOf(rs.getString(3)))
          .cmkUri(new URI(rs.getString(4)))
          .wrappedMaterial(rs.getBytes(5))
          .createdAt(Instant.ofEpochSecond(rs.getLong(6), rs.getInt(7)))
          .updatedAt(Instant.ofEpochSecond(rs.getLong(8), rs.getInt(9)))
          .destroyAt(destroyAt)
          .revision(rs.getLong(12))
          .build();
    } catch (IllegalArgumentException
        | java.net.URISyntaxException
        | java.time.DateTimeException e) {
      // The messages name fields and the URI, never the wrapped material.
      throw KekStoreException.corrupt(
          "KEK record " + id + " v" + version + " in " + names + " is corrupt: " + e.getMessage(),
          e);
    }
  }

  private static int bindInstant(PreparedStatement s, int i, Instant instant) throws SQLException {
    s.setLong(i, instant.getEpochSecond());
    s.setInt(i + 1, instant.getNano());
    return i + 2;
  }
}
