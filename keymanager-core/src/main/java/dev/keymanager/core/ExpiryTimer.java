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
 */
final class ExpiryTimer implements AutoCloseable {
  static final String THREAD_PREFIX = "keymanager-expiry-";
  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final Ticker ticker;
  private final Predicate<CachedKek> expire;
  private final ScheduledThreadPoolExecutor timer;

  /**
   * @param expire drops the entry if its hard TTL has passed and says whether it did
   */
  ExpiryTimer(Ticker ticker, Predicate<CachedKek> expire) {
    this.ticker = ticker;
    this.expire = expire;
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

  /** Schedules {@code kek}'s drop at its hard TTL; cancelled when the entry is dropped earlier. */
  void schedule(CachedKek kek) {
    long delay = Math.max(0, kek.expiresAt() - ticker.read());
    try {
      kek.expiryTask(timer.schedule(() -> run(kek), delay, TimeUnit.NANOSECONDS));
    } catch (RejectedExecutionException e) {
      // closed: close() drops every entry itself
    }
  }

  private void run(CachedKek kek) {
    if (!kek.isWiped() && !expire.test(kek)) {
      schedule(kek); // the ticker is behind the timer's clock: try again when it should be due
    }
  }

  /** Ends the thread; entries still cached are the cache's to drop. */
  @Override
  public void close() {
    timer.shutdownNow();
  }
}
