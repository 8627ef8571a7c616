package dev.keymanager.store.jdbc;

import java.util.regex.Pattern;

/**
 * The validated schema and table names of a store, and their quoted SQL forms.
 *
 * <p>Names are spliced into SQL text (identifiers cannot be bind parameters), so only lowercase
 * ASCII letters, digits and underscores are accepted, starting with a letter or underscore, and
 * they are double-quoted besides. Nothing else can reach the SQL: no quote, dot, space, semicolon
 * or comment.
 *
 * @param schema the PostgreSQL schema (namespace) holding the tables
 * @param table the table of KEK version records; {@code <table>_head} holds the KEK heads and
 *     {@code <table>_schema_version} records the schema version
 */
record TableNames(String schema, String table) {
  /** PostgreSQL truncates identifiers past 63 bytes; the version table adds this suffix. */
  static final String VERSION_TABLE_SUFFIX = "_schema_version";

  /** The head table's suffix; shorter than {@link #VERSION_TABLE_SUFFIX}, so it fits too. */
  static final String HEAD_TABLE_SUFFIX = "_head";

  static final int MAX_SCHEMA_LENGTH = 63;
  static final int MAX_TABLE_LENGTH = 63 - VERSION_TABLE_SUFFIX.length();

  private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]*");

  TableNames {
    checkName("schema", schema, MAX_SCHEMA_LENGTH);
    checkName("table", table, MAX_TABLE_LENGTH);
  }

  /**
   * Checks one name.
   *
   * @throws IllegalArgumentException if it is empty, too long, or holds anything but {@code
   *     [a-z0-9_]} (or starts with a digit)
   */
  static String checkName(String what, String name, int maxLength) {
    java.util.Objects.requireNonNull(name, what);
    if (name.isEmpty() || name.length() > maxLength || !IDENTIFIER.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "Invalid "
              + what
              + " name: expected 1 to "
              + maxLength
              + " characters of [a-z0-9_], not starting with a digit; got '"
              + name
              + "'");
    }
    if (name.startsWith("pg_")) {
      throw new IllegalArgumentException(
          "Invalid " + what + " name '" + name + "': the prefix pg_ is reserved by PostgreSQL");
    }
    return name;
  }

  /** {@code "schema"}. */
  String quotedSchema() {
    return quote(schema);
  }

  /** {@code "schema"."table"}. */
  String qualifiedTable() {
    return quote(schema) + "." + quote(table);
  }

  /** {@code "schema"."table_head"}: one head row per KEK (schema version 2). */
  String qualifiedHeadTable() {
    return quote(schema) + "." + quote(table + HEAD_TABLE_SUFFIX);
  }

  /** {@code "schema"."table_schema_version"}. */
  String qualifiedVersionTable() {
    return quote(schema) + "." + quote(table + VERSION_TABLE_SUFFIX);
  }

  /**
   * The {@code LISTEN}/{@code NOTIFY} channel of this store's changes: {@code schema.table}, or, if
   * that exceeds PostgreSQL's 63-byte identifier limit, its first 54 characters, {@code _} and 8
   * hex digits of its hash (stable across JVMs), so that two stores on other tables never share
   * one.
   */
  String channel() {
    String full = schema + "." + table;
    if (full.length() <= 63) {
      return full;
    }
    return full.substring(0, 54) + "_" + String.format("%08x", full.hashCode());
  }

  private static String quote(String validatedName) {
    return '"' + validatedName + '"';
  }

  /** {@code schema.table}, for messages. */
  @Override
  public String toString() {
    return schema + "." + table;
  }
}
