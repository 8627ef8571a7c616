package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.DataKey;
import dev.keymanager.KekState;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.testkit.FakeKms;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The privileges docs/store-jdbc.md grants are exactly enough: a login role holding only them, on a
 * schema other than {@code public}, builds the store in both modes and runs every lifecycle call;
 * with any one of them revoked, building fails with a {@link KeyManagerConfigException} that names
 * the missing privilege and the {@code GRANT} that gives it.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class JdbcKekStorePrivilegesTest {
  private final List<HikariDataSource> pools = new ArrayList<>();
  private String schema;
  private String role;
  private TableNames names;

  /** The grants of docs/store-jdbc.md, section "Privileges", for a DBA-made schema. */
  private List<String> documentedGrants() {
    return List.of(
        "GRANT USAGE ON SCHEMA " + schema + " TO " + role,
        "GRANT SELECT ON " + schema + ".keymanager_kek_schema_version TO " + role,
        "GRANT SELECT, INSERT, UPDATE ON " + schema + ".keymanager_kek TO " + role,
        "GRANT SELECT, INSERT, UPDATE ON " + schema + ".keymanager_kek_head TO " + role);
  }

  @BeforeEach
  void createSchemaAndRole() throws SQLException {
    schema = server().newSchema();
    role = "app_" + schema;
    names = new TableNames(schema, JdbcKekStore.Builder.DEFAULT_TABLE);
    String ddl = JdbcKekStore.builder().schema(schema).schemaDdl();
    try (Connection c = server().connect();
        Statement s = c.createStatement()) {
      for (String statement : Schema.statements(ddl)) {
        s.execute(statement); // as the DBA (superuser) would
      }
      s.execute("CREATE ROLE " + role + " LOGIN");
    }
  }

  /** Connects as the role: the URL's {@code user=postgres} would win over a pool's user name. */
  private void asRole(com.zaxxer.hikari.HikariConfig config) {
    config.setJdbcUrl(server().jdbcUrl().replace("?user=postgres", "?user=" + role));
    config.setUsername(role);
  }

  @AfterEach
  void closePools() {
    pools.forEach(HikariDataSource::close);
  }

  private void sql(String statement) throws SQLException {
    try (Connection c = server().connect();
        Statement s = c.createStatement()) {
      s.execute(statement);
    }
  }

  private HikariDataSource pool() {
    HikariDataSource pool = server().pool("privileges-check-" + pools.size(), 1, this::asRole);
    pools.add(pool);
    return pool;
  }

  private JdbcKekStore build(SchemaMode mode) {
    HikariDataSource pool = server().pool("privileges-" + pools.size(), 2, this::asRole);
    pools.add(pool);
    return JdbcKekStore.builder().dataSource(pool).schema(schema).schemaMode(mode).build();
  }

  @Test
  void exactlyTheDocumentedPrivilegesRunEverythingInBothModes() throws SQLException {
    for (String grant : documentedGrants()) {
      sql(grant);
    }
    try (Connection c = pool().getConnection();
        Statement s = c.createStatement();
        java.sql.ResultSet rs =
            s.executeQuery(
                "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo(role); // really the role, not the superuser
      assertThat(rs.getBoolean(2)).isFalse();
    }
    for (SchemaMode mode : SchemaMode.values()) {
      try (JdbcKekStore store = build(mode);
          KeyManager keys =
              KeyManagers.builder()
                  .kekStore(store)
                  .kmsProvider(new FakeKms())
                  .discoverProviders(false)
                  .build()) {
        String id = "orders-" + mode;
        KeyContext context = KeyContext.of(Map.of("t", "1"));
        keys.admin().createKek(id, FakeKms.cmk("privileges"));
        try (DataKey dek = keys.generateDek(id, context)) {
          assertThat(keys.unwrapDek(dek.wrappedKey(), context)).isNotNull();
        }
        keys.admin().rotateKek(id);
        keys.admin().setMinimumDecryptionVersion(id, 2);
        keys.admin().disableKek(id);
        keys.admin().scheduleKekDestruction(id, Duration.ofDays(7));
        assertThat(keys.admin().describeKekVersions(id).orElseThrow().state())
            .isEqualTo(KekState.PENDING_DESTRUCTION);
        assertThat(keys.admin().listKeks()).contains(id);
      }
    }
  }

  @Test
  void withAnyOneDocumentedPrivilegeMissingTheErrorNamesItAndItsGrant() throws SQLException {
    List<String[]> privileges =
        List.of(
            new String[] {"USAGE", "SCHEMA " + schema, "USAGE on schema \"" + schema + "\""},
            new String[] {
              "SELECT",
              schema + ".keymanager_kek_schema_version",
              "SELECT on table \"" + schema + "\".\"keymanager_kek_schema_version\""
            },
            new String[] {
              "SELECT", schema + ".keymanager_kek", "SELECT on table " + names.qualifiedTable()
            },
            new String[] {
              "INSERT", schema + ".keymanager_kek", "INSERT on table " + names.qualifiedTable()
            },
            new String[] {
              "UPDATE", schema + ".keymanager_kek", "UPDATE on table " + names.qualifiedTable()
            },
            new String[] {
              "SELECT",
              schema + ".keymanager_kek_head",
              "SELECT on table " + names.qualifiedHeadTable()
            },
            new String[] {
              "INSERT",
              schema + ".keymanager_kek_head",
              "INSERT on table " + names.qualifiedHeadTable()
            },
            new String[] {
              "UPDATE",
              schema + ".keymanager_kek_head",
              "UPDATE on table " + names.qualifiedHeadTable()
            });
    for (String grant : documentedGrants()) {
      sql(grant);
    }
    for (String[] p : privileges) {
      sql("REVOKE " + p[0] + " ON " + p[1] + " FROM " + role);
      for (SchemaMode mode : SchemaMode.values()) {
        Throwable e = catchThrowable(() -> build(mode));

        assertThat(e)
            .as("%s without %s", mode, p[2])
            .isInstanceOf(KeyManagerConfigException.class)
            .hasMessageContaining("lacks " + p[2])
            .hasMessageContaining("GRANT " + p[0])
            .hasMessageContaining(role);
        if (mode == SchemaMode.VALIDATE) {
          assertThat(e.getMessage()).doesNotContain("SchemaMode.VALIDATE"); // not circular
        }
      }
      sql("GRANT " + p[0] + " ON " + p[1] + " TO " + role);
    }
  }

  @Test
  void applyOnAMissingSchemaNamesCreateOnTheDatabaseAndWorksWithCreateOnAnEmptySchema()
      throws SQLException {
    String fresh = server().newSchema();
    HikariDataSource pool = server().pool("privileges-apply", 2, this::asRole);
    pools.add(pool);

    Throwable e =
        catchThrowable(() -> JdbcKekStore.builder().dataSource(pool).schema(fresh).build());
    assertThat(e)
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("lacks CREATE on database")
        .hasMessageContaining("GRANT CREATE ON DATABASE");

    sql("CREATE SCHEMA " + fresh);
    e = catchThrowable(() -> JdbcKekStore.builder().dataSource(pool).schema(fresh).build());
    assertThat(e).isInstanceOf(KeyManagerConfigException.class).hasMessageContaining("lacks USAGE");

    sql("GRANT USAGE, CREATE ON SCHEMA " + fresh + " TO " + role);
    try (JdbcKekStore store = JdbcKekStore.builder().dataSource(pool).schema(fresh).build()) {
      assertThat(store.kekIds("", 10_000).ids()).isEmpty();
    }
  }
}
