package dev.keymanager.store.jdbc;

import dev.keymanager.KeyManagerConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The versioned schema scripts in this jar ({@code schema/V<n>__<what>.sql} beside this class),
 * rendered for one pair of {@link TableNames}, and how they are applied and checked.
 *
 * <p>Each script creates or migrates the tables and inserts its own row into the version table, so
 * a DBA who runs the printed DDL leaves exactly what {@link SchemaMode#APPLY} leaves.
 */
final class Schema {
  private static final Logger log = LoggerFactory.getLogger(Schema.class);

  /** The scripts, in order; script {@code i} brings the schema to version {@code i + 1}. */
  private static final List<String> SCRIPTS = List.of("V1__kek_records.sql", "V2__kek_heads.sql");

  /** The schema version this library reads and writes. */
  static final int VERSION = SCRIPTS.size();

  private Schema() {}

  /** Every script for {@code names}, with the schema created first, as a DBA would run it. */
  static String ddl(TableNames names) {
    StringBuilder sql = new StringBuilder();
    sql.append("-- keymanager-store-jdbc schema for ")
        .append(names)
        .append(", version ")
        .append(VERSION)
        .append("\nCREATE SCHEMA IF NOT EXISTS ")
        .append(names.quotedSchema())
        .append(";\n\n");
    for (int v = 1; v <= VERSION; v++) {
      sql.append(script(v, names)).append('\n');
    }
    return sql.toString();
  }

  /**
   * Brings the schema to {@link #VERSION} if it is older or absent, in one transaction that an
   * advisory lock serializes across every node starting at once, then validates it.
   *
   * @throws KeyManagerConfigException if the schema is newer than this library, or the tables exist
   *     in a shape no script made
   */
  static void apply(Connection c, TableNames names) throws SQLException {
    boolean autoCommit = c.getAutoCommit();
    c.setAutoCommit(false);
    try {
      try (PreparedStatement lock =
          c.prepareStatement("SELECT pg_advisory_xact_lock(hashtext(?))")) {
        lock.setString(1, "keymanager-store-jdbc:" + names);
        lock.execute();
      }
      boolean schemaExists = exists(c, "to_regnamespace", names.quotedSchema());
      if (!schemaExists) {
        requirePrivileges(c, names, List.of(databaseCreate(c)), "create the schema of");
        execute(c, "CREATE SCHEMA IF NOT EXISTS " + names.quotedSchema());
      } else {
        checkReadable(c, names);
      }
      int current = currentVersion(c, names);
      if (current < VERSION) {
        requirePrivileges(c, names, List.of(schemaCreate(names)), "create the tables of");
      }
      if (current > VERSION) {
        throw newerThanLibrary(names, current);
      }
      for (int v = current + 1; v <= VERSION; v++) {
        for (String statement : statements(script(v, names))) {
          execute(c, statement);
        }
        log.info("Applied keymanager KEK store schema version {} to {}", v, names);
      }
      c.commit();
    } catch (SQLException | RuntimeException e) {
      try {
        c.rollback();
      } catch (SQLException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    } finally {
      restoreAutoCommit(c, autoCommit);
    }
    validate(c, names);
  }

  /**
   * Checks that the schema is at {@link #VERSION} and the record table has its columns.
   *
   * @throws KeyManagerConfigException if the schema is absent, older or newer, or the table lacks a
   *     column
   */
  static void validate(Connection c, TableNames names) throws SQLException {
    if (exists(c, "to_regnamespace", names.quotedSchema())) {
      checkReadable(c, names);
    }
    int current = currentVersion(c, names);
    if (current == 0) {
      throw new KeyManagerConfigException(
          "No keymanager KEK store schema at "
              + names
              + ": apply the DDL from JdbcKekStore.builder().schema(\""
              + names.schema()
              + "\").table(\""
              + names.table()
              + "\").schemaDdl(), or build the store with SchemaMode.APPLY");
    }
    if (current > VERSION) {
      throw newerThanLibrary(names, current);
    }
    if (current == VERSION) {
      requirePrivileges(c, names, runtimePrivileges(names), "read and write");
    }
    if (current < VERSION) {
      throw new KeyManagerConfigException(
          "KEK store schema "
              + names
              + " is at version "
              + current
              + " but this library needs version "
              + VERSION
              + ": apply the scripts after V"
              + current
              + " from schemaDdl(), or build the store once with SchemaMode.APPLY");
    }
    try (Statement s = c.createStatement()) {
      s.executeQuery(
              "SELECT " + KekRows.COLUMNS + " FROM " + names.qualifiedTable() + " WHERE 1 = 0")
          .close();
      s.executeQuery(
              "SELECT " + HeadRows.COLUMNS + " FROM " + names.qualifiedHeadTable() + " WHERE 1 = 0")
          .close();
    } catch (SQLException e) {
      if (e.getSQLState() != null && e.getSQLState().startsWith("42")) {
        throw new KeyManagerConfigException(
            "KEK store table "
                + names
                + " does not match schema version "
                + VERSION
                + " although its version table says so: "
                + SqlFailures.firstLine(e),
            e);
      }
      throw e;
    }
    if (!c.getAutoCommit()) {
      c.commit();
    }
  }

  /**
   * Before the version table is read: {@code USAGE} on the existing schema, and {@code SELECT} on
   * the version table if it exists, so a missing grant is named rather than a bare "permission
   * denied".
   */
  private static void checkReadable(Connection c, TableNames names) throws SQLException {
    requirePrivileges(c, names, List.of(schemaUsage(names)), "use");
    if (exists(c, "to_regclass", names.qualifiedVersionTable())) {
      requirePrivileges(
          c,
          names,
          List.of(tablePrivilege(names.qualifiedVersionTable(), "SELECT")),
          "read the schema version of");
    }
  }

  /** One privilege the database user needs: how to check it, and the statement that grants it. */
  record Privilege(
      String description, String checkSql, String object, String privilege, String grant) {}

  /**
   * What a store needs once the schema exists, in both modes: {@code USAGE} on the schema, {@code
   * SELECT} on the version table, {@code SELECT, INSERT, UPDATE} on the record table and on the
   * head table. Nothing else (no {@code DELETE}, no {@code CREATE}, no {@code TRUNCATE}).
   */
  static List<Privilege> runtimePrivileges(TableNames names) {
    List<Privilege> needed = new ArrayList<>();
    needed.add(schemaUsage(names));
    needed.add(tablePrivilege(names.qualifiedVersionTable(), "SELECT"));
    for (String p : List.of("SELECT", "INSERT", "UPDATE")) {
      needed.add(tablePrivilege(names.qualifiedTable(), p));
    }
    for (String p : List.of("SELECT", "INSERT", "UPDATE")) {
      needed.add(tablePrivilege(names.qualifiedHeadTable(), p));
    }
    return needed;
  }

  private static Privilege schemaUsage(TableNames names) {
    return new Privilege(
        "USAGE on schema " + names.quotedSchema(),
        "SELECT has_schema_privilege(?, 'USAGE')",
        names.schema(), // the functions take a plain name here, not a quoted identifier
        "USAGE",
        "GRANT USAGE ON SCHEMA " + names.quotedSchema() + " TO %s;");
  }

  private static Privilege schemaCreate(TableNames names) {
    return new Privilege(
        "CREATE on schema " + names.quotedSchema() + " (APPLY creates the tables)",
        "SELECT has_schema_privilege(?, 'CREATE')",
        names.schema(),
        "CREATE",
        "GRANT USAGE, CREATE ON SCHEMA " + names.quotedSchema() + " TO %s;");
  }

  private static Privilege databaseCreate(Connection c) throws SQLException {
    String database;
    String quoted;
    try (Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery("SELECT current_database(), quote_ident(current_database())")) {
      rs.next();
      database = rs.getString(1);
      quoted = rs.getString(2);
    }
    return new Privilege(
        "CREATE on database " + quoted + " (APPLY creates the missing schema)",
        "SELECT has_database_privilege(?, 'CREATE')",
        database,
        "CREATE",
        "GRANT CREATE ON DATABASE " + quoted + " TO %s;");
  }

  private static Privilege tablePrivilege(String qualifiedTable, String privilege) {
    return new Privilege(
        privilege + " on table " + qualifiedTable,
        "SELECT has_table_privilege(?, '" + privilege + "')",
        qualifiedTable,
        privilege,
        "GRANT " + privilege + " ON " + qualifiedTable + " TO %s;");
  }

  /**
   * Checks each privilege with PostgreSQL's {@code has_*_privilege} functions and fails naming
   * every one the current user lacks, with the {@code GRANT} statements that would give them.
   *
   * @throws KeyManagerConfigException if any is missing
   */
  static void requirePrivileges(
      Connection c, TableNames names, List<Privilege> needed, String toWhat) throws SQLException {
    List<Privilege> missing = new ArrayList<>();
    for (Privilege p : needed) {
      try (PreparedStatement s = c.prepareStatement(p.checkSql())) {
        s.setString(1, p.object());
        try (ResultSet rs = s.executeQuery()) {
          rs.next();
          if (!rs.getBoolean(1)) {
            missing.add(p);
          }
        }
      }
    }
    if (missing.isEmpty()) {
      return;
    }
    String user;
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT quote_ident(current_user)")) {
      rs.next();
      user = rs.getString(1);
    }
    StringBuilder message =
        new StringBuilder("The database user ")
            .append(user)
            .append(" may not ")
            .append(toWhat)
            .append(" the KEK store ")
            .append(names)
            .append(": it lacks ");
    for (int i = 0; i < missing.size(); i++) {
      message.append(i == 0 ? "" : ", ").append(missing.get(i).description());
    }
    message.append(". A database owner can grant ");
    message.append(missing.size() == 1 ? "it" : "them").append(" with:");
    for (Privilege p : missing) {
      message.append(' ').append(String.format(p.grant(), user));
    }
    message.append(" (docs/store-jdbc.md lists what each schema mode needs)");
    throw new KeyManagerConfigException(message.toString(), null);
  }

  /** The recorded schema version, 0 if there is no version table. */
  static int currentVersion(Connection c, TableNames names) throws SQLException {
    if (!exists(c, "to_regclass", names.qualifiedVersionTable())) {
      if (exists(c, "to_regclass", names.qualifiedTable())) {
        throw new KeyManagerConfigException(
            "Table "
                + names
                + " exists but "
                + names.table()
                + TableNames.VERSION_TABLE_SUFFIX
                + " does not: it was not made by keymanager's schema scripts. Choose another"
                + " table name, or rename or drop that table");
      }
      return 0;
    }
    try (Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT COALESCE(MAX(version), 0) FROM " + names.qualifiedVersionTable())) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static boolean exists(Connection c, String function, String quotedName)
      throws SQLException {
    // function is one of two constants; quotedName is validated and quoted by TableNames.
    try (PreparedStatement s =
        c.prepareStatement("SELECT " + function + "(CAST(? AS text)) IS NOT NULL")) {
      s.setString(1, quotedName);
      try (ResultSet rs = s.executeQuery()) {
        rs.next();
        return rs.getBoolean(1);
      }
    }
  }

  private static KeyManagerConfigException newerThanLibrary(TableNames names, int current) {
    return new KeyManagerConfigException(
        "KEK store schema "
            + names
            + " is at version "
            + current
            + ", newer than version "
            + VERSION
            + " that this library reads: upgrade keymanager-store-jdbc on this node");
  }

  private static void execute(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute(sql);
    }
  }

  private static void restoreAutoCommit(Connection c, boolean autoCommit) {
    try {
      c.setAutoCommit(autoCommit);
    } catch (SQLException e) {
      // The connection is broken; the pool discards it. The caller has its result already.
      log.debug("Could not restore auto-commit on a KEK store connection", e);
    }
  }

  /** Script {@code version} with its placeholders replaced by {@code names}' quoted forms. */
  static String script(int version, TableNames names) {
    String resource = "schema/" + SCRIPTS.get(version - 1);
    try (InputStream in = Schema.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("Missing schema script " + resource + " in the jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8)
          .replace("${version_table}", names.qualifiedVersionTable())
          .replace("${head_table}", names.qualifiedHeadTable())
          .replace("${table}", names.qualifiedTable());
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot read schema script " + resource, e);
    }
  }

  /** The statements of a script: comment lines dropped, split at a {@code ;} that ends a line. */
  static List<String> statements(String script) {
    List<String> statements = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : script.split("\n", -1)) {
      if (line.strip().startsWith("--")) {
        continue;
      }
      current.append(line).append('\n');
      if (line.stripTrailing().endsWith(";")) {
        String statement = current.toString().strip();
        statements.add(statement.substring(0, statement.length() - 1));
        current.setLength(0);
      }
    }
    if (!current.toString().isBlank()) {
      throw new IllegalStateException("Schema script does not end with ';'");
    }
    return statements;
  }
}
