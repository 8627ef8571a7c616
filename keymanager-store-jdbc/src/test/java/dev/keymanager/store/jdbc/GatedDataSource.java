package dev.keymanager.store.jdbc;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * Plain driver connections (as a change feed should use) that a test can refuse for a while, as a
 * database that is restarting or unreachable refuses them, and that remember the server process id
 * of every connection handed out, so that a test can terminate one with {@code
 * pg_terminate_backend}.
 */
final class GatedDataSource implements DataSource {
  private final UrlDataSource delegate;
  private final List<Integer> backendPids = new CopyOnWriteArrayList<>();
  private volatile boolean open = true;

  GatedDataSource(String url) {
    this.delegate = new UrlDataSource(url);
  }

  /**
   * Refuses every new connection until {@link #open()}; connections handed out stay as they are.
   */
  void shut() {
    open = false;
  }

  void open() {
    open = true;
  }

  /** The backend pid of every connection handed out, oldest first. */
  List<Integer> backendPids() {
    return List.copyOf(backendPids);
  }

  @Override
  public Connection getConnection() throws SQLException {
    if (!open) {
      throw new SQLTransientConnectionException("test: the database refuses connections", "08001");
    }
    Connection c = delegate.getConnection();
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      backendPids.add(rs.getInt(1));
    } catch (SQLException e) {
      c.close();
      throw e;
    }
    return c;
  }

  @Override
  public Connection getConnection(String username, String password) throws SQLException {
    throw new SQLFeatureNotSupportedException();
  }

  @Override
  public PrintWriter getLogWriter() {
    return null;
  }

  @Override
  public void setLogWriter(PrintWriter out) {}

  @Override
  public void setLoginTimeout(int seconds) {}

  @Override
  public int getLoginTimeout() {
    return 0;
  }

  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    throw new SQLFeatureNotSupportedException();
  }

  @Override
  public <T> T unwrap(Class<T> iface) throws SQLException {
    throw new SQLException("not a wrapper");
  }

  @Override
  public boolean isWrapperFor(Class<?> iface) {
    return false;
  }
}
