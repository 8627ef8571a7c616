package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Ticker;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wipes cached KEKs (and the subkeys derived from them) at their hard TTL without waiting for cache
 * traffic: one daemon thread per key manager, ended by {@link #close()}.
 *
 * <p>Each installed entry waits in the thread's {@link TimerWheel} for its hard TTL, measured on
 * the cache's ticker; then the thread asks the cache to drop it (again later if the ticker went
 * back meanwhile). On a ticker other than the system's (a manual clock in tests) the thread sleeps
 * as if that ticker kept real time, at least a wheel tick, and drops an entry at the first wake-up
 * after the ticker has passed its hard TTL. An entry dropped earlier (replaced by a refresh,
 * invalidated, evicted) is unlinked by the wheel later, already wiped: the wheel keeps such a husk
 * reachable for at most a revolution, and compacts before dropped husks outnumber a quarter of the
 * live entries plus a few hundred ({@link TimerWheel}). Caffeine's own expiry, without a scheduler,
 * would only run on the next cache operation, which an idle process never makes. Scheduling
 * allocates nothing: entries reach the thread through a lock-free stack linked through the entries
 * themselves, and the wheel links them the same way. The thread runs only the cache's own drop,
 * never user code.
 *
 * <p><b>The staleness flag.</b> On the system ticker the timer's clock is the ticker ({@link
 * System#nanoTime()} both), and each entry first waits to be flagged stale ({@link
 * CachedKek#markStale()}) at its refresh time, and at the latest {@value #SLACK_MILLIS} ms before
 * its hard TTL (up to one wheel tick, about 8 ms, earlier: an early flag costs only a clock read).
 * Until the flag is set a hit or a handle's liveness check needs no clock read: one volatile read
 * says the entry is before its refresh time and its hard TTL and still cached. Once it is set every
 * use compares the ticker, exactly as before, so the bound holds as long as the timer thread flags
 * an entry less than the slack late. With any other ticker (an injected clock that tests advance by
 * hand) the timer cannot know when the ticker reaches a time, so no flag is set early and every use
 * compares the ticker ({@link #keepsTickerTime()} is false).
 */
final class ExpiryTimer implements AutoCloseable {
  static final String THREAD_PREFIX = "keymanager-expiry-";
  private static final Logger log = LoggerFactory.getLogger(ExpiryTimer.class);
  private static final AtomicInteger INSTANCES = new AtomicInteger();
  static final long SLACK_MILLIS = 1000;
  private static final long SLACK_NANOS = TimeUnit.MILLISECONDS.toNanos(SLACK_MILLIS);
  private static final VarHandle INTAKE;

  static {
    try {
      INTAKE = MethodHandles.lookup().findVarHandle(ExpiryTimer.class, "intake", CachedKek.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final Ticker ticker;
  private final Predicate<CachedKek> expire;
  private final boolean keepsTickerTime;
  private final TimerWheel wheel; // the thread's alone
  private final Thread thread;
  // Entries scheduled since the thread last looked, linked through CachedKek.timerNext.
  private volatile CachedKek intake;
  private volatile boolean closed;

  /**
   * @param expire drops the entry if its hard TTL has passed and says whether it did
   */
  ExpiryTimer(Ticker ticker, Predicate<CachedKek> expire) {
    this.ticker = ticker;
    this.expire = expire;
    this.keepsTickerTime = ticker == Ticker.systemTicker();
    this.wheel = new TimerWheel(ticker.read(), this::deadline);
    this.thread = new Thread(this::run, THREAD_PREFIX + INSTANCES.incrementAndGet());
    thread.setDaemon(true);
    thread.start();
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
   * called once per entry, before anything can drop it but the cache. Lock-free; allocates nothing.
   */
  void schedule(CachedKek kek) {
    if (closed) {
      return; // close() drops every entry itself
    }
    for (; ; ) {
      CachedKek head = intake;
      kek.timerNext = head;
      if (INTAKE.compareAndSet(this, head, kek)) {
        if (head == null) {
          LockSupport.unpark(thread); // else whoever pushed the head did, and it is not drained yet
        }
        return;
      }
    }
  }

  /**
   * Ends the thread, which lets go of every entry it links; entries still cached are the cache's.
   */
  @Override
  public void close() {
    closed = true;
    LockSupport.unpark(thread);
  }

  /** The timer thread, for tests. */
  @VisibleForTesting
  Thread thread() {
    return thread;
  }

  private void run() {
    try {
      while (!closed) {
        long now = ticker.read();
        CachedKek kek = (CachedKek) INTAKE.getAndSet(this, null);
        while (kek != null) {
          CachedKek next = kek.timerNext;
          if (!kek.isDropped()) {
            wheel.add(kek);
          }
          kek = next;
        }
        wheel.advance(now, this::due);
        long wake = wheel.nextWake();
        if (wake == TimerWheel.NEVER) {
          LockSupport.park(this);
        } else {
          long sleep = wake - ticker.read();
          // A ticker that is not the system's: sleep as if it kept time, but at least a tick, so a
          // clock that tests stop just before a tick does not keep the thread spinning.
          LockSupport.parkNanos(
              this, keepsTickerTime ? sleep : Math.max(sleep, TimerWheel.TICK_NANOS));
        }
      }
    } finally {
      wheel.clear();
      intake = null;
    }
  }

  /**
   * The ticker time {@code kek} waits for: on the system ticker, until it is flagged, its refresh
   * time and at the latest the slack before its hard TTL (a tick early, as the wheel hands an entry
   * out up to a tick after its deadline); then, and on any other ticker, its hard TTL.
   */
  private long deadline(CachedKek kek) {
    if (keepsTickerTime && kek.isCurrent()) {
      return Math.min(kek.refreshAt(), kek.expiresAt() - SLACK_NANOS) - TimerWheel.TICK_NANOS;
    }
    return kek.expiresAt();
  }

  /** {@code kek} is due: flag it, or drop it if its hard TTL has passed by the ticker. */
  private void due(CachedKek kek) {
    try {
      if (keepsTickerTime && kek.isCurrent()) {
        kek.markStale();
        wheel.add(kek); // now until its hard TTL
      } else if (!expire.test(kek)) {
        wheel.add(kek); // the ticker went back: try again when it should be due
      }
    } catch (RuntimeException e) {
      // A bug in the cache's drop; the entry is still checked on every use, and the thread goes on.
      log.error("Expiry of KEK {} failed; it is dropped at its next use instead", kek.ref(), e);
    }
  }
}
