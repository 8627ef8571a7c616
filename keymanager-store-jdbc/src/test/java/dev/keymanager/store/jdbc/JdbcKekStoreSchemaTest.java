package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static dev.keymanager.store.jdbc.TestRecords.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManagerConfigException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Schema creation, the printed DDL, version checks and name validation, on a real server. */
@ExtendWith(EmbeddedPostgresExtension.class)
class JdbcKekStoreSchemaTest {
  private static HikariDataSource pool;

  @BeforeAll
  static void openPool() {
    pool = server().pool("schema", 6, config -> {});
  }

  @AfterAll
  static void closePool() {
    pool.close();
  }

  @Test
  void applyCreatesSchemaTablesAndVersionOnce() throws Exception {
    String schema = server().newSchema();

    try (JdbcKekStore store =
        JdbcKekStore.builder().dataSource(pool).schema(schema).table("keks").build()) {
      KeyEncryptionKey v1 = record("applied", 1);
      assertThat(store.create(v1)).isTrue();
      assertThat(store.find("applied", 1)).contains(v1);
    }
    // A second APPLY (a restart) finds version 1 and changes nothing.
    JdbcKekStore.builder().dataSource(pool).schema(schema).table("keks").build().close();

    assertThat(query("SELECT version, description FROM \"" + schema + "\".keks_schema_version"))
        .containsExactly("1|KEK records", "2|KEK heads");
    assertThat(query("SELECT count(*) FROM \"" + schema + "\".keks")).containsExactly("1");
  }

  @Test
  void nodesStartingTogetherApplyTheSchemaExactlyOnce() throws Exception {
    String schema = server().newSchema();
    int nodes = 6;
    CyclicBarrier start = new CyclicBarrier(nodes);
    ExecutorService executor = Executors.newFixedThreadPool(nodes);
    try {
      List<Future<JdbcKekStore>> stores = new ArrayList<>();
      for (int i = 0; i < nodes; i++) {
        stores.add(
            executor.submit(
                (Callable<JdbcKekStore>)
                    () -> {
                      start.await(30, TimeUnit.SECONDS);
                      return JdbcKekStore.builder().dataSource(pool).schema(schema).build();
                    }));
      }
      for (Future<JdbcKekStore> f : stores) {
        f.get(60, TimeUnit.SECONDS).close();
      }
    } finally {
      executor.shutdownNow();
    }

    assertThat(
            query(
                "SELECT version FROM \""
                    + schema
                    + "\".keymanager_kek_schema_version ORDER BY version"))
        .containsExactly("1", "2");
  }

