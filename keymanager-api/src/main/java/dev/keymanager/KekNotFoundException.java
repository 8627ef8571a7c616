package dev.keymanager;

import java.util.OptionalInt;

/**
 * The KEK id, or the KEK version, that a call named does not exist in the store. A {@link
 * KekStateException} whose {@link #state()} is empty, so code that catches state failures keeps
 * catching it; not retryable (create or import the KEK first).
 *
 * <p>Raised by {@code generateDek}, {@code wrapDek} and every administration call. A wrapped key
 * that names an absent KEK version is corrupt or from another store, and fails its unwrap as an
 * {@link InvalidCiphertextException} instead.
 */
public final class KekNotFoundException extends KekStateException {
  private static final long serialVersionUID = 1L;

  private final int version; // 0 when the whole KEK is missing

  /**
   * No KEK with id {@code kekId} exists.
   *
   * @param message says what was attempted and that the KEK does not exist
   */
  public KekNotFoundException(String kekId, String message) {
    this(kekId, 0, message, null);
  }

  /**
   * The KEK exists but not at {@code version}, or (with {@code version} 0) the KEK does not exist.
   *
   * @param message says what was attempted and what does not exist
   * @param cause the failure behind this one, such as the same failure seen by another thread
   */
  public KekNotFoundException(String kekId, int version, String message, Throwable cause) {
    super(kekId, null, message, cause);
    if (version < 0) {
      throw new IllegalArgumentException("version must be >= 0: " + version);
    }
    this.version = version;
  }

  /** The missing version, when the KEK exists but not that version; empty if the KEK is missing. */
  public OptionalInt version() {
    return version == 0 ? OptionalInt.empty() : OptionalInt.of(version);
  }
}
