package dev.keymanager.store.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekStoreException;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import org.junit.jupiter.api.Test;

/**
 * The SQLState table of {@link SqlFailures}, for the codes the PostgreSQL tests cannot provoke
 * cheaply (those they can are checked there, against the real server).
 */
class SqlFailuresTest {
  private static final TableNames NAMES = new TableNames("s", "t");

  @Test
  void serverStatesMapToTheirKind() {
    assertKind("53300", true, SqlFailures.Kind.RESOURCES, true); // too_many_connections
    assertKind("25006", true, SqlFailures.Kind.READ_ONLY, true); // read_only_sql_transaction
    assertKind("40P01", true, SqlFailures.Kind.DEADLOCK, true);
    assertKind("40002", true, SqlFailures.Kind.ROLLED_BACK, true); // integrity constraint rollback
    assertKind("55P03", true, SqlFailures.Kind.LOCK_NOT_AVAILABLE, true);
    assertKind("57P03", true, SqlFailures.Kind.CONNECTION_LOST, true);
    assertKind("28P01", false, SqlFailures.Kind.AUTHENTICATION, false); // invalid_password
    assertKind("3D000", false, SqlFailures.Kind.AUTHENTICATION, false); // no such database
    assertKind("XX000", true, SqlFailures.Kind.OTHER, false); // internal_error
  }

  @Test
  void anExhaustedPoolIsRetryableWhateverItsState() {
    KekStoreException e =
        SqlFailures.translate(
            "read KEK a v1",
            NAMES,
            new SQLTransientConnectionException("pool - Connection is not available"),
            false,
            false);

    assertThat(e.isRetryable()).isTrue();
    assertThat(e)
        .hasMessageContaining("could not obtain a database connection")
        .hasMessageContaining("SQLState none");
  }

  @Test
  void rejectedValuesKeepNeitherTheServerMessageNorTheDriverException() {
    SQLException server =
        new SQLException(
            "ERROR: new row violates check constraint\n  Detail: Failing row contains (\\x574150)",
            "23514");

    KekStoreException e = SqlFailures.translate("create KEK a v1", NAMES, server, true, true);

    assertThat(e.isRetryable()).isFalse();
    assertThat(e.getMessage()).doesNotContain("Failing row").doesNotContain("574150");
    assertThat(e.getCause()).isNotSameAs(server);
    assertThat(e.getCause().getMessage()).isEqualTo("SQLState 23514");
  }

  private static void assertKind(
      String state, boolean connected, SqlFailures.Kind kind, boolean retryable) {
    SQLException e = new SQLException("ERROR: something (" + state + ")", state);
    assertThat(SqlFailures.classify(e, state, connected)).as(state).isEqualTo(kind);
    KekStoreException translated =
        SqlFailures.translate("read KEK a v1", NAMES, e, connected, false);
    assertThat(translated.isRetryable()).as("%s retryable", state).isEqualTo(retryable);
    assertThat(translated).hasMessageContaining(state).hasMessageContaining("s.t");
  }
}
