package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.keymanager.KekRef;
import dev.keymanager.core.internal.LentKey;
import dev.keymanager.core.internal.Randoms;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One plaintext KEK version in the cache, with the subkeys derived from it, reference counted so
 * that the bytes are overwritten only after the last user is done.
 *
 * <p>The cache holds one reference; every wrap or unwrap holds another for the length of the
 * operation ({@link #tryRetain()} / {@link #release()}). Eviction only drops the cache's reference,
 * so an operation in flight finishes with the right key; the last release overwrites the KEK and
 * every subkey. {@link #tryRetain()} fails once the count has reached zero, so nothing ever runs on
 * zeroed bytes.
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
  private final byte[] kek; // owned
  private final AtomicInteger holders = new AtomicInteger(1); // the cache's reference
  private final Subkey[] unwrapSlots = new Subkey[UNWRAP_SLOTS]; // writes under this
  private final List<Subkey> retired = new ArrayList<>(); // guarded by this
  private int nextSlot; // guarded by this
  private volatile WrapSubkey wrapSubkey; // created on first wrap

  /** Takes ownership of {@code kekBytes}: they are overwritten when the last holder releases. */
  CachedKek(KekRef ref, byte[] kekBytes) {
    this.ref = ref;
    this.kek = kekBytes;
  }

  KekRef ref() {
    return ref;
  }

  /** Adds a holder; {@code false} if the bytes are already overwritten (the caller reloads). */
  boolean tryRetain() {
    return holders.getAndUpdate(n -> n == 0 ? 0 : n + 1) != 0;
  }

  /** Drops a holder; the last one overwrites the KEK and every derived subkey. */
  void release() {
    int left = holders.decrementAndGet();
    if (left == 0) {
      wipe();
    } else if (left < 0) {
      throw new IllegalStateException("KEK " + ref + " released more often than retained");
    }
  }

  boolean isWiped() {
    return holders.get() == 0;
  }

  /** Lends the KEK bytes, for re-wrapping under a CMK; the caller must hold a reference. */
  byte[] kekBytesForWrap() {
    return kek;
  }

  /**
   * The subkey for the next wrap and its nonce, written into {@code out} at {@code saltOffset}
   * (salt, then nonce). The caller holds a reference.
   */
  LentKey nextWrap(byte[] out, int saltOffset) {
    for (; ; ) {
      WrapSubkey current = wrapSubkey;
      if (current == null || current.exhausted()) {
        current = rollOver(current);
      }
      long n = current.counter.getAndIncrement();
      if (n >= MAX_WRAPS_PER_SUBKEY) {
        continue; // another thread will roll over, or we will on the next pass
      }
      System.arraycopy(current.salt, 0, out, saltOffset, SALT_LENGTH);
      int nonce = saltOffset + SALT_LENGTH;
      System.arraycopy(current.prefix, 0, out, nonce, 4);
      for (int i = 0; i < 8; i++) {
        out[nonce + 4 + i] = (byte) (n >>> (56 - 8 * i));
      }
      return current.key;
    }
  }

  private synchronized WrapSubkey rollOver(WrapSubkey seen) {
    WrapSubkey current = wrapSubkey;
    if (current != seen && current != null && !current.exhausted()) {
      return current;
    }
    if (current != null) {
      retired.add(current);
    }
    WrapSubkey next = new WrapSubkey(derive(Randoms.bytes(SALT_LENGTH)), Randoms.bytes(4));
    wrapSubkey = next;
    return next;
  }

  /**
   * The subkey for the salt at {@code saltOffset} of {@code encoded}: this instance's own wrap
   * subkey, a recently used one, or a new derivation. The caller holds a reference.
   */
  LentKey unwrapKey(byte[] encoded, int saltOffset) {
    int end = saltOffset + SALT_LENGTH;
    WrapSubkey own = wrapSubkey;
    if (own != null && own.matches(encoded, saltOffset, end)) {
      return own.key;
    }
    for (Subkey s : unwrapSlots) {
      if (s != null && s.matches(encoded, saltOffset, end)) {
        return s.key;
      }
    }
    Subkey derived = derive(Arrays.copyOfRange(encoded, saltOffset, end));
    synchronized (this) {
      Subkey old = unwrapSlots[nextSlot];
      if (old != null) {
        retired.add(old); // an unwrap in flight may still use it; wiped with the rest
      }
      unwrapSlots[nextSlot] = derived;
      nextSlot = (nextSlot + 1) % UNWRAP_SLOTS;
    }
    return derived.key;
  }

  private Subkey derive(byte[] salt) {
    return new Subkey(salt, Hkdf.deriveSha256(kek, salt, SUBKEY_INFO, 32));
  }

  private synchronized void wipe() {
    Arrays.fill(kek, (byte) 0);
    for (Subkey s : unwrapSlots) {
      if (s != null) {
        s.wipe();
      }
    }
    for (Subkey s : retired) {
      s.wipe();
    }
    retired.clear();
    WrapSubkey w = wrapSubkey;
    if (w != null) {
      w.wipe();
    }
  }

  @Override
  public String toString() {
    return "CachedKek[" + ref + ", holders=" + holders.get() + ", redacted]";
  }

  private static class Subkey {
    final byte[] salt;
    final byte[] bytes;
    final LentKey key;

    Subkey(byte[] salt, byte[] bytes) {
      this.salt = salt;
      this.bytes = bytes;
      this.key = LentKey.aes(bytes);
    }

    boolean matches(byte[] encoded, int from, int to) {
      return Arrays.equals(salt, 0, SALT_LENGTH, encoded, from, to);
    }

    void wipe() {
      Arrays.fill(bytes, (byte) 0);
    }
  }

  private static final class WrapSubkey extends Subkey {
    final byte[] prefix;
    final AtomicLong counter = new AtomicLong();

    WrapSubkey(Subkey derived, byte[] prefix) {
      super(derived.salt, derived.bytes);
      this.prefix = prefix;
    }

    boolean exhausted() {
      return counter.get() >= MAX_WRAPS_PER_SUBKEY;
    }
  }
}
