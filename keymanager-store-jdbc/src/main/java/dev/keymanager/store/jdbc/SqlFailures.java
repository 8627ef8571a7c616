package dev.keymanager.store.jdbc;

import dev.keymanager.KekStoreException;
import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;

/**
 * Turns a {@link SQLException} into a {@link KekStoreException} that says what happened and whether
 * retrying can help, from the SQLState (PostgreSQL's codes, which follow the SQL standard's
 * classes) and the JDBC exception type.
 *
 * <p>Server messages of the data classes ({@code 22}, {@code 23}) can quote row values, wrapped
 * material among them ({@code Failing row contains (...)}), so for those neither the message nor
 * the driver's exception is kept: the cause is replaced by one that carries the SQLState alone.
 */
final class SqlFailures {
  /** What went wrong, as the message says it, and whether the same call may succeed later. */
  enum Kind {
    CANNOT_CONNECT("could not obtain a database connection", true),
    CONNECTION_LOST("the database connection was lost or closed by the server", true),
    TIMEOUT("the statement timed out or was cancelled", true),
    SERIALIZATION("serialization failure: a concurrent transaction changed the same record", true),
    DEADLOCK("deadlock detected between concurrent transactions", true),
    ROLLED_BACK("the server rolled the transaction back", true),
    LOCK_NOT_AVAILABLE("a lock on the record was not available", true),
    RESOURCES("the server is out of resources (connections, memory or disk)", true),
    READ_ONLY("the database is read-only (a standby, or a failover in progress)", true),
    TRANSIENT("a transient database failure", true),
    AUTHENTICATION("the database refused the credentials", false),
    SCHEMA("the table is missing or does not match the schema version this library uses", false),
    DATA("the database rejected the record's values", false),
    OTHER("a database error", false);

    final String description;
    final boolean retryable;

    Kind(String description, boolean retryable) {
      this.description = description;
      this.retryable = retryable;
    }
  }

  private SqlFailures() {}

  /**
   * The store exception for {@code e}, raised while doing {@code action} (such as {@code "update
   * KEK tenant-1 v2"}).
   *
   * @param connected whether a connection had been obtained: failures before are never ambiguous
   * @param write whether the statement writes; a connection lost during a write leaves its outcome
   *     unknown, and the message says so
   */
  static KekStoreException translate(
      String action, TableNames names, SQLException e, boolean connected, boolean write) {
    String state = sqlState(e);
    Kind kind = classify(e, state, connected);
    StringBuilder message =
        new StringBuilder("Cannot ")
            .append(action)
            .append(" in KEK store ")
            .append(names)
            .append(": ")
            .append(kind.description)
            .append(" (SQLState ")
            .append(state)
            .append(')');
    boolean quotesValues = kind == Kind.DATA;
    if (!quotesValues) {
      message.append(": ").append(firstLine(e));
    }
    boolean ambiguous = kind == Kind.CONNECTION_LOST && write;
    if (ambiguous) {
      message.append(
          ". The write may or may not have been applied: read the record before retrying");
    } else if (kind.retryable) {
      message.append(". Nothing was written; the call may be retried");
    }
    Throwable cause = quotesValues ? new SQLException("SQLState " + state, state) : e;
    if (ambiguous) {
      return KekStoreException.mayHaveBeenApplied(message.toString(), cause);
    }
    return kind.retryable
        ? KekStoreException.retryable(message.toString(), cause)
        : KekStoreException.permanent(message.toString(), cause);
  }

  static Kind classify(SQLException e, String state, boolean connected) {
    String cls = state.length() < 2 ? "" : state.substring(0, 2);
    if (cls.equals("28") || "3D000".equals(state)) {
      return Kind.AUTHENTICATION;
    }
    if (!connected) {
      return isRetryableState(state, cls) || isTransientType(e) ? Kind.CANNOT_CONNECT : Kind.OTHER;
    }
    switch (cls) {
      case "08" -> {
        return Kind.CONNECTION_LOST;
      }
      case "53" -> {
        return Kind.RESOURCES;
      }
      case "42" -> {
        return Kind.SCHEMA;
      }
      case "22", "23" -> {
        return Kind.DATA;
      }
      default -> {}
    }
    switch (state) {
      // admin_shutdown (pg_terminate_backend, a fast shutdown), crash_shutdown, cannot_connect_now
      // (starting up or shutting down), idle_session_timeout
      case "57P01", "57P02", "57P03", "57P05" -> {
        return Kind.CONNECTION_LOST;
      }
      case "57014" -> { // query_canceled: statement_timeout or a JDBC query timeout
        return Kind.TIMEOUT;
      }
      case "40001" -> {
        return Kind.SERIALIZATION;
      }
      case "40P01" -> {
        return Kind.DEADLOCK;
      }
      case "55P03" -> {
        return Kind.LOCK_NOT_AVAILABLE;
      }
      case "25006" -> {
        return Kind.READ_ONLY;
      }
      default -> {}
    }
    if (cls.equals("40")) {
      return Kind.ROLLED_BACK;
    }
    return isTransientType(e) ? Kind.TRANSIENT : Kind.OTHER;
  }

  private static boolean isRetryableState(String state, String cls) {
    return cls.equals("08") || cls.equals("53") || state.startsWith("57P0");
  }

  private static boolean isTransientType(SQLException e) {
    return e instanceof SQLTransientException || e instanceof SQLRecoverableException;
  }

  /** The first SQLState in the exception and its chained exceptions, or {@code "none"}. */
  static String sqlState(SQLException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLException s && s.getSQLState() != null) {
        return s.getSQLState();
      }
    }
    SQLException next = e.getNextException();
    return next != null && next.getSQLState() != null ? next.getSQLState() : "none";
  }

  /**
   * The first line of the driver's message: PostgreSQL puts the row details, which may quote
   * values, on the lines after it.
   */
  static String firstLine(SQLException e) {
    String m = String.valueOf(e.getMessage());
    int newline = m.indexOf('\n');
    return (newline < 0 ? m : m.substring(0, newline)).strip();
  }
}
