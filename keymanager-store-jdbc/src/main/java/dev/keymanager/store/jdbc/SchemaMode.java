package dev.keymanager.store.jdbc;

/** What {@link JdbcKekStore.Builder#build()} does about the database schema. */
public enum SchemaMode {
  /**
   * Creates the schema, the tables and any missing migration when absent, in one transaction
   * serialized across nodes by an advisory lock, then checks the version. Needs the right to create
   * tables (and the schema, if it does not exist).
   */
  APPLY,

  /**
   * Changes nothing: checks that a DBA has applied the scripts ({@link
   * JdbcKekStore.Builder#schemaDdl()}) and that the schema version is the one this library reads.
   * The store then needs only {@code SELECT}, {@code INSERT} and {@code UPDATE} on the table.
   */
  VALIDATE
}
