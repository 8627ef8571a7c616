package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.KekStoreContract;
import java.util.IdentityHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The test kit's {@link KekStore} contract on a real PostgreSQL server: each test gets a fresh
 * schema created by {@link SchemaMode#APPLY}, and a reopen is a new store on the same schema built
 * with {@link SchemaMode#VALIDATE}, as a restarted node would.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class JdbcKekStoreContractTest extends KekStoreContract {
  private static HikariDataSource pool;

  private final IdentityHashMap<KekStore, String> schemaOf = new IdentityHashMap<>();

  @BeforeAll
  static void openPool() {
    pool = server().pool("contract", THREADS + 2, config -> {});
  }

  @AfterAll
  static void closePool() {
    pool.close();
  }

  @Override
  protected KekStore newStore() {
    String schema = server().newSchema();
    KekStore store = JdbcKekStore.builder().dataSource(pool).schema(schema).build();
    schemaOf.put(store, schema);
    return store;
  }

  @Override
  protected KekStore reopen(KekStore store) {
    String schema = schemaOf.get(store);
    store.close();
    KekStore reopened =
        JdbcKekStore.builder()
            .dataSource(pool)
            .schema(schema)
            .schemaMode(SchemaMode.VALIDATE)
            .build();
    schemaOf.put(reopened, schema);
    return reopened;
  }
}
