package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.keymanager.KekRef;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.LentKey;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.internal.ApiBridge;
import java.util.Arrays;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

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
 * DEKs are wrapped under a <em>subkey</em>, HKDF-SHA256(KEK, salt, info), with a fresh random
 * 256-bit salt per cache load, carried in each wrapped key. Nonces under one subkey are a 4-byte
 * random prefix and a 64-bit counter, so they never repeat; after {@value #MAX_WRAPS_PER_SUBKEY}
 * wraps (2^32) the entry moves to a new salt. Two key manager instances share a subkey only if
 * their salts collide: with 2^64 loads fleet-wide that is below 2^-128. So one KEK version can wrap
 * far more than 2^32 DEKs across a fleet with no coordination, and the hot path stays one AES-GCM
 * operation (no per-wrap key derivation).
 */
final class CachedKek {
  /** HKDF info for the DEK-wrapping subkey; changing it breaks every existing wrapped key. */
  static final byte[] SUBKEY_INFO =
      "keymanager/v1 dek-wrap AES256_GCM_HKDF_SHA256".getBytes(US_ASCII);

  static final int SALT_LENGTH = 32;
  static final int NONCE_LENGTH = 12;
  static final long MAX_WRAPS_PER_SUBKEY = 1L << 32;
  private static final int UNWRAP_SLOTS = 16;

  private final KekRef ref;
  private final Jca jca;
  private final byte[] wrapHeader; // the wrapped-key header for this KEK version; not secret
  private final byte[] kek; // owned
  private final long expiresAt; // ticker nanos; never used at or after this
  private final long refreshAt; // ticker nanos; a use at or after this starts a refresh
  private final AtomicLong nextRefreshAttempt;
  private final Lease lease = new Lease(this::wipe);
  private final Subkey[] unwrapSlots = new Subkey[UNWRAP_SLOTS]; // writes under this
  private int nextSlot; // guarded by this
  private volatile WrapSubkey wrapSubkey; // created on first wrap
  private volatile Future<?> expiryTask; // the idle wipe at the hard TTL (ExpiryTimer)

  /** A KEK that never expires, for tests and key derivation checks. */
  @VisibleForTesting
  CachedKek(KekRef ref, byte[] kekBytes) {
    this(ref, kekBytes, Long.MAX_VALUE, Long.MAX_VALUE);
  }

  /**
   * Takes ownership of {@code kekBytes}: they are overwritten when the last holder releases.
   *
   * @param expiresAt ticker time from which the KEK must not be used (the hard TTL)
   * @param refreshAt ticker time from which a use starts a background refresh
   */
  CachedKek(KekRef ref, byte[] kekBytes, long expiresAt, long refreshAt) {
    this(ref, kekBytes, expiresAt, refreshAt, Jca.DEFAULT);
  }

  /** As {@link #CachedKek(KekRef, byte[], long, long)}, deriving and ciphering with {@code jca}. */
  CachedKek(KekRef ref, byte[] kekBytes, long expiresAt, long refreshAt, Jca jca) {
    this.jca = jca;
    this.ref = ref;
    this.wrapHeader = ApiBridge.wrappedKeys().header(DekCipher.ALGORITHM, ref);
    this.kek = kekBytes;
    this.expiresAt = expiresAt;
    this.refreshAt = refreshAt;
    this.nextRefreshAttempt = new AtomicLong(refreshAt);
  }

  KekRef ref() {
    return ref;
  }

  /** The header every DEK wrapped under this KEK version starts with; read only. */
  byte[] wrapHeader() {
    return wrapHeader;
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
    return now - expiresAt < 0 && !lease.isDropped();
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

  /**
   * Claims the next refresh attempt at ticker time {@code now}: true for exactly one caller once
   * the refresh time has come, and again for one caller {@code retryAfter} nanos after each claim
   * (a refresh that failed transiently is retried, not hammered).
   */
  boolean claimRefresh(long now, long retryAfter) {
    long next = nextRefreshAttempt.get();
    return now - next >= 0 && nextRefreshAttempt.compareAndSet(next, now + retryAfter);
  }

  /** Adds an operation; {@code false} once the cache has dropped it (the caller looks again). */
  boolean tryRetain() {
    return lease.tryRetain();
  }

  /** Ends an operation; the last one after the cache's drop overwrites the KEK and its subkeys. */
  void release() {
    lease.release();
  }

  /** The cache lets go (eviction, expiry, invalidation, replacement, close). */
  void drop() {
    lease.drop();
    Future<?> task = expiryTask;
    if (task != null) {
      task.cancel(false);
    }
  }

  /** The timer task that drops this entry at its hard TTL; cancelled by an earlier drop. */
  void expiryTask(Future<?> task) {
    expiryTask = task;
    if (lease.isDropped()) {
      task.cancel(false); // dropped while it was being scheduled
    }
  }

  boolean isWiped() {
    return lease.isEnded();
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
      WrapSubkey current = wrapSubkey;
      if (current == null || current.exhausted()) {
        current = rollOver(current);
      }
      if (!current.tryRetain()) {
        continue; // rolled over and released meanwhile
      }
      long n = current.counter.getAndIncrement();
      if (n >= MAX_WRAPS_PER_SUBKEY) {
        current.release();
        continue; // another thread will roll over, or we will on the next pass
      }
      System.arraycopy(current.salt, 0, out, saltOffset, SALT_LENGTH);
      int nonce = saltOffset + SALT_LENGTH;
      System.arraycopy(current.prefix, 0, out, nonce, 4);
      for (int i = 0; i < 8; i++) {
        out[nonce + 4 + i] = (byte) (n >>> (56 - 8 * i));
      }
      return current;
    }
  }

  private synchronized WrapSubkey rollOver(WrapSubkey seen) {
    WrapSubkey current = wrapSubkey;
    if (current != seen && current != null && !current.exhausted()) {
      return current;
    }
    WrapSubkey next = new WrapSubkey(derive(Randoms.bytes(SALT_LENGTH)), Randoms.bytes(4));
    wrapSubkey = next;
    if (current != null) {
      current.drop(); // this KEK's hold; wraps in flight finish first
    }
    return next;
  }

  /**
   * The subkey for the salt at {@code saltOffset} of {@code encoded}, retained: this instance's own
   * wrap subkey, a recently used one, or a new derivation that replaces the oldest of {@value
   * #UNWRAP_SLOTS} slots. The caller holds a reference to this KEK and must {@link
   * Subkey#release()} the subkey.
   */
  Subkey unwrapKey(byte[] encoded, int saltOffset) {
    int end = saltOffset + SALT_LENGTH;
    for (; ; ) {
      Subkey found = lookup(encoded, saltOffset, end);
      if (found == null) {
        found = install(derive(Arrays.copyOfRange(encoded, saltOffset, end)), encoded, saltOffset);
      }
      if (found.tryRetain()) {
        return found;
      }
      // replaced and released between the lookup and the retain: look again
    }
  }

  private Subkey lookup(byte[] encoded, int from, int to) {
    WrapSubkey own = wrapSubkey;
    if (own != null && own.matches(encoded, from, to)) {
      return own;
    }
    for (Subkey s : unwrapSlots) {
      if (s != null && s.matches(encoded, from, to)) {
        return s;
      }
    }
    return null;
  }

  /** Puts a freshly derived subkey into a slot, unless another thread installed its salt first. */
  private synchronized Subkey install(Subkey derived, byte[] encoded, int saltOffset) {
    Subkey raced = lookup(encoded, saltOffset, saltOffset + SALT_LENGTH);
    if (raced != null) {
      derived.drop();
      return raced;
    }
    Subkey old = unwrapSlots[nextSlot];
    unwrapSlots[nextSlot] = derived;
    nextSlot = (nextSlot + 1) % UNWRAP_SLOTS;
    if (old != null) {
      old.drop(); // the slot's hold; unwraps in flight on it finish first
    }
    return derived;
  }

  private Subkey derive(byte[] salt) {
    return new Subkey(salt, Hkdf.deriveSha256(jca, kek, salt, SUBKEY_INFO, 32), jca);
  }

  /** Runs once, when the last holder releases: no operation is in flight on any subkey. */
  private synchronized void wipe() {
    Arrays.fill(kek, (byte) 0);
    for (int i = 0; i < UNWRAP_SLOTS; i++) {
      if (unwrapSlots[i] != null) {
        unwrapSlots[i].drop();
        unwrapSlots[i] = null;
      }
    }
    WrapSubkey w = wrapSubkey;
    if (w != null) {
      w.drop();
    }
  }

  @Override
  public String toString() {
    return "CachedKek[" + ref + (isWiped() ? ", wiped" : "") + ", redacted]";
  }

  /**
   * A subkey derived from this KEK for one salt, with the ciphers keyed with it. Reference counted
   * like the KEK: its slot (or the wrap position) holds one reference and every operation on it
   * another; the last release scrubs the ciphers and overwrites the bytes.
   */
  static class Subkey {
    final byte[] salt;
    private final byte[] bytes;
    private final SubkeyCiphers ciphers;
    private final Lease lease;

    Subkey(byte[] salt, byte[] bytes, Jca jca) {
      this.salt = salt;
      this.bytes = bytes;
      this.ciphers = new SubkeyCiphers(LentKey.aes(bytes), jca);
      this.lease = new Lease(this::wipe);
    }

    Subkey(Subkey derived) {
      this.salt = derived.salt;
      this.bytes = derived.bytes;
      this.ciphers = derived.ciphers;
      this.lease = new Lease(this::wipe);
    }

    SubkeyCiphers ciphers() {
      return ciphers;
    }

    boolean matches(byte[] encoded, int from, int to) {
      return Arrays.equals(salt, 0, SALT_LENGTH, encoded, from, to);
    }

    boolean tryRetain() {
      return lease.tryRetain();
    }

    /** Ends an operation on this subkey. */
    void release() {
      lease.release();
    }

    /** Its slot (or the wrap position) lets go. */
    void drop() {
      lease.drop();
    }

    private void wipe() {
      ciphers.wipe();
      Arrays.fill(bytes, (byte) 0);
    }

    @Override
    public String toString() {
      return "Subkey[redacted]";
    }
  }

  private static final class WrapSubkey extends Subkey {
    final byte[] prefix;
    final AtomicLong counter = new AtomicLong();

    WrapSubkey(Subkey derived, byte[] prefix) {
      super(derived);
      this.prefix = prefix;
    }

    boolean exhausted() {
      return counter.get() >= MAX_WRAPS_PER_SUBKEY;
    }
  }
}
