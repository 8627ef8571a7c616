package dev.keymanager.store.jdbc;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KekRef;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.spi.KekChangeListener;
import dev.keymanager.spi.KekChangeSubscription;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KekStoreChecks;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;

/**
 * A {@link KekStore} in one PostgreSQL table, for fleets of nodes that share KEK records through a
 * database they already run. Plain JDBC over the application's {@link DataSource} (and so its
 * connection pool); no ORM.
 *
 * <pre>{@code
 * KekStore store = JdbcKekStore.builder()
 *     .dataSource(pool)                 // HikariCP or any pool; the store does not close it
 *     .schema("keymanager")             // default "public"
 *     .build();                         // creates the tables if absent (SchemaMode.APPLY)
 * }</pre>
 *
 * <p><b>Schema.</b> Versioned scripts in this jar create the record table and {@code
 * <table>_schema_version}. {@link SchemaMode#APPLY} (the default) applies what is missing at build
 * time; {@link SchemaMode#VALIDATE} changes nothing and expects a DBA to have run {@link
 * Builder#schemaDdl()}. Either way a schema at another version than this library's is a {@link
 * KeyManagerConfigException}.
 *
 * <p><b>Heads.</b> Schema version 2 adds {@code <table>_head}, one row per KEK holding its {@link
 * KekHead}; a schema at version 1 is migrated by {@link SchemaMode#APPLY} (the KEKs in it keep
 * their rows and get a head on their first change).
 *
 * <p><b>Concurrency.</b> {@link #create} (and {@link #createHead}) is one {@code INSERT ... ON
 * CONFLICT DO NOTHING}; {@link #compareAndSet} (and {@link #compareAndSetHead}) is one {@code
 * UPDATE ... WHERE kek_id = ? AND kek_version = ? AND revision = ?}. Each is a single statement,
 * atomic in its own transaction (or committed at once on a connection whose auto-commit is off), so
 * of any number of writers on any number of nodes exactly one wins, and a record is always wholly
 * old or wholly new. Works under {@code READ COMMITTED} (PostgreSQL's default); under {@code
 * REPEATABLE READ} or {@code SERIALIZABLE}, a writer that races another may get a retryable
 * serialization failure instead of {@code false}.
 *
 * <p><b>Failures.</b> Every {@link SQLException} becomes a {@link KekStoreException} that says what
 * happened and, through {@link KekStoreException#isRetryable()}, whether to retry: a lost or
 * refused connection (SQLState class {@code 08}, {@code 57P01}...), a timeout or cancel ({@code
 * 57014}), a serialization failure or deadlock ({@code 40001}, {@code 40P01}), a lock not
 * available, a server out of resources or read-only are retryable; a missing table, rejected values
 * or refused credentials are not. When the connection is lost while a write is in flight, its
 * outcome is unknown, and the message says to read the record before retrying. No message quotes
 * wrapped material.
 *
 * <p>Thread-safe: each call borrows a connection from the data source and returns it. Every
 * statement has the {@linkplain Builder#queryTimeout(Duration) query timeout}. {@link #close()}
 * does not close the data source; later calls throw {@link IllegalStateException}.
 */
