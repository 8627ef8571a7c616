package dev.keymanager.store.jdbc;

import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.spi.KekHead;
import java.net.URI;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;

/** Maps {@link KekHead} to and from one row of the head table (schema version 2). */
final class HeadRows {
  /** Every column, in the order {@link #read} and {@link #bindValues} use. */
  static final String COLUMNS =
      "kek_id, state, primary_version, minimum_decryption_version, cmk_uri, updated_at_seconds,"
          + " updated_at_nanos, destroy_at_seconds, destroy_at_nanos, revision";

  /** {@code ?} for each of {@link #COLUMNS}. */
  static final String PLACEHOLDERS = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?";

  /** The assignments of an update: every column except the key. */
  static final String ASSIGNMENTS =
      "state = ?, primary_version = ?, minimum_decryption_version = ?, cmk_uri = ?,"
          + " updated_at_seconds = ?, updated_at_nanos = ?, destroy_at_seconds = ?,"
          + " destroy_at_nanos = ?, revision = ?";

  private HeadRows() {}

  /** Binds the key column then every other column, from parameter 1; returns the next index. */
  static int bindAll(PreparedStatement s, KekHead head) throws SQLException {
    s.setString(1, head.id());
    return bindValues(s, 2, head);
  }

  /** Binds {@link #ASSIGNMENTS}' columns from parameter {@code first}; returns the next index. */
  static int bindValues(PreparedStatement s, int first, KekHead head) throws SQLException {
    int i = first;
    s.setString(i++, head.state().name());
    s.setInt(i++, head.primaryVersion());
    s.setInt(i++, head.minimumDecryptionVersion());
    s.setString(i++, head.cmkUri().toString());
    s.setLong(i++, head.updatedAt().getEpochSecond());
    s.setInt(i++, head.updatedAt().getNano());
    if (head.destroyAt().isPresent()) {
      s.setLong(i++, head.destroyAt().get().getEpochSecond());
      s.setInt(i++, head.destroyAt().get().getNano());
    } else {
      s.setNull(i++, Types.BIGINT);
      s.setNull(i++, Types.INTEGER);
    }
    s.setLong(i++, head.revision());
    return i;
  }

  /**
   * The head in the current row.
   *
   * @throws KekStoreException (not retryable) if the row does not make a valid head
   */
  static KekHead read(ResultSet rs, TableNames names) throws SQLException {
    String id = rs.getString(1);
    try {
      long destroySeconds = rs.getLong(8);
      Instant destroyAt = rs.wasNull() ? null : Instant.ofEpochSecond(destroySeconds, rs.getInt(9));
      return KekHead.builder()
          .id(id)
          .state(KekState.valueOf(rs.getString(2)))
          .primaryVersion(rs.getInt(3))
          .minimumDecryptionVersion(rs.getInt(4))
          .cmkUri(new URI(rs.getString(5)))
          .updatedAt(Instant.ofEpochSecond(rs.getLong(6), rs.getInt(7)))
          .destroyAt(destroyAt)
          .revision(rs.getLong(10))
          .build();
    } catch (IllegalArgumentException
        | java.net.URISyntaxException
        | java.time.DateTimeException e) {
      throw KekStoreException.corrupt(
          "The head of KEK " + id + " in " + names + " is corrupt: " + e.getMessage(), e);
    }
  }
}
