package dev.keymanager;

import java.util.Optional;

/** How a DEK is wrapped under a KEK; recorded by id in every {@link WrappedKey}. */
public enum WrapAlgorithm {
  /**
   * AES-256-GCM under a subkey derived from the KEK with HKDF-SHA256 and a random 256-bit salt.
   * Parameters: the 32-byte salt, then the 12-byte nonce. The ciphertext ends in a 16-byte tag.
   */
  AES256_GCM_HKDF_SHA256(1, 32 + 12, 16);

  private final int id;
  private final int parametersLength;
  private final int tagLength;

  WrapAlgorithm(int id, int parametersLength, int tagLength) {
    this.id = id;
    this.parametersLength = parametersLength;
    this.tagLength = tagLength;
  }

  /** The byte that names this algorithm in the encoding. */
  public int id() {
    return id;
  }

  /** The length of the algorithm's parameters (salt, nonce) in the encoding. */
  public int parametersLength() {
    return parametersLength;
  }

  /** The length of the authentication tag at the end of the ciphertext. */
  public int tagLength() {
    return tagLength;
  }

  /** The algorithm with this id, if known. */
  public static Optional<WrapAlgorithm> byId(int id) {
    for (WrapAlgorithm a : values()) {
      if (a.id == id) {
        return Optional.of(a);
      }
    }
    return Optional.empty();
  }
}
