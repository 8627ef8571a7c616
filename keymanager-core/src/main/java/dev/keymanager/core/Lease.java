package dev.keymanager.core;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The reference count behind a cached KEK or subkey, as a base class of the object it counts: an
 * owner (the cache, or a subkey's slot) and any number of operations in flight; when the owner has
 * {@link #drop() dropped} it and the last operation has {@link #release() released} it, {@link
 * #onEnd()} runs once (the key is overwritten).
 *
 * <p>The count starts as one field of the object, changed by compare-and-set, as a {@link
 * java.util.concurrent.atomic.LongAdder}'s base is: a key used by one thread pays for no more than
 * that field and the id of that thread. The first time a second thread {@linkplain #tryRetain()
 * retains} it, or a compare-and-set on the base fails (two threads changed it at the same moment),
 * the count grows {@value #STRIPES} stripes, each on a cache line of its own (a padded array, 336
 * bytes, once per key that several threads use), and from then on every change goes to a stripe:
 * threads on different cores retaining and releasing one key do not bounce one line between them,
 * and nobody writes the base field or the object's other fields again (a shared counter made two
 * threads slower than one). Waiting for a failed compare-and-set alone, as a {@code LongAdder}
 * does, is not enough here: threads using several keys in turn rarely change one at the same
 * moment, yet bounce its line on every use. A thread starts at the stripe its {@link Probe} picks
 * and, if its compare-and-set fails there, moves on to the next one for that change. {@link
 * #retainHeld()} and {@link #release()} never grow the stripes: a load hands its KEK to its waiters
 * that way, once.
 *
 * <p>The base and the stripes are summed only after the owner has dropped: a successful {@link
 * #tryRetain()} happened before the drop and is seen by every later sum, and whoever changes the
 * count last after the drop (the owner, the last releaser, or a retainer that backs out) sees a
 * zero sum and ends it. Every access here is a volatile or compare-and-set access, so they are
 * sequentially consistent, which is what this needs (the stripes array is published before any
 * change to it, and read after the drop).
 */
abstract class Lease {
  static final int STRIPES = 4; // a power of two
  static final int STRIDE = 8; // longs per 64-byte cache line
  // Stripe k lives at index (k + 1) * STRIDE: the first line of the array (its header, and
  // whatever was allocated just before it) and the last (whatever comes after) hold no stripe.
  private static final int LENGTH = (STRIPES + 1) * STRIDE;
  private static final byte HELD = 0;
  private static final byte DROPPED = 1;
  private static final byte ENDED = 2;
  private static final VarHandle BASE;
  private static final VarHandle STRIPES_REF;
  private static final VarHandle STATE;
  private static final VarHandle FIRST_THREAD;
  private static final VarHandle COUNTS = MethodHandles.arrayElementVarHandle(long[].class);

  static {
    try {
      MethodHandles.Lookup lookup = MethodHandles.lookup();
      BASE = lookup.findVarHandle(Lease.class, "base", long.class);
      STRIPES_REF = lookup.findVarHandle(Lease.class, "stripes", long[].class);
      STATE = lookup.findVarHandle(Lease.class, "state", byte.class);
      FIRST_THREAD = lookup.findVarHandle(Lease.class, "firstThread", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private volatile long base; // the count until a second thread retains, then never changed
  private volatile long firstThread; // the id of the first thread that retained; 0 before
  private volatile long[] stripes; // null until the first contention
  private volatile byte
      state; // HELD, then DROPPED, then ENDED (a byte: keeps a subkey at 88 bytes)

  /** Runs once, when the owner has dropped and the last operation released. */
  abstract void onEnd();

  /** Adds an operation; {@code false} once the owner has dropped (the caller looks again). */
  final boolean tryRetain() {
    if (stripes == null) {
      long me = Probe.thread();
      long first = firstThread;
      if (first != me && (first != 0 || !FIRST_THREAD.compareAndSet(this, 0L, me))) {
        grow(); // a second thread: from now on each changes a stripe of its own
      }
    }
    add(1);
    if (state != HELD) {
      add(-1);
      endIfIdle();
      return false;
    }
    return true;
  }

  /**
   * Adds an operation whether or not the owner has dropped: for a caller that knows another
   * operation holds it until this returns, so it cannot have ended.
   */
  final void retainHeld() {
    add(1);
  }

  /** Ends an operation; the last one after the owner's drop runs {@link #onEnd()}. */
  final void release() {
    add(-1);
    if (state != HELD) {
      endIfIdle();
    }
  }

  /** Drops the owner's hold; {@link #onEnd()} runs now if no operation is in flight. */
  void drop() {
    STATE.compareAndSet(this, HELD, DROPPED);
    endIfIdle();
  }

  /** Whether the owner has let go: a volatile read. */
  final boolean isDropped() {
    return state != HELD;
  }

  final boolean isEnded() {
    return state == ENDED;
  }

  /** Whether two threads have changed the count at once (it has its padded stripes), for tests. */
  @VisibleForTesting
  final boolean isStriped() {
    return stripes != null;
  }

  private void endIfIdle() {
    long sum = base;
    long[] s = stripes;
    if (s != null) {
      for (int i = 1; i <= STRIPES; i++) {
        sum += (long) COUNTS.getVolatile(s, i * STRIDE);
      }
    }
    if (sum < 0) {
      throw new IllegalStateException("released more often than retained");
    }
    if (sum == 0 && STATE.compareAndSet(this, DROPPED, ENDED)) {
      onEnd();
    }
  }

  /**
   * Adds {@code delta} to the base while nobody else changes it at once, else to this thread's
   * stripe or, if another thread changed that stripe at the same moment, the next one. Only the sum
   * means anything, so a release may land elsewhere than its retain.
   */
  private void add(long delta) {
    long[] s = stripes;
    if (s == null) {
      long b = base;
      if (BASE.compareAndSet(this, b, b + delta)) {
        return;
      }
      s = grow();
    }
    int k = Probe.slot(STRIPES);
    for (; ; ) {
      int i = (k + 1) * STRIDE;
      long c = (long) COUNTS.getVolatile(s, i);
      if (COUNTS.compareAndSet(s, i, c, c + delta)) {
        return;
      }
      k = (k + 1) & (STRIPES - 1);
    }
  }

  /** Grows the stripes as a first contention would, for tests. */
  @VisibleForTesting
  final void growStripes() {
    grow();
  }

  /**
   * The padded stripes, or null while one thread has retained this. Stripe k's count is at index
   * {@code (k + 1) * STRIDE}; the rest of its line, indexes {@code (k + 1) * STRIDE + 1} to {@code
   * + 7}, is the subclass's own, for per-stripe state written by the threads of that stripe.
   */
  final long[] stripes() {
    return stripes;
  }

  /** The padded stripes, grown now if they were not yet. */
  final long[] grownStripes() {
    return grow();
  }

  private long[] grow() {
    long[] s = stripes;
    if (s == null) {
      long[] fresh = new long[LENGTH];
      s = STRIPES_REF.compareAndSet(this, null, fresh) ? fresh : stripes;
    }
    return s;
  }
}
