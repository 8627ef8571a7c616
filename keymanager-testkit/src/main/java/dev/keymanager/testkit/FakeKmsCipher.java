package dev.keymanager.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import java.net.URI;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The fake KMS's wire format: AES-256-GCM under a key derived from the CMK name.
 *
 * <p>Ciphertext is {@code FORMAT (1 byte) || nonce (12 bytes) || AES-GCM ciphertext and tag}. The
 * associated data is the 16-bit big-endian length of the CMK name, the name in UTF-8, then the
 * {@link KeyContext#encode() canonical context encoding}; binding the name means bytes of one CMK
 * fail to authenticate under another even if two names ever derived the same key.
 *
 * <p>Stateless and thread-safe: a {@link Cipher} is made per call because instances are not.
 */
final class FakeKmsCipher {
  /** The only format byte this version writes and reads. */
  static final byte FORMAT = 1;

  static final int NONCE_LENGTH = 12;
  static final int TAG_LENGTH = 16;

  // Changing the label changes every derived key and breaks ciphertext that users' tests stored.
  private static final byte[] DERIVATION_LABEL =
      "dev.keymanager.testkit.FakeKms CMK key v1".getBytes(UTF_8);

  private static final SecureRandom RANDOM = new SecureRandom();

  private FakeKmsCipher() {}

  /**
   * The 256-bit key of the CMK named {@code name}: HMAC-SHA256 keyed with a fixed label over the
   * UTF-8 name. Deterministic, so that two fakes (or one before and after a restart) agree. The
   * caller overwrites the returned array.
   */
  static byte[] deriveKey(String name) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(DERIVATION_LABEL, "HmacSHA256"));
      return mac.doFinal(name.getBytes(UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is required of every Java platform", e);
    }
  }

  static byte[] encrypt(String name, byte[] plaintext, KeyContext context) {
    byte[] nonce = new byte[NONCE_LENGTH];
    RANDOM.nextBytes(nonce);
    byte[] out = new byte[1 + NONCE_LENGTH + plaintext.length + TAG_LENGTH];
    out[0] = FORMAT;
    System.arraycopy(nonce, 0, out, 1, NONCE_LENGTH);
    byte[] key = deriveKey(name);
    try {
      Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
      cipher.init(
          Cipher.ENCRYPT_MODE,
          new SecretKeySpec(key, "AES"),
          new GCMParameterSpec(TAG_LENGTH * 8, nonce));
      cipher.updateAAD(associatedData(name, context));
      cipher.doFinal(plaintext, 0, plaintext.length, out, 1 + NONCE_LENGTH);
      return out;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM is required of every Java platform", e);
    } finally {
      Arrays.fill(key, (byte) 0);
    }
  }

  static byte[] decrypt(URI cmkUri, String name, byte[] ciphertext, KeyContext context) {
    if (ciphertext.length < 1 + NONCE_LENGTH + TAG_LENGTH) {
      throw new InvalidCiphertextException(
          "fake-kms ciphertext for CMK "
              + cmkUri
              + " is truncated: "
              + ciphertext.length
              + " bytes, at least "
              + (1 + NONCE_LENGTH + TAG_LENGTH)
              + " expected");
    }
    if (ciphertext[0] != FORMAT) {
      throw new InvalidCiphertextException(
          "fake-kms ciphertext for CMK "
              + cmkUri
              + " has unknown format byte "
              + (ciphertext[0] & 0xff)
              + ", expected "
              + FORMAT);
    }
    byte[] key = deriveKey(name);
    try {
      Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
      cipher.init(
          Cipher.DECRYPT_MODE,
          new SecretKeySpec(key, "AES"),
          new GCMParameterSpec(TAG_LENGTH * 8, ciphertext, 1, NONCE_LENGTH));
      cipher.updateAAD(associatedData(name, context));
      return cipher.doFinal(ciphertext, 1 + NONCE_LENGTH, ciphertext.length - 1 - NONCE_LENGTH);
    } catch (AEADBadTagException e) {
      throw new InvalidCiphertextException(
          "fake-kms ciphertext does not authenticate under CMK "
              + cmkUri
              + ": tampered, made by another CMK, or presented with another key context",
          e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM is required of every Java platform", e);
    } finally {
      Arrays.fill(key, (byte) 0);
    }
  }

  private static byte[] associatedData(String name, KeyContext context) {
    byte[] nameBytes = name.getBytes(UTF_8);
    byte[] contextBytes = context.encode();
    byte[] aad = new byte[2 + nameBytes.length + contextBytes.length];
    aad[0] = (byte) (nameBytes.length >>> 8);
    aad[1] = (byte) nameBytes.length;
    System.arraycopy(nameBytes, 0, aad, 2, nameBytes.length);
    System.arraycopy(contextBytes, 0, aad, 2 + nameBytes.length, contextBytes.length);
    return aad;
  }
}