public final class JdbcKekStore implements KekStore {
  private final DataSource dataSource;
  private final TableNames names;
  private final int queryTimeoutSeconds;
  private final String selectOne;
  private final String selectVersions;
  private final String selectIds;
  private final String insert;
  private final String update;
  private final String selectHead;
  private final String insertHead;
  private final String updateHead;
  private final DataSource listenSource; // null: no change feed
  private final Set<PgChangeFeed> feeds = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  private JdbcKekStore(Builder b) {
    this.dataSource = b.dataSource;
    this.names = b.names();
    this.queryTimeoutSeconds = (int) b.queryTimeout.toSeconds();
    String table = names.qualifiedTable();
    this.selectOne =
        "SELECT " + KekRows.COLUMNS + " FROM " + table + " WHERE kek_id = ? AND kek_version = ?";
    this.selectVersions =
        "SELECT " + KekRows.COLUMNS + " FROM " + table + " WHERE kek_id = ? ORDER BY kek_version";
    // An index scan of the primary key (kek_id, kek_version); COLLATE "C" on a UTF-8 database
    // orders by bytes, which is KekIdPage.ORDER (code points).
    this.selectIds =
        "SELECT DISTINCT kek_id FROM " + table + " WHERE kek_id > ? ORDER BY kek_id LIMIT ?";
    String insert =
        "INSERT INTO "
            + table
            + " ("
            + KekRows.COLUMNS
            + ") VALUES ("
            + KekRows.PLACEHOLDERS
            + ") ON CONFLICT (kek_id, kek_version) DO NOTHING";
    this.insert =
        notifying(insert, "'v:' || w.kek_version || ':' || w.kek_id", "kek_version, kek_id");
    String update =
        "UPDATE "
            + table
            + " SET "
            + KekRows.ASSIGNMENTS
            + " WHERE kek_id = ? AND kek_version = ? AND revision = ?";
    this.update =
        notifying(update, "'v:' || w.kek_version || ':' || w.kek_id", "kek_version, kek_id");
    String heads = names.qualifiedHeadTable();
    this.selectHead = "SELECT " + HeadRows.COLUMNS + " FROM " + heads + " WHERE kek_id = ?";
    String insertHead =
        "INSERT INTO "
            + heads
            + " ("
            + HeadRows.COLUMNS
            + ") VALUES ("
            + HeadRows.PLACEHOLDERS
            + ") ON CONFLICT (kek_id) DO NOTHING";
    this.insertHead = notifying(insertHead, "'h:' || w.kek_id", "kek_id");
    String updateHead =
        "UPDATE " + heads + " SET " + HeadRows.ASSIGNMENTS + " WHERE kek_id = ? AND revision = ?";
    this.updateHead = notifying(updateHead, "'h:' || w.kek_id", "kek_id");
    this.listenSource = b.listenSource;
  }

  /**
   * {@code write} (one {@code INSERT} or {@code UPDATE}, parameters unchanged) as a statement that
   * also queues a notice of each row it wrote on this store's channel, in the same transaction: the
   * notice is sent when, and only if, the write commits. Returns one row per row written.
   */
  private String notifying(String write, String payload, String returning) {
    return "WITH w AS ("
        + write
        + " RETURNING "
        + returning
        + ") SELECT pg_notify('"
        + names.channel()
        + "', "
        + payload
        + ") FROM w";
  }

  /** A new builder; {@link Builder#dataSource} is required. */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public Optional<KeyEncryptionKey> find(String kekId, int version) {
    KekRef ref = new KekRef(kekId, version);
    return run(
        "read KEK " + ref,
        false,
        c -> {
          try (PreparedStatement s = prepare(c, selectOne)) {
            s.setString(1, kekId);
            s.setInt(2, version);
            try (ResultSet rs = s.executeQuery()) {
              return rs.next() ? Optional.of(KekRows.read(rs, names)) : Optional.empty();
            }
          }
        });
  }

  @Override
  public List<KeyEncryptionKey> versions(String kekId) {
    KekRef.checkId(kekId);
    return run(
        "list the versions of KEK " + kekId,
        false,
        c -> {
          try (PreparedStatement s = prepare(c, selectVersions)) {
            s.setString(1, kekId);
            List<KeyEncryptionKey> records = new ArrayList<>();
            try (ResultSet rs = s.executeQuery()) {
              while (rs.next()) {
                records.add(KekRows.read(rs, names));
              }
            }
            return records;
          }
        });
  }

  /** One index scan of the primary key; reads no record, so nothing is ever unreadable. */
  @Override
  public KekIdPage kekIds(String after, int limit) {
    KekStoreChecks.checkPage(after, limit);
    return run(
        "list KEK ids",
        false,
        c -> {
          List<String> ids = new ArrayList<>(Math.min(limit, 1024));
          boolean more = false;
          try (PreparedStatement s = prepare(c, selectIds)) {
            s.setString(1, after);
            s.setLong(2, limit + 1L); // one more tells whether another page follows
            try (ResultSet rs = s.executeQuery()) {
              while (rs.next()) {
                if (ids.size() == limit) {
                  more = true;
                  break;
                }
                ids.add(rs.getString(1));
              }
            }
          }
          return new KekIdPage(ids, List.of(), more);
        });
  }

