package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.DataKey;
import dev.keymanager.KekDescription;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.io.InputStream;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A schema of version 1 (before KEK heads) with the rows commit 694bc99's key manager wrote ({@code
 * golden/jdbc-v1.sql}, the same records as core's golden file store): {@link SchemaMode#VALIDATE}
 * refuses it and says what to do, {@link SchemaMode#APPLY} migrates it to version 2 and the store
 * then serves the same KEKs and DEKs.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class OldLayoutGoldenRowsTest {
  private static final KeyContext CONTEXT = KeyContext.of("golden", "old-layout");

  private HikariDataSource pool;
  private String schema;
  private TableNames names;

  @BeforeEach
  void loadFixture() throws Exception {
    pool = server().pool("golden", 2, config -> {});
    schema = server().newSchema();
    names = new TableNames(schema, JdbcKekStore.Builder.DEFAULT_TABLE);
    String sql;
    try (InputStream in = getClass().getResourceAsStream("/golden/jdbc-v1.sql")) {
      sql = new String(in.readAllBytes(), UTF_8);
    }
    execute(
        "CREATE SCHEMA "
            + names.quotedSchema()
            + ";\n"
            + sql.replace("${version_table}", names.qualifiedVersionTable())
                .replace("${table}", names.qualifiedTable()));
  }

  @AfterEach
  void closePool() {
    pool.close();
  }

  @Test
  void validateOnVersionOneSaysWhatToDo() throws Exception {
    assertThatThrownBy(
            () ->
                JdbcKekStore.builder()
                    .dataSource(pool)
                    .schema(schema)
                    .schemaMode(SchemaMode.VALIDATE)
                    .build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("is at version 1")
        .hasMessageContaining("schemaDdl()")
        .hasMessageContaining("SchemaMode.APPLY");
    assertThat(query("SELECT count(*) FROM " + names.qualifiedTable())).containsExactly("9");
  }

  @Test
  void applyMigratesVersionOneAndServesTheSameKeys() throws Exception {
    try (JdbcKekStore store = JdbcKekStore.builder().dataSource(pool).schema(schema).build();
        KeyManager keys =
            KeyManagers.builder()
                .kekStore(store)
                .kmsProvider(new FakeKms())
                .discoverProviders(false)
                .build()) {
      assertThat(query("SELECT version FROM " + names.qualifiedVersionTable() + " ORDER BY 1"))
          .containsExactly("1", "2");
      assertThat(query("SELECT count(*) FROM " + names.qualifiedHeadTable())).containsExactly("0");

      KekDescription retired = keys.admin().describeKekVersions("golden-retired").orElseThrow();
      assertThat(retired.primaryVersion()).isEqualTo(3);
      assertThat(retired.minimumDecryptionVersion()).isEqualTo(2);
      assertThat(keys.admin().describeKekVersions("golden-disabled").orElseThrow().state())
          .isEqualTo(KekState.DISABLED);
      assertThat(keys.admin().describeKekVersions("golden-pending").orElseThrow().state())
          .isEqualTo(KekState.PENDING_DESTRUCTION);
      assertThat(keys.admin().describeKekVersions("golden-moved").orElseThrow().cmkUri())
          .isEqualTo(FakeKms.cmk("golden-b"));

      for (Dek dek : goldenDeks()) {
        boolean usable =
            dek.kekId().equals("golden-enabled")
                || dek.kekId().equals("golden-moved")
                || (dek.kekId().equals("golden-retired") && dek.version() >= 2);
        if (usable) {
          try (DataKey key = keys.unwrapDek(dek.wrapped(), CONTEXT)) {
            assertThat(key.use(byte[]::clone)).isEqualTo(dek.plaintext());
          }
        } else {
          assertThatThrownBy(() -> keys.unwrapDek(dek.wrapped(), CONTEXT).close())
              .as(dek.kekId() + " v" + dek.version())
              .isInstanceOf(KekStateException.class);
        }
      }
      assertThat(query("SELECT count(*) FROM " + names.qualifiedHeadTable()))
          .as("reads migrate no KEK")
          .containsExactly("0");

      // The first change of a KEK writes its head, which orders what follows.
      assertThat(keys.admin().rotateKek("golden-enabled").version()).isEqualTo(3);
      assertThat(keys.admin().enableKek("golden-disabled").state()).isEqualTo(KekState.ENABLED);
      assertThat(
              query(
                  "SELECT kek_id, state, primary_version FROM "
                      + names.qualifiedHeadTable()
                      + " ORDER BY 1"))
          .containsExactly("golden-disabled|ENABLED|2", "golden-enabled|ENABLED|3");
      try (DataKey fresh = keys.generateDek("golden-enabled", CONTEXT)) {
        assertThat(fresh.wrappedKey().kek().version()).isEqualTo(3);
      }
      Dek disabledDek =
          goldenDeks().stream()
              .filter(d -> d.kekId().equals("golden-disabled"))
              .findFirst()
              .orElseThrow();
      try (DataKey key = keys.unwrapDek(disabledDek.wrapped(), CONTEXT)) {
        assertThat(key.use(byte[]::clone)).isEqualTo(disabledDek.plaintext());
      }
    }
  }

  /** One golden DEK: its KEK id, version, wrapped key, and plaintext (32 bytes of its index). */
  private record Dek(String kekId, int version, WrappedKey wrapped, byte[] plaintext) {}

  private static List<Dek> goldenDeks() throws IOException {
    Properties p = new Properties();
    try (InputStream in =
        OldLayoutGoldenRowsTest.class.getResourceAsStream("/golden/old-layout-v1.properties")) {
      p.load(in);
    }
    List<Dek> deks = new ArrayList<>();
    for (int i = 0; p.containsKey("dek." + i); i++) {
      String[] f = p.getProperty("dek." + i).split(" ");
      byte[] plaintext = new byte[32];
      Arrays.fill(plaintext, (byte) i);
      deks.add(
          new Dek(
              f[0],
              Integer.parseInt(f[1]),
              WrappedKey.decode(Base64.getDecoder().decode(f[2])),
              plaintext));
    }
    assertThat(deks).hasSize(8);
    return deks;
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
