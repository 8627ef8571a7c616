package dev.keymanager;

/**
 * A wrapped key or ciphertext is malformed, truncated, tampered with, of an unknown format version,
 * or presented with a key context or KEK other than the one it was made with.
 *
 * <p>Never wrong plaintext: authentication fails closed with this exception. The message says what
 * was wrong ("unknown format version 7", "authentication failed") and never includes key bytes.
 */
public final class InvalidCiphertextException extends KeyManagerException {
  private static final long serialVersionUID = 1L;

  /** A failure with {@code message}, which must not contain key material. */
  public InvalidCiphertextException(String message) {
    super(message, null);
  }

  /**
   * A failure with {@code message}, which must not contain key material, caused by {@code cause}.
   */
  public InvalidCiphertextException(String message, Throwable cause) {
    super(message, cause);
  }

  /** Always {@code false}: the same bytes will fail the same way. */
  @Override
  public boolean isRetryable() {
    return false;
  }
}
