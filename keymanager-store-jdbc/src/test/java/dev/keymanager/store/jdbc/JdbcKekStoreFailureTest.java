package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static dev.keymanager.store.jdbc.TestRecords.next;
import static dev.keymanager.store.jdbc.TestRecords.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Real failures on a real server: a backend killed with {@code pg_terminate_backend} in the middle
 * of a write, statement timeouts (the store's and the server's), a serialization failure, an
 * unreachable server, a dropped table, a corrupt row. Each becomes a {@link KekStoreException} with
 * the right {@link KekStoreException#isRetryable()}, and no record is ever left half-written.
 *
 * <p>To catch a statement mid-flight, the test holds a row lock from its own connection, waits
 * until the server reports the store's backend blocked on it, and then strikes.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class JdbcKekStoreFailureTest {
  private static final String APP = "failure-store";
  private static final String SERIALIZABLE_APP = "failure-serializable";
  private static final String TIMEOUT_APP = "failure-server-timeout";

  private static HikariDataSource pool;
  private static HikariDataSource serializablePool;
  private static HikariDataSource serverTimeoutPool;

  private final ExecutorService executor = Executors.newSingleThreadExecutor();
  private String schema;
  private TableNames names;
  private JdbcKekStore store;
  private Connection blocker;
  private Connection observer;

  @BeforeAll
  static void openPools() {
    pool = server().pool(APP, 2, config -> {});
    serializablePool =
        server()
            .pool(
                SERIALIZABLE_APP,
                2,
                config -> config.setTransactionIsolation("TRANSACTION_SERIALIZABLE"));
    // A limit a DBA set on the server side, rather than the store's own query timeout.
    serverTimeoutPool =
        server()
            .pool(
                TIMEOUT_APP,
                2,
                config -> config.setConnectionInitSql("SET statement_timeout = 200"));
  }

  @AfterAll
  static void closePools() {
    pool.close();
    serializablePool.close();
    serverTimeoutPool.close();
  }

  @BeforeEach
  void createSchema() throws SQLException {
    schema = server().newSchema();
    names = new TableNames(schema, JdbcKekStore.Builder.DEFAULT_TABLE);
    store = JdbcKekStore.builder().dataSource(pool).schema(schema).build();
    blocker = server().connect();
    observer = server().connect();
  }

  @AfterEach
  void cleanUp() throws Exception {
    executor.shutdownNow();
    assertThat(executor.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
    blocker.close();
    observer.close();
    store.close();
  }

  @Test
  void connectionKilledDuringCompareAndSetIsRetryableAndLeavesTheOldRecord() throws Exception {
    KeyEncryptionKey v1 = record("killed-cas", 1);
    assertThat(store.create(v1)).isTrue();
    lockRow(v1);

    Future<Boolean> cas = executor.submit(() -> store.compareAndSet(1, next(v1)));
    Blocking.terminate(observer, Blocking.awaitBlockedBackend(observer, APP));
    blocker.rollback();

    KekStoreException e = failureOf(cas);
    assertThat(e.isRetryable()).isTrue();
    assertThat(e)
        .hasMessageContaining("update KEK killed-cas v1")
        .hasMessageContaining("connection was lost")
        .hasMessageContaining("may or may not have been applied");
    assertNoMaterialIn(e, v1);
    // The pool dropped the dead connection; the next call works and sees the whole old record.
    assertThat(store.find("killed-cas", 1)).contains(v1);
    assertThat(store.compareAndSet(1, next(v1))).isTrue();
  }

  @Test
  void connectionKilledDuringCreateIsRetryableAndLeavesNoRecord() throws Exception {
    KeyEncryptionKey v1 = record("killed-create", 1);
    // An uncommitted insert of the same key makes the store's insert wait for its outcome.
    blocker.setAutoCommit(false);
    insertRaw(blocker, record("killed-create", 1));

    Future<Boolean> create = executor.submit(() -> store.create(v1));
    Blocking.terminate(observer, Blocking.awaitBlockedBackend(observer, APP));
    blocker.rollback();

    KekStoreException e = failureOf(create);
    assertThat(e.isRetryable()).isTrue();
    assertThat(e).hasMessageContaining("create KEK killed-create v1").hasMessageContaining("57P01");
    assertThat(store.find("killed-create", 1)).isEmpty();
    assertThat(store.versions("killed-create")).isEmpty();
    assertThat(store.create(v1)).isTrue();
    assertThat(store.find("killed-create", 1)).contains(v1);
  }

  @Test
  void queryTimeoutIsRetryableAndLeavesTheOldRecord() throws Exception {
    JdbcKekStore impatient =
        JdbcKekStore.builder()
            .dataSource(pool)
            .schema(schema)
            .schemaMode(SchemaMode.VALIDATE)
            .queryTimeout(Duration.ofMillis(1)) // rounded up to JDBC's 1 second
            .build();
    KeyEncryptionKey v1 = record("slow", 1);
    assertThat(impatient.create(v1)).isTrue();
    lockRow(v1);

    assertThatThrownBy(() -> impatient.compareAndSet(1, next(v1)))
        .isInstanceOfSatisfying(KekStoreException.class, e -> assertThat(e.isRetryable()).isTrue())
        .hasMessageContaining("timed out")
        .hasMessageContaining("57014")
        .hasMessageContaining("Nothing was written");
    blocker.rollback();

    assertThat(impatient.find("slow", 1)).contains(v1);
    assertThat(impatient.compareAndSet(1, next(v1))).isTrue();
  }

  @Test
  void serverStatementTimeoutIsRetryable() throws Exception {
    JdbcKekStore limited =
        JdbcKekStore.builder()
            .dataSource(serverTimeoutPool)
            .schema(schema)
            .schemaMode(SchemaMode.VALIDATE)
            .build();
    KeyEncryptionKey v1 = record("server-limit", 1);
    assertThat(limited.create(v1)).isTrue();
    lockRow(v1);

    assertThatThrownBy(() -> limited.compareAndSet(1, next(v1)))
        .isInstanceOfSatisfying(KekStoreException.class, e -> assertThat(e.isRetryable()).isTrue())
        .hasMessageContaining("timed out");
    blocker.rollback();

    assertThat(limited.find("server-limit", 1)).contains(v1);
  }

  @Test
  void serializationFailureIsRetryableAndTheRetryLosesCleanly() throws Exception {
    JdbcKekStore serializable =
        JdbcKekStore.builder()
            .dataSource(serializablePool)
            .schema(schema)
            .schemaMode(SchemaMode.VALIDATE)
            .build();
    KeyEncryptionKey v1 = record("serial", 1);
    assertThat(serializable.create(v1)).isTrue();
    // Another writer changes the record and has not committed yet.
    KeyEncryptionKey theirs = v1.toBuilder().revision(2).state(KekState.DISABLED).build();
    blocker.setAutoCommit(false);
    try (PreparedStatement s =
        blocker.prepareStatement(
            "UPDATE "
                + names.qualifiedTable()
                + " SET state = 'DISABLED', revision = 2 WHERE kek_id = ? AND kek_version = 1")) {
      s.setString(1, "serial");
      assertThat(s.executeUpdate()).isEqualTo(1);
    }

    Future<Boolean> cas = executor.submit(() -> serializable.compareAndSet(1, next(v1)));
    Blocking.awaitBlockedBackend(observer, SERIALIZABLE_APP);
    blocker.commit();

    KekStoreException e = failureOf(cas);
    assertThat(e.isRetryable()).isTrue();
    assertThat(e).hasMessageContaining("serialization failure").hasMessageContaining("40001");
    assertThat(serializable.find("serial", 1)).contains(theirs);
    // Retrying, as the exception invites, now loses cleanly: the revision moved on.
    assertThat(serializable.compareAndSet(1, next(v1))).isFalse();
    assertThat(serializable.find("serial", 1)).contains(theirs);
  }

  @Test
  void unreachableServerIsRetryable() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = socket.getLocalPort();
    } // closed: nothing listens on the port any more
    UrlDataSource nowhere =
        new UrlDataSource("jdbc:postgresql://127.0.0.1:" + port + "/postgres?connectTimeout=5");

    assertThatThrownBy(() -> JdbcKekStore.builder().dataSource(nowhere).schema(schema).build())
        .isInstanceOfSatisfying(KekStoreException.class, e -> assertThat(e.isRetryable()).isTrue())
        .hasMessageContaining("could not obtain a database connection")
        .hasMessageContaining("08001");
  }

  @Test
  void droppedTableIsNotRetryable() throws Exception {
    try (Statement s = blocker.createStatement()) {
      s.execute("DROP TABLE " + names.qualifiedTable());
    }

    assertThatThrownBy(() -> store.find("gone", 1))
        .isInstanceOfSatisfying(KekStoreException.class, e -> assertThat(e.isRetryable()).isFalse())
        .hasMessageContaining("table is missing")
        .hasMessageContaining("42P01");
  }

  @Test
  void corruptRowIsNotRetryableAndNamesTheRecord() throws Exception {
    KeyEncryptionKey v1 = record("corrupt", 1);
    assertThat(store.create(v1)).isTrue();
    try (PreparedStatement s =
        blocker.prepareStatement(
            "UPDATE " + names.qualifiedTable() + " SET cmk_uri = 'not a uri' WHERE kek_id = ?")) {
      s.setString(1, "corrupt");
      s.executeUpdate();
    }

    KekStoreException e =
        (KekStoreException)
            org.assertj.core.api.Assertions.catchThrowable(() -> store.find("corrupt", 1));
    assertThat(e.isRetryable()).isFalse();
    assertThat(e).hasMessageContaining("corrupt v1").hasMessageContaining("is corrupt");
    assertNoMaterialIn(e, v1);
  }

  @Test
  void rejectedValuesAreNotRetryableAndTheServerDetailNeverQuotesMaterial() throws Exception {
    // A DBA's extra constraint makes the server reject a row and describe it ("Failing row
    // contains (...)", wrapped material included) in the error detail.
    try (Statement s = blocker.createStatement()) {
      s.execute(
          "ALTER TABLE "
              + names.qualifiedTable()
              + " ADD CONSTRAINT no_forbidden CHECK (cmk_uri <> 'fake-kms://forbidden')");
    }
    KeyEncryptionKey forbidden =
        record("rejected", 1).toBuilder().cmkUri(URI.create("fake-kms://forbidden")).build();

    KekStoreException e =
        (KekStoreException)
            org.assertj.core.api.Assertions.catchThrowable(() -> store.create(forbidden));
    assertThat(e.isRetryable()).isFalse();
    assertThat(e)
        .hasMessageContaining("rejected the record's values")
        .hasMessageContaining("23514");
    assertNoMaterialIn(e, forbidden);
    assertThat(store.find("rejected", 1)).isEmpty();
  }

  private void lockRow(KeyEncryptionKey record) throws SQLException {
    blocker.setAutoCommit(false);
    try (PreparedStatement s =
        blocker.prepareStatement(
            "SELECT revision FROM "
                + names.qualifiedTable()
                + " WHERE kek_id = ? AND kek_version = ? FOR UPDATE")) {
      s.setString(1, record.id());
      s.setInt(2, record.version());
      assertThat(s.executeQuery().next()).isTrue();
    }
  }

  private void insertRaw(Connection c, KeyEncryptionKey record) throws SQLException {
    try (PreparedStatement s =
        c.prepareStatement(
            "INSERT INTO "
                + names.qualifiedTable()
                + " ("
                + KekRows.COLUMNS
                + ") VALUES ("
                + KekRows.PLACEHOLDERS
                + ")")) {
      KekRows.bindAll(s, record);
      assertThat(s.executeUpdate()).isEqualTo(1);
    }
  }

  private static KekStoreException failureOf(Future<?> call) throws Exception {
    try {
      Object result = call.get(30, TimeUnit.SECONDS);
      throw new AssertionError("expected a KekStoreException, got " + result);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(KekStoreException.class);
      return (KekStoreException) e.getCause();
    }
  }

  /** The wrapped material, as text, hex or escaped bytea, is nowhere in the exception's trace. */
  private static void assertNoMaterialIn(Throwable e, KeyEncryptionKey record) {
    StringWriter trace = new StringWriter();
    e.printStackTrace(new PrintWriter(trace));
    String text = trace.toString();
    byte[] material = record.wrappedMaterial();
    assertThat(text)
        .doesNotContain(new String(material, java.nio.charset.StandardCharsets.UTF_8))
        .doesNotContainIgnoringCase(HexFormat.of().formatHex(material))
        .doesNotContain("WRAPPED-MATERIAL");
  }
}
