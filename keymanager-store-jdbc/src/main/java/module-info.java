/**
 * A {@link dev.keymanager.spi.KekStore} on plain JDBC, for fleets of nodes sharing one PostgreSQL
 * database. See {@link dev.keymanager.store.jdbc.JdbcKekStore}.
 */
module dev.keymanager.store.jdbc {
  requires transitive dev.keymanager.api;
  requires transitive java.sql;
  requires org.slf4j;
  // The change feed only (PGConnection.getNotifications); checked when a store is built with one.
  requires static org.postgresql.jdbc;

  exports dev.keymanager.store.jdbc;
}
