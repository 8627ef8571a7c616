package dev.keymanager.core.envelope;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.LentKey;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * The one-shot body: AES-256-GCM under the DEK itself, the header and context as associated data,
 * on the key manager's JCA provider ({@link Jca}). The DEK reaches the JCE through a {@link
 * LentKey}, so no {@code SecretKeySpec} copy is made; each thread reuses one {@link Cipher} per
 * provider source, which keeps the last key schedule it expanded until its next use.
 */
final class OneShot {
  static final int TAG_LENGTH = 16;

  private OneShot() {}

  /**
   * Encrypts {@code plaintext} as payload {@code payload} of its DEK: {@code header} (a template,
   * not modified) with the payload's nonce, then the body.
   */
  static byte[] encrypt(
      Jca jca, byte[] key, byte[] header, long payload, byte[] plaintext, byte[] context) {
    int h = header.length;
    byte[] out = Arrays.copyOf(header, h + plaintext.length + TAG_LENGTH);
    nonce(out, h, payload);
    try {
      init(jca, Cipher.ENCRYPT_MODE, key, out, h, context)
          .doFinal(plaintext, 0, plaintext.length, out, h);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM encryption failed", e);
    }
    return out;
  }

  static ByteBuffer encrypt(
      Jca jca, byte[] key, byte[] header, long payload, ByteBuffer plaintext, byte[] context) {
    int h = header.length;
    byte[] out = Arrays.copyOf(header, h + plaintext.remaining() + TAG_LENGTH);
    nonce(out, h, payload);
    ByteBuffer result = ByteBuffer.wrap(out);
    result.position(h);
    try {
      init(jca, Cipher.ENCRYPT_MODE, key, out, h, context).doFinal(plaintext, result);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM encryption failed", e);
    }
    return result.flip();
  }

  /**
   * Payload {@code n}'s nonce: the header's random one XOR {@code n} in its low 64 bits, so the
   * payloads of one DEK never share a nonce.
   */
  private static void nonce(byte[] out, int headerLength, long n) {
    for (int i = 0; i < 8; i++) {
      out[headerLength - 1 - i] ^= (byte) (n >>> (8 * i));
    }
  }

  /**
   * Decrypts the payload {@code b[start, end)} whose header is {@code headerLength} bytes into a
   * fresh array; on failure nothing is returned and the partial output is overwritten.
   */
  static byte[] decrypt(
      Jca jca, byte[] key, KekRef kek, byte[] b, int headerLength, int end, byte[] context) {
    int length = end - headerLength;
    byte[] plaintext = new byte[length - TAG_LENGTH];
    try {
      init(jca, Cipher.DECRYPT_MODE, key, b, headerLength, context)
          .doFinal(b, headerLength, length, plaintext, 0);
      return plaintext;
    } catch (GeneralSecurityException e) {
      Arrays.fill(plaintext, (byte) 0);
      throw failed(kek, e);
    }
  }

  /** Decrypts {@code body}, whose header is {@code header[0, headerLength)}. */
  static ByteBuffer decrypt(
      Jca jca,
      byte[] key,
      KekRef kek,
      byte[] header,
      int headerLength,
      ByteBuffer body,
      byte[] context) {
    ByteBuffer plaintext = ByteBuffer.allocate(body.remaining() - TAG_LENGTH);
    try {
      init(jca, Cipher.DECRYPT_MODE, key, header, headerLength, context).doFinal(body, plaintext);
      return plaintext.flip();
    } catch (GeneralSecurityException e) {
      Arrays.fill(plaintext.array(), (byte) 0);
      throw failed(kek, e);
    }
  }

  private static InvalidCiphertextException failed(KekRef kek, GeneralSecurityException e) {
    if (e instanceof AEADBadTagException) {
      return new InvalidCiphertextException(
          "Payload under KEK "
              + kek
              + " failed authentication: its body or nonce was altered, truncated or extended",
          e);
    }
    return new InvalidCiphertextException("Invalid payload under KEK " + kek + ": " + e, e);
  }

  /**
   * This thread's cipher keyed for the payload whose header is {@code b[0, headerLength)}: the
   * nonce ends the header, and the associated data is the header then the context. The cipher
   * expands the key only when it differs from the one it last had, so payloads under a reused DEK
   * skip the key expansion.
   */
  private static Cipher init(
      Jca jca, int mode, byte[] key, byte[] b, int headerLength, byte[] context)
      throws GeneralSecurityException {
    Cipher cipher = jca.threadAesGcm();
    cipher.init(
        mode,
        LentKey.aes(key),
        new GCMParameterSpec(
            TAG_LENGTH * 8,
            b,
            headerLength - PayloadHeader.NONCE_LENGTH,
            PayloadHeader.NONCE_LENGTH));
    cipher.updateAAD(b, 0, headerLength);
    cipher.updateAAD(context);
    return cipher;
  }
}
