package dev.keymanager;

/**
 * The KMS could not be reached or did not answer in time: a timeout, throttling, a server error or
 * an I/O failure, after the provider's own bounded retries.
 *
 * <p>KEKs already in the cache keep serving until their hard TTL; past it, operations that need the
 * KMS fail with this exception until the KMS answers again.
 */
public final class KmsUnavailableException extends KeyManagerException {
  private static final long serialVersionUID = 1L;

  /** A failure with {@code message}, which must not contain key material. */
  public KmsUnavailableException(String message) {
    super(message, null);
  }

  /**
   * A failure with {@code message}, which must not contain key material, caused by {@code cause}.
   */
  public KmsUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }

  /** Always {@code true}: the KMS may answer a later call. */
  @Override
  public boolean isRetryable() {
    return true;
  }
}
