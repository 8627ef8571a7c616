package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Ticker;
import dev.keymanager.KekRef;
import dev.keymanager.KmsUnavailableException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * Client-side control of a key manager's KMS unwraps (cache loads and refreshes): an optional token
 * bucket, and one back-off shared by every KEK once the KMS throttles.
 *
 * <ul>
 *   <li><b>Token bucket</b> (off unless a rate is set): {@code burst} permits, refilled at {@code
 *       rate} per second. So in any window of {@code t} seconds the KMS sees at most {@code burst +
 *       rate * t} unwraps from this key manager.
 *   <li><b>Refreshes yield to misses.</b> A refresh takes a permit only if one is there now; else
 *       it is deferred and the cached KEK keeps serving until its hard TTL. A miss (a caller waits)
 *       reserves the next permit, ahead of every refresh, even one not refilled yet, and waits for
 *       it if that fits in its bounded wait; else it fails at once with {@link
 *       KmsUnavailableException}, without calling the KMS.
 *   <li><b>Back-off.</b> A throttled answer ({@link KmsUnavailableException#isThrottled()}) stops
 *       all refreshes for a back-off: 1 s (at most the cap), doubled on each throttled answer in a
 *       row, at least the KMS's Retry-After hint, at most the cap ({@code refreshAhead / 4}, or
 *       {@code hardTtl / 32} without refresh-ahead). When it ends, one refresh probes the KMS; the
 *       others wait for its answer. A success ends the back-off. Misses wait for the back-off's end
 *       within their bounded wait, else fail at once, and never wait for the probe.
 * </ul>
 *
 * <p>So during a throttling storm of {@code S} seconds a key manager makes at most about {@code 1 +
 * ceil(log2(cap / 1 s)) + ceil(S / cap)} refresh calls (plus the calls already in flight when the
 * first throttled answer came back), however many KEKs it caches. Thread-safe; every method is
 * short and holds this object's lock only while it computes.
 */
final class KmsRateControl {
  private static final long BASE_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final Ticker ticker;
  private final Stats stats;
  private final double permitsPerNano; // 0: no bucket
  private final double burst;
  private final long baseBackoffNanos;
  private final long maxBackoffNanos;

  // All guarded by this.
  private double permits;
  private long refilledAt;
  private boolean throttled;
  private long backoffNanos; // the last back-off while throttled
  private long backoffUntil;
  private boolean probing; // a refresh is asking the KMS whether the throttling is over

  /**
   * @param ratePerSecond permits per second, or 0 for no bucket
   * @param burst the bucket's size (ignored without a rate)
   * @param maxBackoff the longest back-off after a throttled answer
   */
  KmsRateControl(Ticker ticker, Stats stats, double ratePerSecond, int burst, Duration maxBackoff) {
    this.ticker = ticker;
    this.stats = stats;
    this.permitsPerNano = ratePerSecond / 1e9;
    this.burst = burst;
    this.maxBackoffNanos = Math.max(1, maxBackoff.toNanos());
    this.baseBackoffNanos = Math.min(BASE_BACKOFF_NANOS, maxBackoffNanos);
    this.permits = burst;
    this.refilledAt = ticker.read();
  }

  /** The longest back-off for a cache with these TTLs: a quarter of the refresh window. */
  static Duration maxBackoff(Duration hardTtl, Duration refreshAhead) {
    return refreshAhead.isZero() ? hardTtl.dividedBy(32) : refreshAhead.dividedBy(4);
  }

  /**
   * Whether a refresh may call the KMS at ticker time {@code now}: not backing off (or the one
   * probe once the back-off is over), and a permit at hand, which it takes. A refused refresh is
   * counted as deferred.
   *
   * @return {@link Permit#REFUSED}, or the permit to report the call's outcome with
   */
  synchronized Permit tryRefresh(long now) {
    if (throttled && (now - backoffUntil < 0 || probing)) {
      stats.deferredCalls.increment();
      return Permit.REFUSED;
    }
    refill(now);
    if (permitsPerNano > 0 && permits < 1) {
      stats.deferredCalls.increment();
      return Permit.REFUSED;
    }
    if (permitsPerNano > 0) {
      permits -= 1;
    }
    if (throttled) {
      probing = true;
      return Permit.PROBE;
    }
    return Permit.CALL;
  }

  /** When a refused refresh is worth trying again: the back-off's end, or the next permit. */
  synchronized long nextRefreshTry(long now) {
    if (throttled && now - backoffUntil < 0) {
      return backoffUntil;
    }
    if (throttled && probing) {
      return now + baseBackoffNanos; // the probe answers well before this, in the normal case
    }
    refill(now);
    if (permitsPerNano > 0 && permits < 1) {
      return now + Math.max(1, (long) Math.ceil((1 - permits) / permitsPerNano));
    }
    return now;
  }

  /**
   * Admits a miss's KMS call: reserves the next permit ahead of every refresh and waits until it
   * and the back-off allow the call, at most until ticker time {@code deadline} and, in real time,
   * {@code realWaitNanos}.
   *
   * @throws KmsUnavailableException (throttled if the back-off is why) if the call could not be
   *     admitted in time; no KMS call was made, and no permit is kept
   */
  void admitMiss(KekRef ref, long deadline, long realWaitNanos, BooleanSupplier closed) {
    long realStart = System.nanoTime();
    long readyAt;
    boolean backingOff;
    synchronized (this) {
      long now = ticker.read();
      refill(now);
      readyAt = now;
      if (permitsPerNano > 0 && permits < 1) {
        readyAt = now + (long) Math.ceil((1 - permits) / permitsPerNano);
      }
      backingOff = throttled && backoffUntil - readyAt > 0;
      if (backingOff) {
        readyAt = backoffUntil;
      }
      // No wait, no refusal: a load whose store read outlasted the wait still fills the cache.
      if (readyAt - now > 0 && readyAt - deadline > 0) {
        stats.deferredCalls.increment();
        throw refused(ref, backingOff);
      }
      if (permitsPerNano > 0) {
        permits -= 1; // may go below zero: the permit is this miss's, refreshes wait for it
      }
      if (readyAt - now <= 0) {
        return;
      }
      stats.deferredCalls.increment();
    }
    // Wait on the ticker, polling, so that a manual clock in tests is followed as well.
    for (; ; ) {
      long remaining = readyAt - ticker.read();
      if (remaining <= 0) {
        return;
      }
      if (Thread.interrupted() || closed.getAsBoolean()) {
        Thread.currentThread().interrupt();
        giveBack();
        throw new KmsUnavailableException("Interrupted while waiting to unwrap KEK " + ref);
      }
      if (System.nanoTime() - realStart > realWaitNanos) {
        giveBack();
        throw refused(ref, backingOff);
      }
      LockSupport.parkNanos(Math.min(remaining, TimeUnit.MILLISECONDS.toNanos(1)));
    }
  }

  private synchronized void giveBack() {
    if (permitsPerNano > 0) {
      permits = Math.min(burst, permits + 1);
    }
  }

  private static KmsUnavailableException refused(KekRef ref, boolean backingOff) {
    if (backingOff) {
      return KmsUnavailableException.throttled(
          "Not calling the KMS to unwrap KEK "
              + ref
              + ": it throttled this key manager's calls and the back-off outlasts the load"
              + " timeout; the call may be retried",
          null,
          null);
    }
    return new KmsUnavailableException(
        "Not calling the KMS to unwrap KEK "
            + ref
            + ": this key manager's KMS rate limit (kmsRateLimit) has no permit within the load"
            + " timeout; the call may be retried");
  }

  /**
   * Reports how a load admitted with {@code permit} ended: {@code failure} null for success; {@code
   * called} false if it ended before its KMS call (a store failure, a refused miss), which changes
   * nothing but ends a probe. The permit taken stays taken.
   */
  synchronized void answered(Permit permit, Throwable failure, boolean called, long now) {
    if (permit == Permit.PROBE) {
      probing = false;
    }
    if (permit == Permit.REFUSED || !called) {
      return;
    }
    if (failure == null || !(failure instanceof KmsUnavailableException)) {
      // The KMS answered (a denial or corrupt record is an answer too): the throttling is over.
      throttled = false;
      backoffNanos = 0;
    } else if (failure instanceof KmsUnavailableException u && u.isThrottled()) {
      // Double per probe that is throttled again; other calls answered meanwhile (made before the
      // first throttled answer, or misses) keep the current step.
      long next =
          !throttled
              ? baseBackoffNanos
              : permit == Permit.PROBE ? Math.min(maxBackoffNanos, backoffNanos * 2) : backoffNanos;
      if (u.retryAfter().isPresent()) {
        next = Math.min(maxBackoffNanos, Math.max(next, u.retryAfter().get().toNanos()));
      }
      throttled = true;
      backoffNanos = next;
      // Throttled answers to calls made together extend the back-off once, not once each.
      if (now + next - backoffUntil > 0) {
        backoffUntil = now + next;
      }
    }
  }

  /** Whether the key manager is backing off from throttling at ticker time {@code now}. */
  synchronized boolean backingOff(long now) {
    return throttled && now - backoffUntil < 0;
  }

  private void refill(long now) {
    if (permitsPerNano > 0) {
      long elapsed = now - refilledAt;
      if (elapsed > 0) {
        permits = Math.min(burst, permits + elapsed * permitsPerNano);
        refilledAt = now;
      }
    }
  }

  /** What a call was admitted as. */
  enum Permit {
    /** Not admitted: no KMS call. */
    REFUSED,
    /** An ordinary call. */
    CALL,
    /** The one call that asks a throttling KMS whether it answers again. */
    PROBE
  }
}