  @Override
  public boolean create(KeyEncryptionKey record) {
    KekStoreChecks.checkNewRecord(record);
    return run(
        "create KEK " + record.ref(),
        true,
        c -> {
          try (PreparedStatement s = prepare(c, insert)) {
            KekRows.bindAll(s, record);
            return wroteOne(s);
          }
        });
  }

  @Override
  public boolean compareAndSet(long expectedRevision, KeyEncryptionKey next) {
    KekStoreChecks.checkNextRevision(expectedRevision, next);
    return run(
        "update KEK " + next.ref(),
        true,
        c -> {
          try (PreparedStatement s = prepare(c, update)) {
            int i = KekRows.bindValues(s, 1, next);
            s.setString(i++, next.id());
            s.setInt(i++, next.version());
            s.setLong(i, expectedRevision);
            return wroteOne(s);
          }
        });
  }

  @Override
  public Optional<KekHead> head(String kekId) {
    KekRef.checkId(kekId);
    return run(
        "read the head of KEK " + kekId,
        false,
        c -> {
          try (PreparedStatement s = prepare(c, selectHead)) {
            s.setString(1, kekId);
            try (ResultSet rs = s.executeQuery()) {
              return rs.next() ? Optional.of(HeadRows.read(rs, names)) : Optional.empty();
            }
          }
        });
  }

  @Override
  public boolean createHead(KekHead head) {
    KekStoreChecks.checkNewHead(head);
    return run(
        "create the head of KEK " + head.id(),
        true,
        c -> {
          try (PreparedStatement s = prepare(c, insertHead)) {
            HeadRows.bindAll(s, head);
            return wroteOne(s);
          }
        });
  }

  @Override
  public boolean compareAndSetHead(long expectedRevision, KekHead next) {
    KekStoreChecks.checkNextHead(expectedRevision, next);
    return run(
        "update the head of KEK " + next.id(),
        true,
        c -> {
          try (PreparedStatement s = prepare(c, updateHead)) {
            int i = HeadRows.bindValues(s, 1, next);
            s.setString(i++, next.id());
            s.setLong(i, expectedRevision);
            return wroteOne(s);
          }
        });
  }

  /**
   * Announces every committed change to {@code listener}, if the store was built with a {@linkplain
   * Builder#changeFeed(DataSource) change feed data source}; empty otherwise. Each subscription
   * holds one connection of its own from that data source for as long as it runs, listening on this
   * store's channel with PostgreSQL {@code LISTEN}; every write of every {@code JdbcKekStore} on
   * the same table queues its notice with {@code pg_notify} in the statement that writes, so the
   * notice is sent when the write commits and never for a write that rolled back.
   *
   * <p>The connection is opened on a thread of the subscription's own, which calls {@link
   * KekChangeListener#changesMayHaveBeenMissed()} once it listens. When the connection fails (the
   * server restarted, the backend was terminated, the network broke) it is opened again, after a
   * back-off from 100 ms doubling to 30 s with jitter, and once listening again the thread calls
   * {@link KekChangeListener#changesMayHaveBeenMissed()}: notices sent while it was away are lost,
   * and the listener must treat everything as changed. {@link KekChangeSubscription#close()} (or
   * closing the store) ends it and closes the connection.
   *
   * @throws IllegalStateException if the store is closed
   */
  @Override
  public Optional<KekChangeSubscription> subscribe(KekChangeListener listener) {
    requireNonNull(listener, "listener");
    if (closed) {
      throw new IllegalStateException("KEK store " + names + " is closed");
    }
    if (listenSource == null) {
      return Optional.empty();
    }
    PgChangeFeed feed = new PgChangeFeed(listenSource, names, listener, feeds::remove);
    feeds.add(feed);
    feed.start();
    return Optional.of(feed);
  }

