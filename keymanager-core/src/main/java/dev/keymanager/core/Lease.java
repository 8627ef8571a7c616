package dev.keymanager.core;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The reference count behind a cached KEK or subkey: an owner (the cache, or a subkey's slot) and
 * any number of operations in flight; when the owner has {@link #drop() dropped} it and the last
 * operation has {@link #release() released} it, {@code onEnd} runs once (the key is overwritten).
 *
 * <p>The count is striped over four cache lines by thread, so that threads on different cores
 * retaining and releasing one hot key do not bounce one line between them (a single shared counter
 * made two threads slower than one). The stripes are summed only after the owner has dropped: a
 * successful {@link #tryRetain()} happened before the drop and is seen by every later sum, and
 * whoever changes the count last after the drop (the owner, the last releaser, or a retainer that
 * backs out) sees a zero sum and ends it. Volatile accesses are sequentially consistent, which is
 * what this needs.
 */
final class Lease {
  private static final int STRIPES = 4; // a power of two
  private static final int STRIDE = 8; // longs per 64-byte cache line

  private final AtomicLongArray counts = new AtomicLongArray(STRIPES * STRIDE);
  private final AtomicBoolean ended = new AtomicBoolean();
  private final Runnable onEnd;
  private volatile boolean dropped;

  Lease(Runnable onEnd) {
    this.onEnd = onEnd;
  }

  /** Adds an operation; {@code false} once the owner has dropped (the caller looks again). */
  boolean tryRetain() {
    int i = stripe();
    counts.getAndIncrement(i);
    if (dropped) {
      counts.getAndDecrement(i);
      endIfIdle();
      return false;
    }
    return true;
  }

  /**
   * Adds an operation whether or not the owner has dropped: for a caller that knows another
   * operation holds it until this returns, so it cannot have ended.
   */
  void retainHeld() {
    counts.getAndIncrement(stripe());
  }

  /** Ends an operation; the last one after the owner's drop runs {@code onEnd}. */
  void release() {
    counts.getAndDecrement(stripe());
    if (dropped) {
      endIfIdle();
    }
  }

  /** Drops the owner's hold; {@code onEnd} runs now if no operation is in flight. */
  void drop() {
    dropped = true;
    endIfIdle();
  }

  /** Whether the owner has let go: a volatile read. */
  boolean isDropped() {
    return dropped;
  }

  boolean isEnded() {
    return ended.get();
  }

  private void endIfIdle() {
    long sum = 0;
    for (int i = 0; i < STRIPES; i++) {
      sum += counts.get(i * STRIDE);
    }
    if (sum < 0) {
      throw new IllegalStateException("released more often than retained");
    }
    if (sum == 0 && ended.compareAndSet(false, true)) {
      onEnd.run();
    }
  }

  private static int stripe() {
    return (System.identityHashCode(Thread.currentThread()) & (STRIPES - 1)) * STRIDE;
  }
}
