package dev.keymanager.core.envelope;

import dev.keymanager.DataKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.LentKey;
import dev.keymanager.internal.ApiBridge;
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

  static byte[] encrypt(
      Jca jca, DataKey dek, PayloadHeader header, byte[] plaintext, KeyContext context) {
    byte[] h = header.bytes();
    byte[] out = Arrays.copyOf(h, h.length + plaintext.length + TAG_LENGTH);
    dek.use(
        key -> {
          try {
            init(jca, Cipher.ENCRYPT_MODE, key, header, context)
                .doFinal(plaintext, 0, plaintext.length, out, h.length);
            return null;
          } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM encryption failed", e);
          }
        });
    return out;
  }

  static ByteBuffer encrypt(
      Jca jca, DataKey dek, PayloadHeader header, ByteBuffer plaintext, KeyContext context) {
    byte[] h = header.bytes();
    ByteBuffer out = ByteBuffer.allocate(h.length + plaintext.remaining() + TAG_LENGTH);
    out.put(h);
    dek.use(
        key -> {
          try {
            return init(jca, Cipher.ENCRYPT_MODE, key, header, context).doFinal(plaintext, out);
          } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM encryption failed", e);
          }
        });
    return out.flip();
  }

  /**
   * Decrypts {@code body} (ciphertext and tag) into a fresh array; on failure nothing is returned
   * and the partial output is overwritten.
   */
  static byte[] decrypt(
      Jca jca,
      DataKey dek,
      PayloadHeader header,
      byte[] b,
      int offset,
      int length,
      KeyContext context) {
    byte[] plaintext = new byte[length - TAG_LENGTH];
    dek.use(
        key -> {
          try {
            return init(jca, Cipher.DECRYPT_MODE, key, header, context)
                .doFinal(b, offset, length, plaintext, 0);
          } catch (AEADBadTagException e) {
            Arrays.fill(plaintext, (byte) 0);
            throw bodyFailed(header, e);
          } catch (GeneralSecurityException e) {
            Arrays.fill(plaintext, (byte) 0);
            throw new InvalidCiphertextException(
                "Invalid payload under KEK " + header.wrappedKey().kek() + ": " + e, e);
          }
        });
    return plaintext;
  }

  static ByteBuffer decrypt(
      Jca jca, DataKey dek, PayloadHeader header, ByteBuffer body, KeyContext context) {
    ByteBuffer plaintext = ByteBuffer.allocate(body.remaining() - TAG_LENGTH);
    dek.use(
        key -> {
          try {
            return init(jca, Cipher.DECRYPT_MODE, key, header, context).doFinal(body, plaintext);
          } catch (AEADBadTagException e) {
            Arrays.fill(plaintext.array(), (byte) 0);
            throw bodyFailed(header, e);
          } catch (GeneralSecurityException e) {
            Arrays.fill(plaintext.array(), (byte) 0);
            throw new InvalidCiphertextException(
                "Invalid payload under KEK " + header.wrappedKey().kek() + ": " + e, e);
          }
        });
    return plaintext.flip();
  }

  private static InvalidCiphertextException bodyFailed(PayloadHeader header, Exception cause) {
    return new InvalidCiphertextException(
        "Payload under KEK "
            + header.wrappedKey().kek()
            + " failed authentication: its body or nonce was altered, truncated or extended",
        cause);
  }

  private static Cipher init(
      Jca jca, int mode, byte[] key, PayloadHeader header, KeyContext context)
      throws GeneralSecurityException {
    Cipher cipher = jca.threadAesGcm();
    byte[] h = header.bytes();
    cipher.init(
        mode,
        LentKey.aes(key),
        new GCMParameterSpec(TAG_LENGTH * 8, h, header.nonceOffset(), PayloadHeader.NONCE_LENGTH));
    cipher.updateAAD(h);
    cipher.updateAAD(ApiBridge.contextEncoding(context));
    return cipher;
  }
}
