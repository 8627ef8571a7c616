package dev.keymanager.bench;

import dev.keymanager.WrappedKey;
import java.security.GeneralSecurityException;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;

/**
 * The practical floor: AES-256-GCM on a keymanager wrapped-key blob with a plain JCE {@link Cipher}
 * that the caller reuses and re-initialises per call, the associated data being the blob's header
 * then the context encoding, exactly as keymanager authenticates it. No cache, no reference
 * counting, no format objects.
 */
final class RawGcm {
  private static final int TAG_BITS = 128;
  static final int TAG_LENGTH = TAG_BITS / 8;

  /** Where the parts of one wrapped-key encoding start. */
  record Layout(int nonceOffset, int ciphertextOffset) {
    static Layout of(WrappedKey wrapped) {
      int parameters = parametersOffset(wrapped.encode());
      return new Layout(
          parameters + Fixture.SALT_LENGTH, parameters + wrapped.algorithm().parametersLength());
    }
  }

  /**
   * Where the parameters start in a wrapped-key encoding, from its documented layout: magic (2),
   * format version, algorithm id, KEK id length (1 each), the KEK id, the KEK version (4).
   */
  static int parametersOffset(byte[] encoded) {
    return 5 + (encoded[4] & 0xFF) + 4;
  }

  private RawGcm() {}

  static Cipher newCipher() {
    try {
      return Cipher.getInstance("AES/GCM/NoPadding");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The per-thread generator a careful implementation uses (never one shared instance). */
  static SecureRandom newDrbg() {
    try {
      return SecureRandom.getInstance("DRBG");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Decrypts the ciphertext of {@code blob} into a new array. */
  static byte[] decrypt(Cipher cipher, SecretKey key, byte[] blob, Layout at, byte[] context) {
    try {
      cipher.init(
          Cipher.DECRYPT_MODE,
          key,
          new GCMParameterSpec(TAG_BITS, blob, at.nonceOffset(), Fixture.NONCE_LENGTH));
      cipher.updateAAD(blob, 0, at.ciphertextOffset());
      cipher.updateAAD(context);
      int length = blob.length - at.ciphertextOffset();
      byte[] out = new byte[length - TAG_LENGTH];
      cipher.doFinal(blob, at.ciphertextOffset(), length, out, 0);
      return out;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Encrypts {@code plaintext} into a new blob: a copy of {@code header}, a counter nonce, then the
   * ciphertext and tag. The counter keeps the JCE from refusing a reused key and nonce.
   */
  static byte[] encrypt(
      Cipher cipher,
      SecretKey key,
      byte[] header,
      Layout at,
      long counter,
      byte[] plaintext,
      byte[] context) {
    byte[] out = new byte[at.ciphertextOffset() + plaintext.length + TAG_LENGTH];
    System.arraycopy(header, 0, out, 0, at.ciphertextOffset());
    for (int i = 0; i < 8; i++) {
      out[at.nonceOffset() + 4 + i] = (byte) (counter >>> (56 - 8 * i));
    }
    try {
      cipher.init(
          Cipher.ENCRYPT_MODE,
          key,
          new GCMParameterSpec(TAG_BITS, out, at.nonceOffset(), Fixture.NONCE_LENGTH));
      cipher.updateAAD(out, 0, at.ciphertextOffset());
      cipher.updateAAD(context);
      cipher.doFinal(plaintext, 0, plaintext.length, out, at.ciphertextOffset());
      return out;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
