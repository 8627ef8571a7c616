package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.benmanes.caffeine.cache.Ticker;
import dev.keymanager.KekRef;
import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The expiry timer's thread on both kinds of ticker: the staleness flag and the drop come at their
 * times, a dropped entry is left alone, and {@link ExpiryTimer#close()} ends the thread. Waits are
 * bounded and end as soon as the timer has acted; the wheel itself is tested by hand in {@link
 * TimerWheelTest}.
 */
class ExpiryTimerTest {
  private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
  private static final long LONG_WAIT = TimeUnit.SECONDS.toNanos(20);

  private final List<CachedKek> expired = new CopyOnWriteArrayList<>();
  private ExpiryTimer timer;

  @AfterEach
  void close() {
    if (timer != null) {
      timer.close();
    }
  }

  private static CachedKek entry(long expiresAt, long refreshAt) {
    return new CachedKek(new KekRef("timer", 1), new byte[32], expiresAt, refreshAt);
  }

  @Test
  void onTheSystemTickerAnEntryIsFlaggedAtItsRefreshTimeAndDroppedAtItsHardTtl()
      throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    timer =
        new ExpiryTimer(
            Ticker.systemTicker(),
            kek -> {
              if (!kek.isExpired(System.nanoTime())) {
                return false;
              }
              expired.add(kek);
              done.countDown();
              return true;
            });
    assertThat(timer.keepsTickerTime()).isTrue();
    long now = System.nanoTime();
    CachedKek kek = entry(now + 1500 * MS, now + 100 * MS);
    timer.schedule(kek);

    while (kek.isCurrent()) {
      assertThat(System.nanoTime() - now).as("flagged in time").isLessThan(LONG_WAIT);
      Thread.onSpinWait();
    }
    assertThat(System.nanoTime())
        .as("flagged no earlier than a tick before its refresh time")
        .isGreaterThanOrEqualTo(kek.refreshAt() - TimerWheel.TICK_NANOS);
    assertThat(expired).isEmpty();

    assertThat(done.await(20, TimeUnit.SECONDS)).as("dropped without traffic").isTrue();
    assertThat(expired).containsExactly(kek);
  }

  @Test
  void onTheSystemTickerTheFlagComesAtTheLatestTheSlackBeforeTheHardTtl() {
    timer = new ExpiryTimer(Ticker.systemTicker(), kek -> true);
    long now = System.nanoTime();
    long slack = TimeUnit.MILLISECONDS.toNanos(ExpiryTimer.SLACK_MILLIS);
    // Its refresh time is after its hard TTL (refresh-ahead off): the slack decides.
    CachedKek kek = entry(now + slack + 200 * MS, Long.MAX_VALUE);
    timer.schedule(kek);

    while (kek.isCurrent()) {
      assertThat(System.nanoTime() - now).as("flagged in time").isLessThan(LONG_WAIT);
      Thread.onSpinWait();
    }
    assertThat(System.nanoTime())
        .isGreaterThanOrEqualTo(kek.expiresAt() - slack - TimerWheel.TICK_NANOS);
  }

  @Test
  void onAManualTickerNothingIsFlaggedAndADropWaitsForTheTicker() throws InterruptedException {
    AtomicLong clock = new AtomicLong();
    CountDownLatch first = new CountDownLatch(1);
    CountDownLatch second = new CountDownLatch(2);
    timer =
        new ExpiryTimer(
            clock::get,
            kek -> {
              assertThat(kek.isExpired(clock.get())).as("handed out before its hard TTL").isTrue();
              expired.add(kek);
              first.countDown();
              second.countDown();
              return true;
            });
    assertThat(timer.keepsTickerTime()).isFalse();
    CachedKek soon = entry(10 * MS, 5 * MS);
    CachedKek later = entry(40 * MS, 5 * MS);
    timer.schedule(soon);
    timer.schedule(later);

    clock.set(15 * MS); // the test's clock passes the first hard TTL only
    assertThat(first.await(20, TimeUnit.SECONDS)).as("dropped once the ticker says so").isTrue();
    assertThat(expired).containsExactly(soon);
    assertThat(later.isCurrent()).as("no flag without the system ticker").isTrue();

    clock.set(40 * MS);
    assertThat(second.await(20, TimeUnit.SECONDS)).isTrue();
    assertThat(expired).containsExactly(soon, later);
  }

  @Test
  void anEntryDroppedBeforeItsHardTtlIsLeftAlone() throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    timer =
        new ExpiryTimer(
            Ticker.systemTicker(),
            kek -> {
              expired.add(kek);
              done.countDown();
              return true;
            });
    long now = System.nanoTime();
    CachedKek dropped = entry(now + 30 * MS, Long.MAX_VALUE);
    CachedKek kept = entry(now + 60 * MS, Long.MAX_VALUE);
    timer.schedule(dropped);
    timer.schedule(kept);
    dropped.drop();

    assertThat(done.await(20, TimeUnit.SECONDS)).isTrue();
    assertThat(expired).containsExactly(kept);
  }

  @Test
  void closeEndsTheThreadWithEntriesStillScheduled() throws InterruptedException {
    timer = new ExpiryTimer(Ticker.systemTicker(), kek -> true);
    Thread thread = timer.thread();
    assertThat(thread.getName()).startsWith(ExpiryTimer.THREAD_PREFIX);
    assertThat(thread.isDaemon()).isTrue();
    long now = System.nanoTime();
    for (int i = 0; i < 1_000; i++) {
      timer.schedule(entry(now + TimeUnit.HOURS.toNanos(1), Long.MAX_VALUE));
    }

    timer.close();
    thread.join(TimeUnit.SECONDS.toMillis(20));
    assertThat(thread.isAlive()).isFalse();
  }

  @Test
  void closingTheKeyManagerEndsItsExpiryThread() throws InterruptedException {
    List<Thread> before = expiryThreads();
    KeyManager keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(new FakeKms())
            .discoverProviders(false)
            .build();
    List<Thread> started = expiryThreads();
    started.removeAll(before);
    assertThat(started).hasSize(1);

    keys.close();
    started.get(0).join(TimeUnit.SECONDS.toMillis(20));
    assertThat(started.get(0).isAlive()).isFalse();
  }

  private static List<Thread> expiryThreads() {
    List<Thread> found = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith(ExpiryTimer.THREAD_PREFIX)) {
        found.add(t);
      }
    }
    return found;
  }
}
