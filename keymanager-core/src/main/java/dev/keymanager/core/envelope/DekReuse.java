package dev.keymanager.core.envelope;

import static java.util.concurrent.TimeUnit.NANOSECONDS;

import dev.keymanager.KekRef;
import dev.keymanager.core.internal.PrimaryVersions;
import dev.keymanager.internal.KekLiveness;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The one-shot DEKs a cipher keeps for more than one payload ({@link EnvelopeCipher.Builder}'s
 * bounds): one table of encrypting DEKs by context, one of recently unwrapped DEKs by wrapped DEK
 * and context, and a sweep that retires each DEK once its age bound passes, whether or not it is
 * used again.
 *
 * <p>An encrypting DEK takes a new payload only while all of these hold: fewer than {@code
 * maxPayloads} payloads so far, at most {@code maxBytes} plaintext bytes in all (its first payload
 * is always taken), younger than {@code maxAge}, the same context, its KEK version still the
 * primary one as far as the key manager knows, and its KEK version passing the liveness check every
 * handle on a DEK makes. Otherwise it is retired and the payload gets a fresh DEK, from {@code
 * generateDek}, which fails as it always did if the KEK may not be used. An unwrapped DEK is reused
 * for a payload carrying the very same wrapped DEK bytes under the very same context, while younger
 * than {@code maxAge} and live, else the payload is unwrapped as usual.
 *
 * <p>With {@code maxPayloads == 1} nothing is kept past a call: each payload has its own DEK, and
 * each decryption unwraps.
 */
final class DekReuse {
  /** Default bound on payloads per DEK: 2^20, 4,096 times under the 2^32 of random nonces. */
  static final long DEFAULT_MAX_PAYLOADS = 1L << 20;

  /** Default bound on plaintext bytes per DEK: 4 GiB (2^28 AES blocks). */
  static final long DEFAULT_MAX_BYTES = 1L << 32;

  /** Default bound on a kept DEK's age, in nanoseconds: one minute. */
  static final long DEFAULT_MAX_AGE_NANOS = 60_000_000_000L;

  private static final int SLOTS = 16; // per table; a power of two

  /** Runs a task once after a delay; the sweep's timer. */
  interface Scheduler {
    void schedule(Runnable task, long delayNanos);
  }

  /** The JDK's shared delay thread (that of {@link CompletableFuture#delayedExecutor}). */
  static final Scheduler DELAYED =
      (task, nanos) ->
          CompletableFuture.delayedExecutor(nanos, NANOSECONDS, Runnable::run).execute(task);

  /** What an encryption does with its DEK: the key, the header template and its payload number. */
  interface Encryption<T> {
    T run(byte[] key, byte[] header, long payload);
  }

  private final long maxPayloads;
  private final long maxBytes;
  private final long maxAgeNanos;
  private final LongSupplier ticker;
  private final Scheduler scheduler;
  private final PrimaryVersions primaries;
  private final AtomicReferenceArray<ReusedDek> encrypting = new AtomicReferenceArray<>(SLOTS);
  private final AtomicReferenceArray<ReusedDek> decrypting = new AtomicReferenceArray<>(SLOTS);
  private final AtomicBoolean sweepPending = new AtomicBoolean();

  DekReuse(
      long maxPayloads,
      long maxBytes,
      long maxAgeNanos,
      LongSupplier ticker,
      Scheduler scheduler,
      PrimaryVersions primaries) {
    this.maxPayloads = maxPayloads;
    this.maxBytes = maxBytes;
    this.maxAgeNanos = maxAgeNanos;
    this.ticker = ticker;
    this.scheduler = scheduler;
    this.primaries = primaries;
  }

  private boolean enabled() {
    return maxPayloads > 1;
  }

  /** A new encrypting DEK, not yet used or published; takes ownership of {@code key}. */
  ReusedDek newEncrypting(
      byte[] key, KekLiveness liveness, KekRef kek, byte[] context, byte[] header) {
    return ReusedDek.encrypting(
        key, liveness, kek, context, header, ticker.getAsLong(), maxPayloads, maxBytes);
  }

