package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.keymanager.KekRef;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.internal.ApiBridge;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * One plaintext KEK version in the cache, with the subkeys derived from it, reference counted so
 * that the bytes are overwritten only after the last user is done.
 *
 * <p>The cache holds it ({@link #drop()} lets go); every wrap or unwrap holds a {@link Lease} for
 * the length of the operation ({@link #tryRetain()} / {@link #release()}). Eviction only drops the
 * cache's hold, so an operation in flight finishes with the right key; the last release overwrites
 * the KEK and every subkey. {@link #tryRetain()} fails once the cache has dropped it, so no new
 * operation starts on a KEK about to be overwritten, and nothing ever runs on zeroed bytes.
 *
 * <h2>Nonce safety</h2>
 *
 * DEKs are wrapped under a <em>subkey</em>, HKDF-SHA256(KEK, salt, info), with a random 256-bit
 * salt that a process picks for a KEK version the first time it wraps under it, carried in each
 * wrapped key. Nonces under one subkey are a 4-byte random prefix and a 64-bit counter, so within
 * the process they never repeat. The salt and counter are kept while the process keeps the KEK
 * version cached, refreshes included (a refresh unwraps the same KEK bytes again, so the subkey is
 * the same; {@link #adoptSubkeys}); after at most {@value #MAX_WRAPS_PER_SUBKEY} wraps (2^32; the
 * counters come from disjoint ranges, see {@link WrapSubkey}) it moves to a new salt. A salt is
 * dropped with the KEK's subkeys (eviction, expiry, a lifecycle change, a denial) and never used
 * again: the next load picks a new one. So each (salt, counter) pair is used once per subkey, and
 * two processes (or two cache lifetimes of one) share a subkey only if their random salts collide:
 * with 2^64 salts drawn fleet-wide for one KEK version that is below 2^-128. One KEK version can
 * thus wrap far more than 2^32 DEKs across a fleet with no coordination, and the hot path stays one
 * AES-GCM operation (no per-wrap key derivation). Salts per KEK version grow with writer processes
 * and cache lifetimes, not with refreshes.
 *
 * <h2>Subkeys</h2>
 *
 * The subkeys live in a {@link KekSubkeys} shared with the entries that replace this one by
 * refresh, bounded across all KEKs by the key manager's {@link SubkeyCache}, and wiped when the
 * last entry holding them is.
 */
final class CachedKek extends Lease {
  /** HKDF info for the DEK-wrapping subkey; changing it breaks every existing wrapped key. */
  static final byte[] SUBKEY_INFO =
      "keymanager/v1 dek-wrap AES256_GCM_HKDF_SHA256".getBytes(US_ASCII);

  static final int SALT_LENGTH = 32;
  static final int NONCE_LENGTH = 12;
  static final long MAX_WRAPS_PER_SUBKEY = 1L << 32;

  private static final VarHandle NEXT_REFRESH_ATTEMPT;

  static {
    try {
      NEXT_REFRESH_ATTEMPT =
          MethodHandles.lookup().findVarHandle(CachedKek.class, "nextRefreshAttempt", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final KekRef ref;
  private volatile byte[] wrapHeader; // the wrapped-key header, made on the first wrap; not secret
  private final byte[] kek; // owned
  private final long expiresAt; // ticker nanos; never used at or after this
  private final long refreshAt; // ticker nanos; a use at or after this starts a refresh
  private volatile long nextRefreshAttempt; // ticker nanos; claimRefresh, deferRefresh
  private KekSubkeys subkeys; // set before the entry is published; see adoptSubkeys
  // The expiry timer's intake and wheel link entries through this (ExpiryTimer, TimerWheel).
  CachedKek timerNext;
  // Set by the expiry timer at staleAt (see ExpiryTimer) and by drop(); never cleared. Until it is
  // set, a use on the system ticker needs no clock read: the entry is before its refresh time and
  // its hard TTL, and the cache still holds it.
  private volatile boolean stale;

  /** A KEK that never expires, for tests and key derivation checks. */
  @VisibleForTesting
  CachedKek(KekRef ref, byte[] kekBytes) {
    this(ref, kekBytes, Long.MAX_VALUE, Long.MAX_VALUE);
  }

  /** A KEK that never expires, its unwrap subkeys bounded by {@code subkeyCache}, for tests. */
  @VisibleForTesting
  CachedKek(KekRef ref, byte[] kekBytes, SubkeyCache subkeyCache) {
    this(ref, kekBytes, Long.MAX_VALUE, Long.MAX_VALUE, Jca.DEFAULT, subkeyCache);
  }

  /**
   * Takes ownership of {@code kekBytes}: they are overwritten when the last holder releases.
   *
   * @param expiresAt ticker time from which the KEK must not be used (the hard TTL)
   * @param refreshAt ticker time from which a use starts a background refresh
   */
  CachedKek(KekRef ref, byte[] kekBytes, long expiresAt, long refreshAt) {
    this(ref, kekBytes, expiresAt, refreshAt, Jca.DEFAULT, new SubkeyCache(1024));
  }

  /**
   * As {@link #CachedKek(KekRef, byte[], long, long)}, deriving and ciphering with {@code jca}, its
   * unwrap subkeys counted by {@code subkeyCache}.
   */
  CachedKek(
      KekRef ref,
      byte[] kekBytes,
      long expiresAt,
      long refreshAt,
      Jca jca,
      SubkeyCache subkeyCache) {
    this.subkeys = new KekSubkeys(ref, jca, subkeyCache);
    this.ref = ref;
    this.kek = kekBytes;
    this.expiresAt = expiresAt;
    this.refreshAt = refreshAt;
    this.nextRefreshAttempt = refreshAt;
  }

  KekRef ref() {
    return ref;
  }

  /** The header every DEK wrapped under this KEK version starts with; read only. */
  byte[] wrapHeader() {
    byte[] header = wrapHeader;
    if (header == null) {
      header = ApiBridge.wrappedKeys().header(DekCipher.ALGORITHM, ref);
      wrapHeader = header; // a race makes two equal arrays; either will do
    }
    return header;
  }

  /** Whether the hard TTL has passed at ticker time {@code now}. */
  boolean isExpired(long now) {
    return now - expiresAt >= 0;
  }

  /**
   * Whether a handle on a DEK from this entry may still be used at ticker time {@code now}: the
   * cache still holds it (not dropped by an invalidation, denial, replacement, eviction or close)
   * and its hard TTL has not passed. One volatile read.
   */
  boolean isLive(long now) {
    return now - expiresAt < 0 && !isDropped();
  }

  /**
   * Whether a handle may use this entry at ticker time {@code now} without asking the cache: live,
   * and its refresh time not come yet (after it, the handle's use goes through the cache, which
   * starts the refresh, as a fresh unwrap would). One volatile read.
   */
  boolean isFresh(long now) {
    return now - refreshAt < 0 && isLive(now);
  }

  long expiresAt() {
    return expiresAt;
  }

  long refreshAt() {
    return refreshAt;
  }

  /**
   * Whether the expiry timer has not yet flagged this entry as near its refresh time or hard TTL,
   * and the cache has not dropped it: one volatile read. Meaningful alone only when the timer runs
   * on the cache's ticker ({@link ExpiryTimer#keepsTickerTime()}); otherwise callers also compare
   * the ticker.
   */
  boolean isCurrent() {
    return !stale;
  }

  /** The expiry timer's flag: from now on every use compares the ticker. */
  void markStale() {
    stale = true;
  }

  /**
   * Claims the next refresh attempt at ticker time {@code now}: true for exactly one caller once
   * the refresh time has come, and again for one caller {@code retryAfter} nanos after each claim
   * (a refresh that failed transiently is retried, not hammered).
   */
  boolean claimRefresh(long now, long retryAfter) {
    long next = nextRefreshAttempt;
    return now - next >= 0 && NEXT_REFRESH_ATTEMPT.compareAndSet(this, next, now + retryAfter);
  }

  /**
   * Moves the next refresh attempt to ticker time {@code at}: a refresh that the key manager's KMS
   * rate control held back is tried again then, by the first use at or after it.
   */
  void deferRefresh(long at) {
    nextRefreshAttempt = at;
  }

  /** The cache lets go (eviction, expiry, invalidation, replacement, close). */
  @Override
  void drop() {
    stale = true;
    super.drop();
  }

  boolean isWiped() {
    return isEnded();
  }

  /** Lends the KEK bytes, for re-wrapping under a CMK; the caller must hold a reference. */
  byte[] kekBytesForWrap() {
    return kek;
  }

  /**
   * The subkey for the next wrap, retained, with its salt and a fresh nonce written into {@code
   * out} at {@code saltOffset} (salt, then nonce). The caller holds a reference to this KEK and
   * must {@link Subkey#release()} the subkey.
   */
  Subkey nextWrap(byte[] out, int saltOffset) {
    for (; ; ) {
      WrapSubkey current = subkeys.wrapSubkey(kek);
      if (!current.tryRetain()) {
        continue; // rolled over and released meanwhile
      }
      long n = current.nextCounter();
      if (n < 0) {
        current.release();
        continue; // exhausted: the next pass rolls over to a new salt
      }
      current.writeSalt(out, saltOffset);
      current.writeNonce(out, saltOffset + SALT_LENGTH, n);
      return current;
    }
  }

  /**
   * The subkey for the salt at {@code saltOffset} of {@code encoded}, retained: this process's own
   * wrap subkey, one derived before (by this entry or one it replaced), or a new derivation, which
   * the key manager's {@link SubkeyCache} then counts. The caller holds a reference to this KEK and
   * must {@link Subkey#release()} the subkey.
   */
  Subkey unwrapKey(byte[] encoded, int saltOffset) {
    return subkeys.unwrapSubkey(kek, encoded, saltOffset);
  }

  /**
   * Takes over the subkeys (wrap salt and counter included) of {@code previous}, the entry this one
   * replaces by refresh, if it is still live and holds the same KEK bytes (a refresh unwraps the
   * same wrapped KEK, so it does; the check keeps a different key from ever meeting another's
   * subkeys). Called by the cache before this entry is published, under its install lock.
   */
  void adoptSubkeys(CachedKek previous, long now) {
    if (previous == null || previous == this || !previous.isLive(now) || !previous.tryRetain()) {
      return;
    }
    try {
      if (java.security.MessageDigest.isEqual(kek, previous.kek) && previous.subkeys.tryRetain()) {
        KekSubkeys own = subkeys;
        subkeys = previous.subkeys;
        own.release(); // unused: nothing was derived from this entry yet
      }
    } finally {
      previous.release();
    }
  }

  /** The subkeys this entry uses, shared with the entries it replaced or that replace it. */
  @VisibleForTesting
  KekSubkeys subkeys() {
    return subkeys;
  }

  /**
   * Runs once, when the last holder releases: no operation that retained this entry is in flight.
   */
  @Override
  void onEnd() {
    Arrays.fill(kek, (byte) 0);
    subkeys.release(); // the last entry holding them wipes them
  }

  @Override
  public String toString() {
    return "CachedKek[" + ref + (isWiped() ? ", wiped" : "") + ", redacted]";
  }

  /**
   * A subkey derived from this KEK for one salt, with the ciphers keyed with it (its {@link
   * SubkeyCiphers} base) and its salt held inline. Reference counted like the KEK: its index slot
   * (or the wrap position) holds one reference and every operation on it another, except an unwrap
   * hit, whose hold is the cipher it takes ({@link DekCipher#unwrapIfDerived}); the last release
   * scrubs the idle ciphers and overwrites the bytes, and a cipher out at that moment is scrubbed
   * when it is given back.
   */
  static class Subkey extends SubkeyCiphers {
    private static final VarHandle LONGS =
        MethodHandles.byteArrayViewVarHandle(long[].class, java.nio.ByteOrder.LITTLE_ENDIAN);

    private final KekSubkeys owner; // null only for tests' subkeys, which no index holds
    final long prefix; // the salt's first 8 bytes, the index key
    private final long salt1; // the salt's other 24 bytes
    private final long salt2;
    private final long salt3;
    // The SubkeyCache's bookkeeping: this subkey's place in its ring (guarded by the cache), and
    // the bit a hit sets and the cache's clock hand clears (racy by design: a lost update only
    // changes which subkey is evicted next).
    int ringIndex = -1;
    boolean referenced;

    /**
     * An unwrap subkey for the salt at {@code saltOffset} of {@code saltFrom}, over {@code bytes}
     * (copied in, then overwritten); its ciphers only ever decrypt.
     */
    Subkey(byte[] saltFrom, int saltOffset, byte[] bytes, Jca jca, KekSubkeys owner) {
      super(bytes, jca);
      this.owner = owner;
      this.prefix = (long) LONGS.get(saltFrom, saltOffset);
      this.salt1 = (long) LONGS.get(saltFrom, saltOffset + 8);
      this.salt2 = (long) LONGS.get(saltFrom, saltOffset + 16);
      this.salt3 = (long) LONGS.get(saltFrom, saltOffset + 24);
    }

    @Override
    boolean encrypts() {
      return false;
    }

    /** Whether the {@value #SALT_LENGTH} bytes at {@code from} of {@code encoded} are this salt. */
    final boolean matches(byte[] encoded, int from) {
      return (long) LONGS.get(encoded, from) == prefix
          && (long) LONGS.get(encoded, from + 8) == salt1
          && (long) LONGS.get(encoded, from + 16) == salt2
          && (long) LONGS.get(encoded, from + 24) == salt3;
    }

    /** Whether this is a subkey of KEK version {@code kek}. */
    final boolean isOf(KekRef kek) {
      return owner != null && (owner.ref == kek || owner.ref.equals(kek));
    }

    /**
     * The cache entry that last held this subkey's KEK, or null if none was ever cached: current
     * unless the cache has dropped it (every entry the cache lets go is flagged first).
     */
    final CachedKek entry() {
      return owner == null ? null : owner.holder();
    }

    /** Writes the salt into {@code out} at {@code at}. */
    final void writeSalt(byte[] out, int at) {
      LONGS.set(out, at, prefix);
      LONGS.set(out, at + 8, salt1);
      LONGS.set(out, at + 16, salt2);
      LONGS.set(out, at + 24, salt3);
    }

    @Override
    final void onEnd() {
      wipeCiphers();
      wipeKey();
    }

    @Override
    public String toString() {
      return "Subkey[redacted]";
    }
  }

  /**
   * The subkey a process wraps under, with its nonce prefix and counters. The {@value
   * #MAX_WRAPS_PER_SUBKEY} counters of its salt are split into eight regions of 2^29, each handed
   * out in order by a counter of its own: region 0 by a field of this object while one thread
   * wraps, regions 1 to 4 by four counters once the subkey's {@link Lease} has grown its stripes (a
   * second thread retained it, or two threads at once failed a compare-and-set) or region 0 is used
   * up, each counter on the cache line of one stripe, beside its count; a thread takes from the
   * region its {@link Probe} picks, moving on to the next when it is used up. Regions are disjoint,
   * so no counter is handed out twice; once every region in use is used up (at most 5 × 2^29 wraps,
   * below 2^32) the subkey is exhausted and the next wrap rolls over to a new salt. Regions 5 to 7
   * are never used.
   */
  static final class WrapSubkey extends Subkey {
    private static final VarHandle BASE;
    private static final VarHandle COUNTS = MethodHandles.arrayElementVarHandle(long[].class);

    static {
      try {
        BASE = MethodHandles.lookup().findVarHandle(WrapSubkey.class, "base", long.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    private final int noncePrefix; // the nonce's first 4 bytes, random
    private final long region; // counters per region: MAX_WRAPS_PER_SUBKEY / 8, less in tests
    private volatile long base; // region 0's next counter
    private volatile boolean exhausted;

    /**
     * The wrap subkey for {@code salt}, over {@code bytes} (copied in, then overwritten), with a
     * nonce prefix.
     */
    WrapSubkey(byte[] salt, byte[] bytes, Jca jca, int noncePrefix, KekSubkeys owner) {
      this(salt, bytes, jca, noncePrefix, MAX_WRAPS_PER_SUBKEY / 8, owner);
    }

    /** With {@code region} counters per region, for tests of exhaustion. */
    @VisibleForTesting
    WrapSubkey(byte[] salt, byte[] bytes, Jca jca, int noncePrefix, long region, KekSubkeys owner) {
      super(salt, 0, bytes, jca, owner);
      this.noncePrefix = noncePrefix;
      this.region = region;
    }

    @Override
    boolean encrypts() {
      return true;
    }

    /** Writes the nonce for counter {@code n} into {@code out} at {@code at}. */
    void writeNonce(byte[] out, int at, long n) {
      out[at] = (byte) (noncePrefix >>> 24);
      out[at + 1] = (byte) (noncePrefix >>> 16);
      out[at + 2] = (byte) (noncePrefix >>> 8);
      out[at + 3] = (byte) noncePrefix;
      for (int i = 0; i < 8; i++) {
        out[at + 4 + i] = (byte) (n >>> (56 - 8 * i));
      }
    }

    /** Reserves a nonce counter no other wrap under this salt gets; -1 once exhausted. */
    long nextCounter() {
      // The caller has retained this subkey, so its lease has stripes once a second thread has.
      long[] s = stripes();
      if (s == null) {
        long b = base;
        if (b < region && BASE.compareAndSet(this, b, b + 1)) {
          return b;
        }
        s = grownStripes(); // two threads at once, or region 0 used up
      }
      int k = Probe.slot(Lease.STRIPES);
      for (int tried = 0; tried < Lease.STRIPES; tried++, k = (k + 1) & (Lease.STRIPES - 1)) {
        // Region k + 1's counter sits on the line of the lease's stripe k, beside its count.
        long c = (long) COUNTS.getAndAdd(s, (k + 1) * Lease.STRIDE + 1, 1L);
        if (c < region) {
          return (k + 1) * region + c;
        }
      }
      exhausted = true;
      return -1;
    }

    boolean exhausted() {
      return exhausted;
    }
  }
}
