package dev.keymanager.store.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.DataKey;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.testkit.FakeKms;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PostgreSQL actually stopped during cache misses, with HikariCP as a deployment runs it: every
 * call that needs the store fails with a retryable {@link KekStoreException} within the configured
 * bound, never a {@link KmsUnavailableException}, no KMS call is made, and once the server is
 * started again on the same port and data directory, the same key managers work again with nothing
 * rebuilt.
 *
 * <p>This test runs its own server (the shared one serves every other test class), stopped and
 * started with a fast shutdown, as an operator's restart or a crash would.
 */
class StoreOutageTest {
  private static final URI CMK = FakeKms.cmk("outage");
  private static final KeyContext CONTEXT = KeyContext.of(Map.of("table", "orders"));

  /** The key manager's bound on a miss. */
  private static final Duration LOAD_TIMEOUT = Duration.ofSeconds(5);

  /** The pool's, below it, as docs/store-jdbc.md says to configure. */
  private static final long CONNECTION_TIMEOUT_MS = 1_000;

  /** Slack for a loaded 2-core machine; the assertion is about the order of magnitude. */
  private static final Duration SLACK = Duration.ofSeconds(10);

  @TempDir Path temp;

  private final FakeKms kms = new FakeKms();
  private final List<AutoCloseable> closeLast = new ArrayList<>();
  private final Map<KeyManager, HikariDataSource> poolOf = new java.util.IdentityHashMap<>();
  private int port;
  private EmbeddedPostgres postgres;

