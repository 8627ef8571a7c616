package dev.keymanager.core.internal;

import java.security.GeneralSecurityException;
import java.security.NoSuchAlgorithmException;
import java.security.Provider;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReferenceArray;
import javax.crypto.Cipher;
import javax.crypto.Mac;

/**
 * Where a key manager gets its AES-GCM ciphers and HMAC-SHA256 MACs: one chosen {@link Provider},
 * or the JDK's provider list ({@link #DEFAULT}). Shared by the DEK wrap path in {@code
 * dev.keymanager.core} and the one-shot payloads of {@code dev.keymanager.core.envelope}, which
 * reach a key manager's instance through {@link Source}.
 */
public final class Jca {
  public static final String AES_GCM = "AES/GCM/NoPadding";
  public static final String HMAC_SHA256 = "HmacSHA256";

  /** The JDK's provider list, in its configured order. */
  public static final Jca DEFAULT = new Jca(null);

  /**
   * Implemented by the key managers {@code KeyManagers} builds and their data-path views, so that
   * code handed only a {@link dev.keymanager.DataKeyService} can use the same provider.
   */
  public interface Source {
    /** The JCA source this key manager was built with. */
    Jca jca();
  }

  /** The source of {@code keys}: its own if it is one of ours, else {@link #DEFAULT}. */
  public static Jca usedBy(dev.keymanager.DataKeyService keys) {
    return keys instanceof Source source ? source.jca() : DEFAULT;
  }

  // Scrubbed instances for reuse: Cipher.getInstance and Mac.getInstance (a provider lookup each)
  // were most of the cost of deriving a subkey. Only instances re-keyed with zeros come back here.
  private static final int POOLED = 16;

  private final Provider provider; // null: the provider list
  private final AtomicReferenceArray<Cipher> ciphers = new AtomicReferenceArray<>(POOLED);
  private final AtomicReferenceArray<Mac> macs = new AtomicReferenceArray<>(POOLED);

  // One AES-GCM cipher per thread for one-shot payloads, which key it afresh on every use.
  private final ThreadLocal<Cipher> threadCipher = ThreadLocal.withInitial(this::aesGcm);

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

  /**
   * Takes back an AES-GCM cipher that was re-keyed with zeros ({@code SubkeyCiphers.scrub}).
   *
   * @param scrubbed a cipher of this source holding no key material
   */
  public void recycle(Cipher scrubbed) {
    give(ciphers, scrubbed);
  }

  /**
   * Takes back an HMAC-SHA256 that was re-keyed with zeros ({@code Hkdf}).
   *
   * @param scrubbed a MAC of this source holding no key material
   */
  public void recycle(Mac scrubbed) {
    give(macs, scrubbed);
  }

  /**
   * A source using only {@code provider}, checked at once for the two algorithms.
   *
   * @throws IllegalArgumentException if the provider offers AES/GCM/NoPadding or HmacSHA256 not
   */
  public static Jca of(Provider provider) {
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

  /** A new AES/GCM/NoPadding cipher. */
  public Cipher aesGcm() {
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

  /**
   * This thread's AES/GCM/NoPadding cipher, for callers that {@code init} it before each use. It
   * keeps the last key schedule it expanded until its next {@code init}.
   */
  public Cipher threadAesGcm() {
    return threadCipher.get();
  }

  /** A new HmacSHA256 MAC. */
  public Mac hmacSha256() throws NoSuchAlgorithmException {
    Mac pooled = take(macs);
    if (pooled != null) {
      return pooled;
    }
    return provider == null ? Mac.getInstance(HMAC_SHA256) : Mac.getInstance(HMAC_SHA256, provider);
  }

  /** The provider's name, or "default" for the JDK's provider list. */
  public String name() {
    return provider == null ? "default" : provider.getName();
  }

  @Override
  public String toString() {
    return "Jca[" + name() + "]";
  }
}
