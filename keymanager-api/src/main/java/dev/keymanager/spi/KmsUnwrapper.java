package dev.keymanager.spi;

import dev.keymanager.KeyContext;
import java.net.URI;

/**
 * Unwraps KEK material with one customer master key. Every read path of a key manager needs only
 * this; a CMK that grants unwrap rights alone is enough to use imported KEKs.
 *
 * <p>Implementations are thread-safe and make one KMS request per call (plus the provider's own
 * bounded retries). They must pin the CMK: never let the ciphertext choose which key decrypts it.
 */
public interface KmsUnwrapper {
  /** The CMK this unwrapper uses. */
  URI cmkUri();

  /**
   * Decrypts {@code ciphertext} with the CMK, authenticating {@code context}. The caller owns the
   * returned array and overwrites it when done.
   *
   * @throws dev.keymanager.KeyAccessDeniedException if the KMS refuses: key disabled, pending
   *     deletion, deleted, access denied
   * @throws dev.keymanager.KmsUnavailableException if the KMS cannot be reached or fails
   *     transiently after retries
   * @throws dev.keymanager.InvalidCiphertextException if the ciphertext or context do not
   *     authenticate under this CMK
   */
  byte[] unwrap(byte[] ciphertext, KeyContext context);
}
