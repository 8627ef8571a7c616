package dev.keymanager.store.jdbc;

import static org.assertj.core.api.Assertions.fail;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;

/** Finds and ends the server backends of a pool through {@code pg_stat_activity}. */
final class Blocking {
  private static final Duration WAIT = Duration.ofSeconds(20);

  private Blocking() {}

  /**
   * Waits until a backend of {@code applicationName} is blocked on a lock, and returns its pid. It
   * polls the server's own view every 5 ms: the wait ends as soon as the server reports the lock
   * wait, not after a fixed time.
   */
  static int awaitBlockedBackend(Connection observer, String applicationName)
      throws SQLException, InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      try (PreparedStatement s =
          observer.prepareStatement(
              "SELECT pid FROM pg_stat_activity"
                  + " WHERE application_name = ? AND wait_event_type = 'Lock'")) {
        s.setString(1, applicationName);
        try (ResultSet rs = s.executeQuery()) {
          if (rs.next()) {
            return rs.getInt(1);
          }
        }
      }
      Thread.sleep(5);
    }
    return fail("no backend of %s blocked on a lock within %s", applicationName, WAIT);
  }

  /** Ends a backend as an administrator would; its client sees the connection drop. */
  static void terminate(Connection observer, int pid) throws SQLException {
    try (PreparedStatement s = observer.prepareStatement("SELECT pg_terminate_backend(?)")) {
      s.setInt(1, pid);
      try (ResultSet rs = s.executeQuery()) {
        rs.next();
        if (!rs.getBoolean(1)) {
          fail("pg_terminate_backend(%s) returned false", pid);
        }
      }
    }
  }
}