  /**
   * Marks the store closed and ends its change feed subscriptions; the data sources stay open (the
   * application owns them). Idempotent.
   */
  @Override
  public void close() {
    closed = true;
    for (PgChangeFeed feed : List.copyOf(feeds)) {
      feed.close();
    }
  }

  @Override
  public String toString() {
    return "JdbcKekStore[" + names + "]";
  }

  private interface SqlWork<T> {
    T run(Connection c) throws SQLException;
  }

  /**
   * Runs one statement on a borrowed connection. With auto-commit on (the JDBC default) the
   * statement is its own transaction; with it off, the work is committed here before the result is
   * returned, so a {@code true} from a write is never left uncommitted in a pooled connection.
   */
  private <T> T run(String action, boolean write, SqlWork<T> work) {
    if (closed) {
      throw new IllegalStateException("KEK store " + names + " is closed");
    }
    boolean connected = false;
    try (Connection c = dataSource.getConnection()) {
      connected = true;
      try {
        T result = work.run(c);
        if (!c.getAutoCommit()) {
          c.commit();
        }
        return result;
      } catch (SQLException | RuntimeException e) {
        rollbackIfInTransaction(c, e);
        throw e;
      }
    } catch (SQLException e) {
      throw SqlFailures.translate(action, names, e, connected, write);
    }
  }

  /** Runs a {@link #notifying} write: whether it wrote its one row. */
  private static boolean wroteOne(PreparedStatement s) throws SQLException {
    int rows = 0;
    try (ResultSet rs = s.executeQuery()) {
      while (rs.next()) {
        rows++;
      }
    }
    return rows == 1;
  }

  private PreparedStatement prepare(Connection c, String sql) throws SQLException {
    PreparedStatement s = c.prepareStatement(sql);
    s.setQueryTimeout(queryTimeoutSeconds);
    return s;
  }

  private static void rollbackIfInTransaction(Connection c, Exception failure) {
    try {
      if (!c.isClosed() && !c.getAutoCommit()) {
        c.rollback();
      }
    } catch (SQLException e) {
      failure.addSuppressed(e);
    }
  }

  /**
   * Configures a {@link JdbcKekStore}; not thread-safe, reusable. Setters reject bad values at
   * once.
   */
  public static final class Builder {
    /** The default schema. */
    public static final String DEFAULT_SCHEMA = "public";

    /** The default table name. */
    public static final String DEFAULT_TABLE = "keymanager_kek";

    /** The default query timeout. */
    public static final Duration DEFAULT_QUERY_TIMEOUT = Duration.ofSeconds(10);

    private DataSource dataSource;
    private String schema = DEFAULT_SCHEMA;
    private String table = DEFAULT_TABLE;
    private SchemaMode schemaMode = SchemaMode.APPLY;
    private Duration queryTimeout = DEFAULT_QUERY_TIMEOUT;
    private DataSource listenSource;

    private Builder() {}

    /**
     * Where connections come from; required. Use a pool: every store call borrows one connection
     * for one statement. The store never closes it.
     */
    public Builder dataSource(DataSource dataSource) {
      this.dataSource = requireNonNull(dataSource, "dataSource");
      return this;
    }

    /**
     * The PostgreSQL schema of the tables; default {@value #DEFAULT_SCHEMA}.
     *
     * @throws IllegalArgumentException unless 1 to 63 characters of {@code [a-z0-9_]}, not starting
     *     with a digit or {@code pg_}: names are spliced into SQL, so nothing else is accepted
     */
    public Builder schema(String schema) {
      this.schema = TableNames.checkName("schema", schema, TableNames.MAX_SCHEMA_LENGTH);
      return this;
    }

    /**
     * The table of KEK records; default {@value #DEFAULT_TABLE}. The schema version is kept in
     * {@code <table>_schema_version}.
     *
     * @throws IllegalArgumentException unless 1 to 48 characters of {@code [a-z0-9_]}, not starting
     *     with a digit or {@code pg_}
     */
    public Builder table(String table) {
      this.table = TableNames.checkName("table", table, TableNames.MAX_TABLE_LENGTH);
      return this;
    }

