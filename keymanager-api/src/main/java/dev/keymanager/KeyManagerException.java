package dev.keymanager;

/**
 * The one unchecked type of every failure keymanager reports. Each subclass names one row of the
 * failure model, and {@link #isRetryable()} says whether the same call can succeed later with no
 * change by the caller.
 *
 * <p>Messages name the KEK id and version or the CMK URI involved and say what to do; they never
 * contain key material, plaintext or key-context values.
 */
public abstract sealed class KeyManagerException extends RuntimeException
    permits KeyAccessDeniedException,
        KmsUnavailableException,
        InvalidCiphertextException,
        KekStateException,
        KeyManagerConfigException,
        KekStoreException {
  private static final long serialVersionUID = 1L;

  KeyManagerException(String message, Throwable cause) {
    super(message, cause);
  }

  /** Whether the same call may succeed later with no change by the caller. */
  public abstract boolean isRetryable();
}
