package dev.keymanager.core;

import java.security.GeneralSecurityException;
import java.security.NoSuchAlgorithmException;
import java.security.Provider;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReferenceArray;
import javax.crypto.Cipher;
import javax.crypto.Mac;

/**
 * Where a key manager gets its AES-GCM ciphers and HMAC-SHA256 MACs: one chosen {@link Provider},
 * or the JDK's provider list ({@link #DEFAULT}).
 */
final class Jca {
  static final String AES_GCM = "AES/GCM/NoPadding";
  static final String HMAC_SHA256 = "HmacSHA256";

  /** The JDK's provider list, in its configured order. */
  static final Jca DEFAULT = new Jca(null);

  // Scrubbed instances for reuse: Cipher.getInstance and Mac.getInstance (a provider lookup each)
  // were most of the cost of deriving a subkey. Only instances re-keyed with zeros come back here.
  private static final int POOLED = 16;

  private final Provider provider; // null: the provider list
  private final AtomicReferenceArray<Cipher> ciphers = new AtomicReferenceArray<>(POOLED);
  private final AtomicReferenceArray<Mac> macs = new AtomicReferenceArray<>(POOLED);

  private Jca(Provider provider) {
    this.provider = provider;
  }

  private static <T> T take(AtomicReferenceArray<T> pool) {
    int start = ThreadLocalRandom.current().nextInt(POOLED);
    for (int i = 0; i < POOLED; i++) {
      int idx = (start + i) % POOLED;
      T t = pool.get(idx);
      if (t != null && pool.compareAndSet(idx, t, null)) {
        return t;
      }
    }
    return null;
  }

  private static <T> void give(AtomicReferenceArray<T> pool, T t) {
    int start = ThreadLocalRandom.current().nextInt(POOLED);
    for (int i = 0; i < POOLED; i++) {
      int idx = (start + i) % POOLED;
      if (pool.get(idx) == null && pool.compareAndSet(idx, null, t)) {
        return;
      }
    }
  }

  /** Takes back an AES-GCM cipher that was re-keyed with zeros ({@code SubkeyCiphers.scrub}). */
  void recycle(Cipher scrubbed) {
    give(ciphers, scrubbed);
  }

  /** Takes back an HMAC-SHA256 that was re-keyed with zeros ({@code Hkdf}). */
  void recycle(Mac scrubbed) {
    give(macs, scrubbed);
  }

  /**
   * A source using only {@code provider}, checked at once for the two algorithms.
   *
   * @throws IllegalArgumentException if the provider offers AES/GCM/NoPadding or HmacSHA256 not
   */
  static Jca of(Provider provider) {
    Jca jca = new Jca(provider);
    try {
      Cipher.getInstance(AES_GCM, provider);
      Mac.getInstance(HMAC_SHA256, provider);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(
          "JCA provider " + provider.getName() + " lacks " + AES_GCM + " or " + HMAC_SHA256, e);
    }
    return jca;
  }

  Cipher aesGcm() {
    Cipher pooled = take(ciphers);
    if (pooled != null) {
      return pooled;
    }
    try {
      return provider == null ? Cipher.getInstance(AES_GCM) : Cipher.getInstance(AES_GCM, provider);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(AES_GCM + " unavailable from " + name(), e);
    }
  }

  Mac hmacSha256() throws NoSuchAlgorithmException {
    Mac pooled = take(macs);
    if (pooled != null) {
      return pooled;
    }
    return provider == null ? Mac.getInstance(HMAC_SHA256) : Mac.getInstance(HMAC_SHA256, provider);
  }

  /** The provider's name, or "default" for the JDK's provider list. */
  String name() {
    return provider == null ? "default" : provider.getName();
  }

  @Override
  public String toString() {
    return "Jca[" + name() + "]";
  }
}