    /** Whether {@link #build()} creates a missing schema or only checks it; default APPLY. */
    public Builder schemaMode(SchemaMode schemaMode) {
      this.schemaMode = requireNonNull(schemaMode, "schemaMode");
      return this;
    }

    /**
     * The longest one statement may run before the driver cancels it and the call fails with a
     * retryable {@link KekStoreException}; default 10 seconds. JDBC counts whole seconds: a
     * fraction is rounded up.
     *
     * @throws IllegalArgumentException if not positive or longer than one hour
     */
    public Builder queryTimeout(Duration queryTimeout) {
      requireNonNull(queryTimeout, "queryTimeout");
      if (queryTimeout.isNegative()
          || queryTimeout.isZero()
          || queryTimeout.compareTo(Duration.ofHours(1)) > 0) {
        throw new IllegalArgumentException("queryTimeout must be in (0, 1 hour]: " + queryTimeout);
      }
      long seconds = (queryTimeout.toNanos() + 999_999_999L) / 1_000_000_000L;
      this.queryTimeout = Duration.ofSeconds(seconds);
      return this;
    }

    /**
     * Turns on the store's change feed ({@link JdbcKekStore#subscribe}) and says where its
     * connections come from; default none (no feed: other nodes' changes reach a key manager within
     * its hard TTL). Each subscription (one per key manager over this store) holds one connection
     * from it for as long as it runs, idle but for a {@code LISTEN} and a {@code SELECT 1} every 30
     * seconds. Use a data source that opens plain connections (pgjdbc's {@code
     * PGSimpleDataSource}), not the pool given to {@link #dataSource}: a pooled connection held
     * forever is missing from the pool's budget, and a pool may flag it as leaked. Needs the
     * PostgreSQL JDBC driver ({@code org.postgresql:postgresql}); no privilege beyond connecting
     * ({@code LISTEN} and {@code NOTIFY} need none). Set the driver's {@code socketTimeout} above
     * 30 seconds so that a connection lost without a word from the network is noticed.
     */
    public Builder changeFeed(DataSource listenSource) {
      this.listenSource = requireNonNull(listenSource, "listenSource");
      return this;
    }

    /**
     * The SQL that creates this store's schema and tables at the current version, with the
     * configured names, for DBAs who apply schema changes themselves (then build with {@link
     * SchemaMode#VALIDATE}). Needs no data source.
     */
    public String schemaDdl() {
      return Schema.ddl(names());
    }

    /**
     * Connects once to apply or validate the schema, and returns the store.
     *
     * @throws KeyManagerConfigException if no data source was set, the schema is missing (in
     *     VALIDATE mode), at another version, or not made by these scripts, or the database user
     *     lacks a privilege the schema mode needs
     * @throws KekStoreException (retryable) if the database cannot be reached
     */
    public JdbcKekStore build() {
      if (dataSource == null) {
        throw new KeyManagerConfigException("No data source configured: call dataSource(...)");
      }
      TableNames names = names();
      if (listenSource != null) {
        PgChangeFeed.checkDriver();
      }
      boolean connected = false;
      try (Connection c = dataSource.getConnection()) {
        connected = true;
        if (schemaMode == SchemaMode.APPLY) {
          Schema.apply(c, names);
        } else {
          Schema.validate(c, names);
        }
      } catch (SQLException e) {
        if ("42501".equals(e.getSQLState())) {
          throw new KeyManagerConfigException(
              "The database user may not "
                  + (schemaMode == SchemaMode.APPLY ? "create" : "read")
                  + " the KEK store schema "
                  + names
                  + ": "
                  + SqlFailures.firstLine(e)
                  + (schemaMode == SchemaMode.APPLY
                      ? ". Grant the privilege named, or have a DBA apply schemaDdl() and build"
                          + " the store with SchemaMode.VALIDATE"
                      : ". Grant the privilege named (docs/store-jdbc.md lists what VALIDATE"
                          + " needs)"),
              e);
        }
        throw SqlFailures.translate(
            "set up schema (" + schemaMode + ")", names, e, connected, false);
      }
      return new JdbcKekStore(this);
    }

    private TableNames names() {
      return new TableNames(schema, table);
    }
  }
}
