/**
 * A {@link dev.keymanager.spi.KekStore} on plain JDBC: {@link
 * dev.keymanager.store.jdbc.JdbcKekStore}.
 *
 * <p>Arguments and return values are non-null unless documented otherwise.
 */
package dev.keymanager.store.jdbc;