  /**
   * Runs {@code body} for one payload of {@code length} bytes under {@code context}: with the
   * context's kept DEK if it is within its bounds, else with a DEK from {@code fresh} (which then
   * becomes the kept one, unless it is full already).
   */
  <T> T encrypt(byte[] context, long length, Supplier<ReusedDek> fresh, Encryption<T> body) {
    int i = slot(java.util.Arrays.hashCode(context));
    ReusedDek d = encrypting.get(i);
    if (d != null && d.boundTo(context)) {
      if (reusable(d) && d.retain()) {
        long n = d.reserve(length);
        if (n >= 0 && live(d)) {
          try {
            return body.run(d.key(), d.header(), n);
          } finally {
            d.release();
          }
        }
        d.release();
      }
      drop(encrypting, i, d);
    }
    ReusedDek f = fresh.get();
    long n = f.reserve(length); // 0: a DEK's first payload is always taken
    f.retain();
    if (enabled() && !f.isFull()) {
      publish(encrypting, i, f);
    } else {
      f.retire();
    }
    try {
      return body.run(f.key(), f.header(), n);
    } finally {
      f.release();
    }
  }

  /**
   * The kept DEK unwrapped from the wrapped DEK at {@code b[from, to)} under {@code context},
   * retained and live, or null: then unwrap (and {@link #remember} it).
   */
  ReusedDek decrypting(byte[] b, int from, int to, byte[] context) {
    if (!enabled()) {
      return null;
    }
    int i = slot(ReusedDek.hash(b, to));
    ReusedDek d = decrypting.get(i);
    if (d == null || !d.unwrappedFrom(b, from, to) || !d.boundTo(context)) {
      return null;
    }
    if (reusable(d) && d.retain()) {
      if (live(d)) {
        return d;
      }
      d.release();
    }
    drop(decrypting, i, d);
    return null;
  }

  /**
   * Keeps a DEK just unwrapped from {@code wrapped} (not copied: immutable) for later payloads
   * carrying the same wrapped DEK; takes ownership of {@code key}.
   */
  void remember(byte[] key, KekLiveness liveness, KekRef kek, byte[] context, byte[] wrapped) {
    ReusedDek d = ReusedDek.decrypting(key, liveness, kek, context, wrapped, ticker.getAsLong());
    if (enabled()) {
      publish(decrypting, slot(d.wrappedHash()), d);
    } else {
      d.retire();
    }
  }

  /** Whether remembering unwrapped DEKs is on at all (else don't copy one for it). */
  boolean remembers() {
    return enabled();
  }

  private boolean reusable(ReusedDek d) {
    return !d.isRetired()
        && ticker.getAsLong() - d.born() < maxAgeNanos
        && (d.header() == null || primaries.mayStillBePrimary(d.kek()));
  }

  /** The liveness check of a retained DEK; a failure retires it (the fresh path then throws). */
  private static boolean live(ReusedDek d) {
    try {
      d.checkLive();
      return true;
    } catch (RuntimeException e) {
      return false;
    }
  }

  private static int slot(int hash) {
    return (hash ^ (hash >>> 16)) & (SLOTS - 1);
  }

  private void publish(AtomicReferenceArray<ReusedDek> table, int i, ReusedDek d) {
    ReusedDek old = table.getAndSet(i, d);
    if (old != null) {
      old.retire();
    }
    scheduleSweep(maxAgeNanos);
  }

  private static void drop(AtomicReferenceArray<ReusedDek> table, int i, ReusedDek d) {
    table.compareAndSet(i, d, null);
    d.retire();
  }

  private void scheduleSweep(long delayNanos) {
    if (sweepPending.compareAndSet(false, true)) {
      // A millisecond late, so the ticker has surely passed the deadline when it runs.
      scheduler.schedule(this::sweep, delayNanos + 1_000_000);
    }
  }

  /** Retires every kept DEK past its age bound; runs again while any is kept. */
  void sweep() {
    sweepTable(encrypting);
    sweepTable(decrypting);
    sweepPending.set(false);
    long next = Math.min(nextDeadline(encrypting), nextDeadline(decrypting));
    if (next != Long.MAX_VALUE) {
      scheduleSweep(next);
    }
  }

  private void sweepTable(AtomicReferenceArray<ReusedDek> table) {
    long now = ticker.getAsLong();
    for (int i = 0; i < SLOTS; i++) {
      ReusedDek d = table.get(i);
      if (d != null && (d.isRetired() || now - d.born() >= maxAgeNanos)) {
        drop(table, i, d);
      }
    }
  }

  private long nextDeadline(AtomicReferenceArray<ReusedDek> table) {
    long now = ticker.getAsLong();
    long next = Long.MAX_VALUE;
    for (int i = 0; i < SLOTS; i++) {
      ReusedDek d = table.get(i);
      if (d != null) {
        next = Math.min(next, Math.max(0, maxAgeNanos - (now - d.born())));
      }
    }
    return next;
  }
}