  @Test
  void validateFindsNoSchemaAndSaysHowToCreateIt() {
    String schema = server().newSchema();

    assertThatThrownBy(
            () ->
                JdbcKekStore.builder()
                    .dataSource(pool)
                    .schema(schema)
                    .schemaMode(SchemaMode.VALIDATE)
                    .build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("No keymanager KEK store schema at " + schema + ".keymanager_kek")
        .hasMessageContaining("schemaDdl()")
        .hasMessageContaining("SchemaMode.APPLY");
    assertThat(schemaExists(schema)).as("VALIDATE creates nothing").isFalse();
  }

  @Test
  void ddlAppliedByADbaPassesValidate() throws Exception {
    String schema = server().newSchema();
    JdbcKekStore.Builder builder =
        JdbcKekStore.builder()
            .dataSource(pool)
            .schema(schema)
            .table("dba_keks")
            .schemaMode(SchemaMode.VALIDATE);
    String ddl = builder.schemaDdl();
    assertThat(ddl)
        .contains("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"")
        .contains("CREATE TABLE \"" + schema + "\".\"dba_keks\"")
        .contains("INSERT INTO \"" + schema + "\".\"dba_keks_schema_version\"")
        .doesNotContain("${");

    // The DBA runs the printed script as one batch, e.g. with psql -f.
    try (Connection c = server().connect();
        Statement s = c.createStatement()) {
      s.execute(ddl);
    }

    try (JdbcKekStore store = builder.build()) {
      KeyEncryptionKey v1 = record("dba", 1);
      assertThat(store.create(v1)).isTrue();
      assertThat(store.versions("dba")).containsExactly(v1);
    }
  }

  @Test
  void newerSchemaVersionIsAConfigurationError() throws Exception {
    String schema = server().newSchema();
    JdbcKekStore.builder().dataSource(pool).schema(schema).build().close();
    execute(
        "INSERT INTO \""
            + schema
            + "\".keymanager_kek_schema_version (version, description) VALUES (3, 'future')");

    for (SchemaMode mode : SchemaMode.values()) {
      assertThatThrownBy(
              () -> JdbcKekStore.builder().dataSource(pool).schema(schema).schemaMode(mode).build())
          .as("mode %s", mode)
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("is at version 3, newer than version 2")
          .hasMessageContaining("upgrade keymanager-store-jdbc");
    }
  }

  @Test
  void anEmptyVersionTableIsAConfigurationErrorInValidateMode() throws Exception {
    String schema = server().newSchema();
    JdbcKekStore.builder().dataSource(pool).schema(schema).build().close();
    execute("DELETE FROM \"" + schema + "\".keymanager_kek_schema_version");

    assertThatThrownBy(
            () ->
                JdbcKekStore.builder()
                    .dataSource(pool)
                    .schema(schema)
                    .schemaMode(SchemaMode.VALIDATE)
                    .build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("No keymanager KEK store schema");
  }

  @Test
  void aForeignTableOfTheSameNameIsAConfigurationError() throws Exception {
    String schema = server().newSchema();
    execute("CREATE SCHEMA \"" + schema + "\"");
    execute("CREATE TABLE \"" + schema + "\".keymanager_kek (id int)");

    assertThatThrownBy(() -> JdbcKekStore.builder().dataSource(pool).schema(schema).build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("exists but keymanager_kek_schema_version does not");
  }

  @Test
  void aTableMissingColumnsIsAConfigurationError() throws Exception {
    String schema = server().newSchema();
    JdbcKekStore.builder().dataSource(pool).schema(schema).build().close();
    execute("ALTER TABLE \"" + schema + "\".keymanager_kek DROP COLUMN destroy_at_nanos");

    assertThatThrownBy(
            () ->
                JdbcKekStore.builder()
                    .dataSource(pool)
                    .schema(schema)
                    .schemaMode(SchemaMode.VALIDATE)
                    .build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("does not match schema version 2")
        .hasMessageContaining("destroy_at_nanos");
  }

  @Test
  void namesThatCouldCarrySqlAreRejectedBeforeAnySql() {
    List<String> bad =
        List.of(
            "",
            "Keks",
            "keks; DROP TABLE users; --",
            "keks\"",
            "a.b",
            "with space",
            "1keks",
            "pg_catalog",
            "ключ",
            "x".repeat(64));
    for (String name : bad) {
      assertThatThrownBy(() -> JdbcKekStore.builder().schema(name))
          .as("schema %s", name)
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> JdbcKekStore.builder().table(name))
          .as("table %s", name)
          .isInstanceOf(IllegalArgumentException.class);
    }
    assertThatThrownBy(() -> JdbcKekStore.builder().table("x".repeat(49)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("1 to 48 characters");
    assertThat(JdbcKekStore.builder().schema("x".repeat(63)).table("_t_1").schemaDdl())
        .contains("\"_t_1_schema_version\"");
  }

  @Test
  void buildWithoutDataSourceIsAConfigurationError() {
    assertThatThrownBy(() -> JdbcKekStore.builder().build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("dataSource");
  }

  private static boolean schemaExists(String schema) {
    try {
      return !query("SELECT nspname FROM pg_namespace WHERE nspname = '" + schema + "'").isEmpty();
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void execute(String sql) throws SQLException {
    try (Connection c = server().connect();
        Statement s = c.createStatement()) {
      s.execute(sql);
    }
  }

  /** Each row as its columns joined by {@code |}. */
  private static List<String> query(String sql) throws SQLException {
    try (Connection c = server().connect();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      List<String> rows = new ArrayList<>();
      int columns = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        StringBuilder row = new StringBuilder();
        for (int i = 1; i <= columns; i++) {
          row.append(i > 1 ? "|" : "").append(rs.getString(i));
        }
        rows.add(row.toString());
      }
      return rows;
    }
  }
}
