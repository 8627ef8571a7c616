package dev.keymanager.core;

import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.LentKey;
import dev.keymanager.core.internal.Randoms;
import java.security.GeneralSecurityException;
import java.util.concurrent.atomic.AtomicReferenceArray;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * A few AES-GCM {@link Cipher}s keyed with one subkey, lent to one operation at a time.
 *
 * <p>Why not one cipher per thread: a JCE cipher keeps copies of the last key it was given (the
 * JDK's AES keeps the raw key and its expanded schedule; GCM keeps the last encryption key to
 * refuse IV reuse) until it is keyed again, and nobody can reach another thread's cipher to scrub
 * it. Ciphers that belong to a subkey can be scrubbed when the subkey is wiped ({@link #wipe()}),
 * and a cipher that stays keyed with one subkey skips the key expansion on every init (about 1 µs
 * on the machines we measured), which is what makes a working set of several hot KEKs as cheap as
 * one.
 *
 * <p>A thread takes a cipher starting from the slot its identity hash picks and puts it back after
 * the operation; with more threads than slots at once, the extra ones make a cipher and scrub it
 * afterwards. No allocation in the steady state, two atomic operations per use. Memory: a keyed
 * AES-GCM cipher is about 1.5 KiB, so a subkey holds at most {@value #SLOTS} of them, and only as
 * many as threads have used it at once.
 */
final class SubkeyCiphers {
  private static final int SLOTS = 4; // a power of two
  // Slot i lives at index i * STRIDE, so that each slot has a cache line of its own: threads on
  // different cores taking and giving back their ciphers do not invalidate each other's line.
  private static final int STRIDE = 16;
  private static final byte[] SCRUB_KEY = new byte[32];

  private final LentKey key;
  private final Jca jca;
  private final AtomicReferenceArray<Cipher> slots = new AtomicReferenceArray<>(SLOTS * STRIDE);
  private volatile boolean wiped;

  SubkeyCiphers(LentKey key) {
    this(key, Jca.DEFAULT);
  }

  SubkeyCiphers(LentKey key, Jca jca) {
    this.jca = jca;
    this.key = key;
  }

  /** The key these ciphers use; lent, owned by the subkey. */
  LentKey key() {
    return key;
  }

  /** A cipher for this subkey, to be {@link #give given} back after one operation. */
  Cipher take() {
    int start = slot();
    for (int i = 0; i < SLOTS; i++) {
      int idx = ((start + i) & (SLOTS - 1)) * STRIDE;
      Cipher c = slots.get(idx);
      if (c != null && slots.compareAndSet(idx, c, null)) {
        return c;
      }
    }
    return newCipher();
  }

  /** Returns {@code c} to a free slot, or scrubs it if there is none or the subkey is wiped. */
  void give(Cipher c) {
    if (!wiped) {
      int start = slot();
      for (int i = 0; i < SLOTS; i++) {
        int idx = ((start + i) & (SLOTS - 1)) * STRIDE;
        if (slots.get(idx) == null && slots.compareAndSet(idx, null, c)) {
          if (wiped && slots.compareAndSet(idx, c, null)) {
            break; // wipe() ran meanwhile and missed it: scrub it here
          }
          return;
        }
      }
    }
    scrub(c);
  }

  /**
   * Scrubs every pooled cipher. Called when the subkey's last holder releases it, so no operation
   * has a cipher out.
   */
  void wipe() {
    wiped = true;
    for (int i = 0; i < SLOTS; i++) {
      Cipher c = slots.getAndSet(i * STRIDE, null);
      if (c != null) {
        scrub(c);
      }
    }
  }

  private static int slot() {
    return System.identityHashCode(Thread.currentThread()) & (SLOTS - 1);
  }

  private Cipher newCipher() {
    return jca.aesGcm();
  }

  /**
   * Re-keys {@code c} with an all-zero key for encryption, which replaces both copies a JDK cipher
   * keeps: the AES key and schedule, and GCM's last encryption key. A fresh random IV each time, so
   * GCM's IV-reuse check never refuses.
   */
  static void scrub(Cipher c) {
    try {
      c.init(
          Cipher.ENCRYPT_MODE,
          LentKey.aes(SCRUB_KEY),
          new GCMParameterSpec(128, Randoms.bytes(CachedKek.NONCE_LENGTH)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("could not scrub an AES-GCM cipher", e);
    }
  }
}
