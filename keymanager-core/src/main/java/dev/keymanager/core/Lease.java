package dev.keymanager.core;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The reference count behind a cached KEK or subkey: an owner (the cache, or a subkey's slot) and
 * any number of operations in flight; when the owner has {@link #drop() dropped} it and the last
 * operation has {@link #release() released} it, {@code onEnd} runs once (the key is overwritten).
 *
 * <p>The count is striped over four cache lines by thread ({@link Probe}), so that threads on
 * different cores retaining and releasing one hot key do not bounce one line between them (a single
 * shared counter made two threads slower than one); a thread whose compare-and-set fails because
 * another is on its stripe moves on to the next stripe for that operation. The stripes are summed
 * only after the owner has dropped: a successful {@link #tryRetain()} happened before the drop and
 * is seen by every later sum, and whoever changes the count last after the drop (the owner, the
 * last releaser, or a retainer that backs out) sees a zero sum and ends it. Volatile accesses are
 * sequentially consistent, which is what this needs.
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
    int i = add(1);
    if (dropped) {
      counts.getAndAdd(i, -1);
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
    add(1);
  }

  /** Ends an operation; the last one after the owner's drop runs {@code onEnd}. */
  void release() {
    add(-1);
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

  /**
   * Adds {@code delta} to this thread's stripe, or, if another thread changed that stripe at the
   * same moment (a failed compare-and-set: two threads on one stripe), to the next one; returns the
   * index changed. Only the sum of the stripes means anything, so a release may land on another
   * stripe than its retain.
   */
  private int add(long delta) {
    int i = Probe.slot(STRIPES) * STRIDE;
    for (; ; ) {
      long c = counts.get(i);
      if (counts.compareAndSet(i, c, c + delta)) {
        return i;
      }
      i = (i + STRIDE) & (STRIPES * STRIDE - 1);
    }
  }
}