  @BeforeEach
  void startServer() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    postgres = start();
  }

  @AfterEach
  void stopEverything() throws Exception {
    for (int i = closeLast.size() - 1; i >= 0; i--) {
      closeLast.get(i).close();
    }
    if (postgres != null) {
      postgres.close();
    }
  }

  private EmbeddedPostgres start() throws IOException {
    return EmbeddedPostgres.builder()
        .setDataDirectory(temp.resolve("pgdata"))
        .setCleanDataDirectory(false) // a restart keeps the data, as a real one does
        .setPort(port)
        .setPGStartupWait(Duration.ofSeconds(60))
        .setServerConfig("fsync", "off")
        .setServerConfig("listen_addresses", "127.0.0.1")
        .start();
  }

  private KeyManager node(String name, long connectionTimeoutMs, Duration loadTimeout) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(postgres.getJdbcUrl("postgres", "postgres"));
    config.setUsername("postgres");
    config.setPoolName(name);
    config.setMaximumPoolSize(4);
    config.setConnectionTimeout(connectionTimeoutMs);
    HikariDataSource pool = new HikariDataSource(config);
    closeLast.add(pool);
    JdbcKekStore store =
        JdbcKekStore.builder().dataSource(pool).queryTimeout(Duration.ofSeconds(2)).build();
    closeLast.add(store);
    KeyManager keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .loadTimeout(loadTimeout)
            .build();
    closeLast.add(keys);
    poolOf.put(keys, pool);
    return keys;
  }

  @Test
  void stoppedDatabaseIsARetryableStoreErrorWithinTheBoundAndNodesResumeAfterARestart()
      throws Exception {
    KeyManager writer = node("writer", CONNECTION_TIMEOUT_MS, LOAD_TIMEOUT);
    writer.admin().createKek("orders", CMK);
    writer.admin().createKek("invoices", CMK);
    WrappedKey wrapped;
    try (DataKey dek = writer.generateDek("orders", CONTEXT)) {
      wrapped = dek.wrappedKey();
    }
    KeyManager cold = node("cold", CONNECTION_TIMEOUT_MS, LOAD_TIMEOUT); // nothing cached
    assertThat(cold.admin().listKeks()).containsExactly("invoices", "orders"); // the pool is warm

    postgres.close(); // fast shutdown: every pooled connection dies
    kms.resetCounts();

    List<Callable<?>> misses =
        List.of(
            () -> cold.unwrapDek(wrapped, CONTEXT), // KEK miss: the loader's store read
            () -> cold.generateDek("orders", CONTEXT), // primary miss
            () -> writer.generateDek("invoices", CONTEXT), // writer has no primary for it
            () -> writer.admin().rotateKek("orders"), // an admin call reads and writes the store
            cold.admin()::listKeks);
    for (int i = 0; i < misses.size(); i++) {
      long start = System.nanoTime();
      Throwable e = catchThrowable(misses.get(i)::call);
      Duration took = Duration.ofNanos(System.nanoTime() - start);

      assertThat(e).as("call %s", i).isInstanceOf(KekStoreException.class);
      assertThat(((KekStoreException) e).isRetryable()).as("call %s retryable", i).isTrue();
      assertThat(e).as("call %s names the store", i).hasMessageContaining("KEK store");
      assertThat(took).as("call %s took %s", i, took).isLessThan(LOAD_TIMEOUT.plus(SLACK));
      System.out.printf("outage call %d failed after %d ms: %s%n", i, took.toMillis(), e);
    }
    assertThat(kms.unwrapCalls()).as("KMS calls during the outage").isZero();

    postgres = start(); // same port, same data: the pools reconnect by themselves

    try (DataKey dek = eventually(() -> cold.unwrapDek(wrapped, CONTEXT))) {
      assertThat(dek.wrappedKey()).isEqualTo(wrapped);
    }
    try (DataKey dek = eventually(() -> cold.generateDek("orders", CONTEXT))) {
      assertThat(writer.unwrapDek(dek.wrappedKey(), CONTEXT)).isNotNull(); // cached on writer
    }
    assertThat(eventually(() -> writer.admin().rotateKek("orders")).version()).isEqualTo(2);
    try (DataKey dek = eventually(() -> writer.generateDek("invoices", CONTEXT))) {
      assertThat(cold.unwrapDek(dek.wrappedKey(), CONTEXT)).isNotNull();
    }
  }

  @Test
  void aPoolThatWaitsLongerThanLoadTimeoutIsStillReportedAsTheStoreNotTheKms() throws Exception {
    // HikariCP's default connection timeout (30 s) is above the key manager's bound: the miss
    // gives up after loadTimeout and says it was waiting on the store.
    Duration loadTimeout = Duration.ofSeconds(2);
    KeyManager writer = node("writer-default-pool", CONNECTION_TIMEOUT_MS, loadTimeout);
    writer.admin().createKek("orders", CMK);
    WrappedKey wrapped;
    try (DataKey dek = writer.generateDek("orders", CONTEXT)) {
      wrapped = dek.wrappedKey();
    }
    KeyManager cold = node("cold-default-pool", 30_000, loadTimeout);
    assertThat(cold.admin().listKeks()).containsExactly("orders");

    postgres.close();
    // The pooled connection died with the server; without this, the next borrow could get it
    // and fail at once with "connection lost" instead of waiting for a new one.
    poolOf.get(cold).getHikariPoolMXBean().softEvictConnections();
    long start = System.nanoTime();
    Throwable e = catchThrowable(() -> cold.unwrapDek(wrapped, CONTEXT));
    Duration took = Duration.ofNanos(System.nanoTime() - start);

    assertThat(e)
        .isInstanceOf(KekStoreException.class)
        .hasMessageContaining("Waited 2000 ms for KEK store")
        .hasMessageContaining("orders v1")
        .hasMessageContaining("connection timeout");
    assertThat(((KekStoreException) e).isRetryable()).isTrue();
    assertThat(took).isLessThan(loadTimeout.plus(SLACK));
    System.out.printf("default-pool outage: failed after %d ms%n", took.toMillis());

    postgres = start();
    // The read still waiting in the pool gets a connection now, or a new load does.
    assertThat(eventually(() -> cold.unwrapDek(wrapped, CONTEXT))).isNotNull();
  }

  /**
   * {@code call}'s result once the pool has reconnected, as a caller retrying a retryable error
   * would see it: every failure before must be a retryable store error. Bounded by 60 s.
   */
  private static <T> T eventually(Callable<T> call) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    int attempts = 0;
    while (true) {
      attempts++;
      try {
        T result = call.call();
        System.out.printf("resumed after the restart on attempt %d%n", attempts);
        return result;
      } catch (KekStoreException e) {
        assertThat(e.isRetryable()).as("failure after the restart: %s", e).isTrue();
        if (System.nanoTime() > deadline) {
          throw new AssertionError("not resumed 60 s after the restart", e);
        }
      }
    }
  }
}
