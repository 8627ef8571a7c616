package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KekStoreContract;
import java.util.IdentityHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The test kit's {@link KekStore} contract on a real PostgreSQL server: each test gets a fresh
 * schema created by {@link SchemaMode#APPLY}, and a reopen is a new store on the same schema built
 * with {@link SchemaMode#VALIDATE}, as a restarted node would.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class JdbcKekStoreContractTest extends KekStoreContract {
  private final IdentityHashMap<KekStore, String> schemaOf = new IdentityHashMap<>();
  private HikariDataSource pool;

  /** How the pool under test is configured beyond the defaults; subclasses change it. */
  void configure(HikariConfig config) {}

  @AfterEach
  void closePool() {
    if (pool != null) {
      pool.close(); // the contract closes its stores after this; closing a store needs no pool
    }
  }

  @Override
  protected KekStore newStore() {
    String schema = server().newSchema();
    KekStore store = JdbcKekStore.builder().dataSource(pool()).schema(schema).build();
    schemaOf.put(store, schema);
    return store;
  }

  @Override
  protected KeyManager keyManager(KekStore store, KmsProvider kms) {
    return KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
  }

  @Override
  protected KekStore reopen(KekStore store) {
    String schema = schemaOf.get(store);
    store.close();
    KekStore reopened =
        JdbcKekStore.builder()
            .dataSource(pool())
            .schema(schema)
            .schemaMode(SchemaMode.VALIDATE)
            .build();
    schemaOf.put(reopened, schema);
    return reopened;
  }

  private HikariDataSource pool() {
    if (pool == null) {
      pool = server().pool(getClass().getSimpleName(), THREADS + 2, this::configure);
    }
    return pool;
  }
}
