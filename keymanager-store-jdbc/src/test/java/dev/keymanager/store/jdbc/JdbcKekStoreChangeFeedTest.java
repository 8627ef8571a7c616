package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekChangeListener;
import dev.keymanager.spi.KekChangeSubscription;
import dev.keymanager.spi.KekHead;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The change feed of one {@link JdbcKekStore}, on the embedded PostgreSQL, without key managers.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class JdbcKekStoreChangeFeedTest {
  private static final String MISSED = "may have missed";

  private final Recorder events = new Recorder();
  private HikariDataSource pool;
  private GatedDataSource feed;
  private JdbcKekStore store;
  private String schema;

  /** Every listener call, in order, as text. */
  static final class Recorder implements KekChangeListener {
    final BlockingQueue<String> calls = new LinkedBlockingQueue<>();

    @Override
    public void headChanged(String kekId) {
      calls.add("head " + kekId);
    }

    @Override
    public void versionChanged(KekRef ref) {
      calls.add("version " + ref);
    }

    @Override
    public void changesMayHaveBeenMissed() {
      calls.add(MISSED);
    }

    String next() throws InterruptedException {
      String call = calls.poll(30, TimeUnit.SECONDS);
      assertThat(call).as("a listener call within 30 s").isNotNull();
      return call;
    }
  }

  @BeforeEach
  void openStore() {
    schema = server().newSchema();
    pool = server().pool("feed-test", 2, config -> {});
    feed = new GatedDataSource(server().jdbcUrl());
    store = JdbcKekStore.builder().dataSource(pool).schema(schema).changeFeed(feed).build();
  }

  @AfterEach
  void closeStore() {
    store.close();
    pool.close();
  }

  @Test
  void aStoreBuiltWithoutAChangeFeedOffersNone() {
    try (JdbcKekStore plain = JdbcKekStore.builder().dataSource(pool).schema(schema).build()) {
      assertThat(plain.subscribe(events)).isEmpty();
    }
  }

  @Test
  void everyCommittedWriteIsAnnouncedOnceListeningAndALostCompareAndSetIsNot() throws Exception {
    try (KekChangeSubscription s = store.subscribe(events).orElseThrow()) {
      assertThat(events.next()).isEqualTo(MISSED); // the feed is live from here on

      KeyEncryptionKey v1 = TestRecords.record("tenant:a b", 1);
      assertThat(store.create(v1)).isTrue();
      assertThat(events.next()).isEqualTo("version tenant:a b v1");

      assertThat(store.create(v1)).isFalse(); // exists: nothing written, nothing announced
      assertThat(store.compareAndSet(7, v1.toBuilder().revision(8).build())).isFalse();
      KekHead head =
          KekHead.builder()
              .id("tenant:a b")
              .state(KekState.ENABLED)
              .primaryVersion(1)
              .minimumDecryptionVersion(1)
              .cmkUri(TestRecords.CMK)
              .updatedAt(TestRecords.T0)
              .revision(1)
              .build();
      assertThat(store.createHead(head)).isTrue();
      assertThat(events.next()).isEqualTo("head tenant:a b");

      KekHead disabled = head.toBuilder().state(KekState.DISABLED).revision(2).build();
      assertThat(store.compareAndSetHead(1, disabled)).isTrue();
      assertThat(events.next()).isEqualTo("head tenant:a b");
      assertThat(store.compareAndSet(1, TestRecords.next(v1))).isTrue();
      assertThat(events.next()).isEqualTo("version tenant:a b v1");
    }
  }

  @Test
  void writesToAnotherTableAreNotAnnouncedOnThisOne() throws Exception {
    try (JdbcKekStore other =
            JdbcKekStore.builder().dataSource(pool).schema(schema).table("other_kek").build();
        KekChangeSubscription s = store.subscribe(events).orElseThrow()) {
      assertThat(events.next()).isEqualTo(MISSED);

      assertThat(other.create(TestRecords.record("elsewhere", 1))).isTrue();
      assertThat(store.create(TestRecords.record("here", 1))).isTrue();

      assertThat(events.next()).isEqualTo("version here v1"); // nothing queued before it
    }
  }

  @Test
  void anyOtherPayloadOnTheChannelMeansEverythingMayHaveChanged() throws Exception {
    try (KekChangeSubscription s = store.subscribe(events).orElseThrow();
        Connection c = server().connect();
        PreparedStatement notify = c.prepareStatement("SELECT pg_notify(?, ?)")) {
      assertThat(events.next()).isEqualTo(MISSED);
      for (String payload : new String[] {"*", "v:x:id", "h:", "v:3:"}) {
        notify.setString(1, schema + ".keymanager_kek");
        notify.setString(2, payload);
        notify.execute();
        assertThat(events.next()).as(payload).isEqualTo(MISSED);
      }
    }
  }

  @Test
  void aDroppedConnectionIsReopenedAndSaysNoticesMayHaveBeenMissed() throws Exception {
    assertThat(store.subscribe(events)).isPresent();
    assertThat(events.next()).isEqualTo(MISSED);
    int first = feed.backendPids().get(0);
    try (Connection c = server().connect()) {
      Blocking.terminate(c, first);
    }
    assertThat(events.next()).isEqualTo(MISSED);
    assertThat(feed.backendPids()).hasSize(2);
    assertThat(store.create(TestRecords.record("after", 1))).isTrue();
    assertThat(events.next()).isEqualTo("version after v1");

    store.close(); // ends the subscription too
    assertThatThrownBy(() -> store.subscribe(events)).isInstanceOf(IllegalStateException.class);
    assertThat(events.calls.poll(2 * PgChangeFeed.POLL_MILLIS, TimeUnit.MILLISECONDS)).isNull();
  }

  @Test
  void aClosedSubscriptionCallsNoMoreAndReleasesItsConnection() throws Exception {
    KekChangeSubscription s = store.subscribe(events).orElseThrow();
    assertThat(events.next()).isEqualTo(MISSED);
    int pid = feed.backendPids().get(0);

    s.close();
    s.close(); // idempotent
    assertThat(store.create(TestRecords.record("unheard", 1))).isTrue();

    try (Connection c = server().connect();
        PreparedStatement q =
            c.prepareStatement("SELECT count(*) FROM pg_stat_activity WHERE pid = ?")) {
      q.setInt(1, pid);
      long start = System.nanoTime();
      for (; ; ) {
        try (ResultSet rs = q.executeQuery()) {
          rs.next();
          if (rs.getInt(1) == 0) {
            break;
          }
        }
        assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(30));
        Thread.sleep(10);
      }
    }
    assertThat(events.calls).isEmpty();
  }
}
