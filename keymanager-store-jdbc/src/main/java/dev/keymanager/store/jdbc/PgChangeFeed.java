package dev.keymanager.store.jdbc;

import dev.keymanager.KekRef;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.spi.KekChangeListener;
import dev.keymanager.spi.KekChangeSubscription;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One subscription to a {@link JdbcKekStore}'s changes: a thread of its own holding one connection
 * that {@code LISTEN}s on the store's channel, and turns each notice into a call of the listener.
 *
 * <p>Notices are queued by the store's writes ({@code pg_notify} in the writing statement): {@code
 * h:<id>} for a head, {@code v:<version>:<id>} for a version record. Any other payload on the
 * channel (an operator's {@code SELECT pg_notify('<channel>', '*')} after editing rows by hand)
 * means "everything may have changed".
 *
 * <p>The connection is opened again after any failure, with a back-off; every time it listens (the
 * first time included) the listener hears {@link KekChangeListener#changesMayHaveBeenMissed()},
 * after the {@code LISTEN} has taken effect, so no change committed after that call goes unheard
 * and every change before it is covered by it. A {@code SELECT 1} every {@value #HEARTBEAT_MILLIS}
 * ms finds a connection the server has dropped without a word.
 *
 * <p>Logs through SLF4J, as the rest of the store: reconnects at WARN, with the channel and the
 * cause's message, never record contents (notices hold ids only).
 */
final class PgChangeFeed implements KekChangeSubscription, Runnable {
  private static final Logger log = LoggerFactory.getLogger(PgChangeFeed.class);

  /** What the listening connection shows in {@code pg_stat_activity.application_name}. */
  static final String APPLICATION_NAME = "keymanager-kek-changes";

  static final long POLL_MILLIS = 500;
  static final long HEARTBEAT_MILLIS = 30_000;
  static final long FIRST_BACKOFF_MILLIS = 100;
  static final long MAX_BACKOFF_MILLIS = 30_000;

  private final DataSource source;
  private final TableNames names;
  private final KekChangeListener listener;
  private final Consumer<PgChangeFeed> onClose;
  private final Thread thread;
  private final Object deliveryLock = new Object();
  private volatile boolean closed; // written under deliveryLock

  PgChangeFeed(
      DataSource source,
      TableNames names,
      KekChangeListener listener,
      Consumer<PgChangeFeed> onClose) {
    this.source = source;
    this.names = names;
    this.listener = listener;
    this.onClose = onClose;
    this.thread = new Thread(this, "keymanager-kek-changes-" + names.channel());
    thread.setDaemon(true);
  }

  /**
   * Fails at build time, not on the feed's thread, when the PostgreSQL driver is not there.
   *
   * @throws KeyManagerConfigException if {@code org.postgresql.PGConnection} cannot be loaded
   */
  static void checkDriver() {
    try {
      Class.forName("org.postgresql.PGConnection", false, PgChangeFeed.class.getClassLoader());
    } catch (ClassNotFoundException | LinkageError e) {
      throw new KeyManagerConfigException(
          "The KEK store change feed needs the PostgreSQL JDBC driver (org.postgresql:postgresql)"
              + " on the class or module path",
          e);
    }
  }

  void start() {
    thread.start();
  }

  @Override
  public void run() {
    long backoff = FIRST_BACKOFF_MILLIS;
    while (!closed) {
      try {
        listen();
        backoff = FIRST_BACKOFF_MILLIS; // listened, then lost: start the back-off again
      } catch (SQLException | RuntimeException e) {
        if (closed) {
          break;
        }
        log.warn(
            "KEK store change feed on channel {} failed ({}); reconnecting in about {} ms,"
                + " then every cached KEK is dropped, since notices may be lost meanwhile",
            names.channel(),
            e.getMessage(),
            backoff);
      }
      if (!closed) {
        // Jittered, so that a fleet that lost its database at once does not reconnect at once.
        sleep(backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1));
        backoff = Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
      }
    }
  }

  /** One connection's life: listen, announce the possible gap, relay notices until it fails. */
  private void listen() throws SQLException {
    try (Connection c = source.getConnection()) {
      PGConnection pg = c.unwrap(PGConnection.class);
      try (Statement s = c.createStatement()) {
        s.execute("SET application_name = '" + APPLICATION_NAME + "'");
        // Quoted: the channel holds a dot; its characters are [a-z0-9_.] (TableNames).
        s.execute("LISTEN \"" + names.channel() + "\"");
        if (!c.getAutoCommit()) {
          c.commit(); // LISTEN takes effect at commit
        }
        deliver(listener::changesMayHaveBeenMissed);
        long lastHeard = System.nanoTime();
        while (!closed) {
          PGNotification[] notices = pg.getNotifications((int) POLL_MILLIS);
          if (notices != null) {
            for (PGNotification n : notices) {
              dispatch(n.getParameter());
            }
          }
          if (System.nanoTime() - lastHeard > TimeUnit.MILLISECONDS.toNanos(HEARTBEAT_MILLIS)) {
            s.execute("SELECT 1");
            if (!c.getAutoCommit()) {
              c.commit();
            }
            lastHeard = System.nanoTime();
          }
        }
      }
    }
  }

  /** Turns one payload into one listener call. */
  void dispatch(String payload) {
    try {
      if (payload.startsWith("h:")) {
        String id = payload.substring(2);
        KekRef.checkId(id);
        deliver(() -> listener.headChanged(id));
        return;
      }
      if (payload.startsWith("v:")) {
        int colon = payload.indexOf(':', 2);
        if (colon > 2) {
          KekRef ref =
              new KekRef(
                  payload.substring(colon + 1), Integer.parseInt(payload.substring(2, colon)));
          deliver(() -> listener.versionChanged(ref));
          return;
        }
      }
    } catch (IllegalArgumentException e) {
      // not one of ours (NumberFormatException included): fall through
    }
    deliver(listener::changesMayHaveBeenMissed);
  }

  private void deliver(Runnable call) {
    synchronized (deliveryLock) {
      if (closed) {
        return;
      }
      try {
        call.run();
      } catch (RuntimeException e) {
        log.warn("KEK change listener failed; the feed goes on", e);
      }
    }
  }

  private void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      // close() interrupts: the loop looks at closed
    }
  }

  /**
   * Ends the feed: no listener call starts after this returns. The thread closes its connection
   * within {@value #POLL_MILLIS} ms; this waits that long for it at most.
   */
  @Override
  public void close() {
    synchronized (deliveryLock) {
      if (closed) {
        return;
      }
      closed = true;
    }
    onClose.accept(this);
    if (Thread.currentThread() != thread) {
      thread.interrupt();
      try {
        thread.join(2 * POLL_MILLIS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public String toString() {
    return "PgChangeFeed[" + names.channel() + (closed ? ", closed" : "") + "]";
  }
}
