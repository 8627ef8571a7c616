package dev.keymanager.core;

import java.security.GeneralSecurityException;
import java.security.NoSuchAlgorithmException;
import java.security.Provider;
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

  private final Provider provider; // null: the provider list

  private Jca(Provider provider) {
    this.provider = provider;
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
    try {
      return provider == null ? Cipher.getInstance(AES_GCM) : Cipher.getInstance(AES_GCM, provider);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(AES_GCM + " unavailable from " + name(), e);
    }
  }

  Mac hmacSha256() throws NoSuchAlgorithmException {
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
