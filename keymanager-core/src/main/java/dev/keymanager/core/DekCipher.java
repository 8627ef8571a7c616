package dev.keymanager.core;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.WrapAlgorithm;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.LentKey;
import dev.keymanager.internal.ApiBridge;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * Wraps and unwraps DEKs under a cached KEK: the hot path, one AES-GCM operation each.
 *
 * <p>The associated data is the wrapped key's header followed by the canonical {@link KeyContext}
 * encoding, so editing the header (to name another KEK) or presenting another context fails
 * authentication. Each thread reuses one {@link Cipher}, re-initialised per call.
 */
final class DekCipher {
  static final WrapAlgorithm ALGORITHM = WrapAlgorithm.AES256_GCM_HKDF_SHA256;
  private static final int TAG_BITS = 128;
  private static final int TAG_LENGTH = TAG_BITS / 8;

  private static final ThreadLocal<Cipher> CIPHER =
      ThreadLocal.withInitial(
          () -> {
            try {
              return Cipher.getInstance("AES/GCM/NoPadding");
            } catch (GeneralSecurityException e) {
              throw new IllegalStateException("AES/GCM/NoPadding unavailable", e);
            }
          });

  private DekCipher() {}

  /** Wraps {@code dek} under {@code kek}, which the caller holds a reference to. */
  static WrappedKey wrap(CachedKek kek, byte[] dek, KeyContext context) {
    ApiBridge.WrappedKeys keys = ApiBridge.wrappedKeys();
    byte[] out = keys.newEncoding(ALGORITHM, kek.ref(), dek.length + TAG_LENGTH);
    int ciphertextOffset = out.length - dek.length - TAG_LENGTH;
    int saltOffset = ciphertextOffset - ALGORITHM.parametersLength();
    LentKey key = kek.nextWrap(out, saltOffset);
    try {
      Cipher cipher = init(Cipher.ENCRYPT_MODE, key, out, saltOffset, ciphertextOffset, context);
      cipher.doFinal(dek, 0, dek.length, out, ciphertextOffset);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM wrap failed for KEK " + kek.ref(), e);
    }
    return keys.adopt(out);
  }

  /**
   * Unwraps {@code wrapped} under {@code kek}, which the caller holds a reference to. The caller
   * owns the returned bytes.
   *
   * @throws InvalidCiphertextException if authentication fails
   */
  static byte[] unwrap(CachedKek kek, WrappedKey wrapped, KeyContext context) {
    byte[] in = ApiBridge.wrappedKeys().encoding(wrapped);
    int saltOffset = wrapped.parametersOffset();
    int ciphertextOffset = wrapped.ciphertextOffset();
    int ciphertextLength = in.length - ciphertextOffset;
    LentKey key = kek.unwrapKey(in, saltOffset);
    byte[] dek = new byte[ciphertextLength - TAG_LENGTH];
    try {
      Cipher cipher = init(Cipher.DECRYPT_MODE, key, in, saltOffset, ciphertextOffset, context);
      cipher.doFinal(in, ciphertextOffset, ciphertextLength, dek, 0);
      return dek;
    } catch (AEADBadTagException e) {
      Arrays.fill(dek, (byte) 0);
      throw new InvalidCiphertextException(
          "Wrapped DEK under KEK "
              + wrapped.kek()
              + " failed authentication: the key context differs from the one it was wrapped"
              + " with, or the bytes were altered",
          e);
    } catch (GeneralSecurityException e) {
      Arrays.fill(dek, (byte) 0);
      throw new InvalidCiphertextException(
          "Wrapped DEK under KEK " + wrapped.kek() + " could not be decrypted", e);
    }
  }

  /**
   * This thread's cipher, keyed for one wrapped-key encoding: the nonce follows the salt, and the
   * associated data is the header (everything before the ciphertext) then the context.
   */
  private static Cipher init(
      int mode,
      LentKey key,
      byte[] encoding,
      int saltOffset,
      int ciphertextOffset,
      KeyContext context)
      throws GeneralSecurityException {
    Cipher cipher = CIPHER.get();
    cipher.init(
        mode,
        key,
        new GCMParameterSpec(
            TAG_BITS, encoding, saltOffset + CachedKek.SALT_LENGTH, CachedKek.NONCE_LENGTH));
    cipher.updateAAD(encoding, 0, ciphertextOffset);
    cipher.updateAAD(ApiBridge.contextEncoding(context));
    return cipher;
  }
}
