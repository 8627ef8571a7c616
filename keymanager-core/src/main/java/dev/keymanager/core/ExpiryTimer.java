package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Ticker;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * Wipes cached KEKs (and the subkeys derived from them) at their hard TTL without waiting for cache
 * traffic: one daemon thread per key manager, ended by {@link #close()}.
 *
 * <p>Each installed entry gets one task at its hard TTL, measured on the cache's ticker. The task
 * asks the cache to drop the entry; if the ticker says it is not due yet (a manual clock in tests),
 * it tries again after the remaining time. An entry dropped earlier (replaced by a refresh,
 * invalidated, evicted) cancels its task. Caffeine's own expiry, without a scheduler, would only
 * run on the next cache operation, which an idle process never makes.
 *
 * <p><b>The staleness flag.</b> On the system ticker the timer's clock is the ticker ({@link
 * System#nanoTime()} both), and each entry gets a first task that flags it stale ({@link
 * CachedKek#markStale()}) at its refresh time, and at the latest {@value #SLACK_MILLIS} ms before
 * its hard TTL. Until the flag is set a hit or a handle's liveness check needs no clock read: one
 * volatile read says the entry is before its refresh time and its hard TTL and still cached. Once
 * it is set every use compares the ticker, exactly as before, so the bound holds as long as the
 * timer thread runs its task less than the slack late. With any other ticker (an injected clock
 * that tests advance by hand) the timer cannot know when the ticker reaches a time, so no flag is
 * set early and every use compares the ticker ({@link #keepsTickerTime()} is false).
 */
final class ExpiryTimer implements AutoCloseable {
  static final String THREAD_PREFIX = "keymanager-expiry-";
  private static final AtomicInteger INSTANCES = new AtomicInteger();
  static final long SLACK_MILLIS = 1000;
  private static final long SLACK_NANOS = TimeUnit.MILLISECONDS.toNanos(SLACK_MILLIS);

  private final Ticker ticker;
  private final Predicate<CachedKek> expire;
  private final ScheduledThreadPoolExecutor timer;
  private final boolean keepsTickerTime;

  /**
   * @param expire drops the entry if its hard TTL has passed and says whether it did
   */
  ExpiryTimer(Ticker ticker, Predicate<CachedKek> expire) {
    this.ticker = ticker;
    this.expire = expire;
    this.keepsTickerTime = ticker == Ticker.systemTicker();
    String name = THREAD_PREFIX + INSTANCES.incrementAndGet();
    this.timer =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, name);
              t.setDaemon(true);
              return t;
            });
    timer.setRemoveOnCancelPolicy(true);
    timer.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
  }

  /**
   * Whether the timer runs on the cache's ticker, so that an entry not yet {@linkplain
   * CachedKek#isCurrent() flagged stale} is known to be before its refresh time and hard TTL
   * without a clock read.
   */
  boolean keepsTickerTime() {
    return keepsTickerTime;
  }

  /**
   * Schedules {@code kek}'s staleness flag (on the system ticker) and its drop at its hard TTL;
   * cancelled when the entry is dropped earlier.
   */
  void schedule(CachedKek kek) {
    if (keepsTickerTime) {
      long staleAt = Math.min(kek.refreshAt(), kek.expiresAt() - SLACK_NANOS);
      at(kek, staleAt, () -> flag(kek));
    } else {
      scheduleExpiry(kek);
    }
  }

  private void flag(CachedKek kek) {
    kek.markStale();
    if (!kek.isWiped()) {
      scheduleExpiry(kek);
    }
  }

  private void scheduleExpiry(CachedKek kek) {
    at(kek, kek.expiresAt(), () -> run(kek));
  }

  private void at(CachedKek kek, long tickerTime, Runnable task) {
    long delay = Math.max(0, tickerTime - ticker.read());
    try {
      kek.expiryTask(timer.schedule(task, delay, TimeUnit.NANOSECONDS));
    } catch (RejectedExecutionException e) {
      // closed: close() drops every entry itself
    }
  }

  private void run(CachedKek kek) {
    if (!kek.isWiped() && !expire.test(kek)) {
      scheduleExpiry(
          kek); // the ticker is behind the timer's clock: try again when it should be due
    }
  }

  /** Ends the thread; entries still cached are the cache's to drop. */
  @Override
  public void close() {
    timer.shutdownNow();
  }
}
