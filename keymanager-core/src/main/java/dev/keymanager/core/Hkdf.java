package dev.keymanager.core;

import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.LentKey;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Mac;

/**
 * HKDF-SHA256 (RFC 5869) producing at most one hash length of output, which is all we derive.
 *
 * <p>Keys reach {@code Mac} as {@link LentKey}s, so no unwipeable copy is left behind; the
 * intermediate pseudorandom key and output block are overwritten in {@code finally}.
 */
final class Hkdf {
  private static final String HMAC = Jca.HMAC_SHA256;
  private static final byte[] SCRUB_KEY = new byte[32];

  private Hkdf() {}

  /** {@code length} (at most 32) bytes of HKDF-SHA256 output; the caller owns and wipes them. */
  static byte[] deriveSha256(byte[] ikm, byte[] salt, byte[] info, int length) {
    return deriveSha256(Jca.DEFAULT, ikm, salt, info, length);
  }

  /** As {@link #deriveSha256(byte[], byte[], byte[], int)}, with {@code jca}'s HMAC. */
  static byte[] deriveSha256(Jca jca, byte[] ikm, byte[] salt, byte[] info, int length) {
    if (length > 32) {
      throw new IllegalArgumentException("at most 32 bytes: " + length);
    }
    byte[] prk = null;
    byte[] block = null;
    Mac mac = null;
    try {
      mac = jca.hmacSha256();
      mac.init(new LentKey(salt.length == 0 ? new byte[32] : salt, HMAC));
      prk = mac.doFinal(ikm);
      mac.init(new LentKey(prk, HMAC));
      mac.update(info);
      mac.update((byte) 1);
      block = mac.doFinal();
      return Arrays.copyOf(block, length);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    } finally {
      if (mac != null) {
        scrubAndRecycle(jca, mac);
      }
      if (prk != null) {
        Arrays.fill(prk, (byte) 0);
      }
      if (block != null) {
        Arrays.fill(block, (byte) 0);
      }
    }
  }

  /**
   * Re-keys {@code mac} with zeros, which replaces the pads it derived from the last key, then
   * computes one MAC under it: the JDK's digest keeps its last output (here the derived subkey) in
   * its state words until it digests again, and a re-key alone does not reset it. Then hands it
   * back to {@code jca} for the next derivation.
   */
  private static void scrubAndRecycle(Jca jca, Mac mac) {
    try {
      mac.init(new LentKey(SCRUB_KEY, HMAC));
      mac.update(SCRUB_KEY);
      byte[] unused = mac.doFinal();
      jca.recycle(mac);
    } catch (GeneralSecurityException e) {
      // not reusable; it becomes garbage
    }
  }
}
