package dev.keymanager.spi;

import dev.keymanager.KeyContext;
import java.net.URI;

/**
 * Wraps KEK material with one customer master key. Needed only to create a KEK or move it to
 * another CMK; thread-safe.
 */
public interface KmsWrapper {
  /** The CMK this wrapper uses. */
  URI cmkUri();

  /**
   * Encrypts {@code plaintext} with the CMK, binding {@code context} as associated data. Does not
   * keep or modify {@code plaintext}.
   *
   * @throws dev.keymanager.KeyAccessDeniedException if the KMS refuses
   * @throws dev.keymanager.KmsUnavailableException if the KMS cannot be reached or fails
   *     transiently after retries
   */
  byte[] wrap(byte[] plaintext, KeyContext context);
}
