package dev.keymanager.core;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.WrapAlgorithm;
import dev.keymanager.WrappedKey;
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
 * authentication. Ciphers come from the subkey's own small pool ({@link SubkeyCiphers}), so they
 * stay keyed with it and are scrubbed when it is wiped.
 */
final class DekCipher {
  static final WrapAlgorithm ALGORITHM = WrapAlgorithm.AES256_GCM_HKDF_SHA256;
  private static final int TAG_BITS = 128;
  private static final int TAG_LENGTH = TAG_BITS / 8;

  private DekCipher() {}

  /** Wraps {@code dek} under {@code kek}, which the caller holds a reference to. */
  static WrappedKey wrap(CachedKek kek, byte[] dek, KeyContext context) {
    byte[] header = kek.wrapHeader();
    int saltOffset = header.length;
    int ciphertextOffset = saltOffset + ALGORITHM.parametersLength();
    byte[] out = new byte[ciphertextOffset + dek.length + TAG_LENGTH];
    System.arraycopy(header, 0, out, 0, header.length);
    CachedKek.Subkey subkey = kek.nextWrap(out, saltOffset);
    Cipher cipher = subkey.take();
    try {
      init(cipher, Cipher.ENCRYPT_MODE, subkey, out, saltOffset, ciphertextOffset, context);
      cipher.doFinal(dek, 0, dek.length, out, ciphertextOffset);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM wrap failed for KEK " + kek.ref(), e);
    } finally {
      subkey.give(cipher);
      subkey.release();
    }
    return ApiBridge.wrappedKeys().adopt(out, ALGORITHM, kek.ref());
  }

  /**
   * Unwraps {@code wrapped} under {@code kek}, which the caller holds a reference to. The caller
   * owns the returned bytes.
   *
   * @throws InvalidCiphertextException if authentication fails
   */
  static byte[] unwrap(CachedKek kek, WrappedKey wrapped, KeyContext context) {
    byte[] in = ApiBridge.wrappedKeys().encoding(wrapped);
    int saltOffset = ApiBridge.wrappedKeys().parametersOffset(wrapped);
    int ciphertextOffset = ApiBridge.wrappedKeys().ciphertextOffset(wrapped);
    int ciphertextLength = in.length - ciphertextOffset;
    CachedKek.Subkey subkey = kek.unwrapKey(in, saltOffset);
    Cipher cipher = subkey.take();
    byte[] dek = new byte[ciphertextLength - TAG_LENGTH];
    try {
      init(cipher, Cipher.DECRYPT_MODE, subkey, in, saltOffset, ciphertextOffset, context);
      cipher.doFinal(in, ciphertextOffset, ciphertextLength, dek, 0);
      return dek;
    } catch (GeneralSecurityException e) {
      Arrays.fill(dek, (byte) 0);
      throw failed(wrapped, e);
    } finally {
      subkey.give(cipher);
      subkey.release();
    }
  }

  /**
   * The hit path of an unwrap: as {@link #unwrap}, with {@code subkey}, found by salt and not
   * retained ({@link KekCache#derivedSubkey}); null, and nothing done, if the subkey's cache entry
   * is no longer {@linkplain CachedKek#isCurrent() current} or the subkey was wiped under the
   * operation (the caller then retains the entry and calls {@link #unwrap}).
   *
   * <p>Neither the entry's nor the subkey's count is taken: the cipher taken from the subkey's pool
   * is this operation's alone until it is given back. The entry's current flag is read after the
   * take, which orders the operation before any drop of the entry (the cache flags an entry before
   * it drops it). The subkey may end meanwhile (evicted, or its KEK wiped): its wipe skips a cipher
   * that is out, and the give-back scrubs it; if the wipe overwrote the subkey's bytes before the
   * cipher read them, the cipher was keyed with other bytes and authentication failed, which {@link
   * Lease#isEnded()} (set before the wipe) tells from tampering, so no wiped key ever yields a
   * result or a false tamper report.
   *
   * @throws InvalidCiphertextException if authentication fails under the intact subkey
   */
  static byte[] unwrapIfDerived(CachedKek.Subkey subkey, WrappedKey wrapped, KeyContext context) {
    byte[] in = ApiBridge.wrappedKeys().encoding(wrapped);
    int saltOffset = ApiBridge.wrappedKeys().parametersOffset(wrapped);
    int ciphertextOffset = ApiBridge.wrappedKeys().ciphertextOffset(wrapped);
    int ciphertextLength = in.length - ciphertextOffset;
    Cipher cipher = subkey.take();
    byte[] dek = null;
    try {
      CachedKek kek = subkey.entry();
      if (kek == null || !kek.isCurrent() || subkey.isEnded()) {
        return null;
      }
      dek = new byte[ciphertextLength - TAG_LENGTH];
      init(cipher, Cipher.DECRYPT_MODE, subkey, in, saltOffset, ciphertextOffset, context);
      cipher.doFinal(in, ciphertextOffset, ciphertextLength, dek, 0);
      return dek;
    } catch (GeneralSecurityException e) {
      if (dek != null) {
        Arrays.fill(dek, (byte) 0);
      }
      if (subkey.isEnded()) {
        return null; // wiped under the operation: not the caller's bytes' fault
      }
      throw failed(wrapped, e);
    } finally {
      subkey.give(cipher);
    }
  }

  private static InvalidCiphertextException failed(WrappedKey wrapped, GeneralSecurityException e) {
    if (e instanceof AEADBadTagException) {
      return new InvalidCiphertextException(
          "Wrapped DEK under KEK "
              + wrapped.kek()
              + " failed authentication: the key context differs from the one it was wrapped"
              + " with, or the bytes were altered",
          e);
    }
    return new InvalidCiphertextException(
        "Wrapped DEK under KEK " + wrapped.kek() + " could not be decrypted", e);
  }

  /**
   * Keys {@code cipher} for one wrapped-key encoding: the nonce follows the salt, and the
   * associated data is the header (everything before the ciphertext) then the context. The cipher
   * already holds this subkey's expanded key, so the JDK skips the key expansion.
   */
  private static void init(
      Cipher cipher,
      int mode,
      CachedKek.Subkey subkey,
      byte[] encoding,
      int saltOffset,
      int ciphertextOffset,
      KeyContext context)
      throws GeneralSecurityException {
    cipher.init(
        mode,
        subkey,
        new GCMParameterSpec(
            TAG_BITS, encoding, saltOffset + CachedKek.SALT_LENGTH, CachedKek.NONCE_LENGTH));
    cipher.updateAAD(encoding, 0, ciphertextOffset);
    cipher.updateAAD(ApiBridge.contextEncoding(context));
  }
}
