package dev.keymanager;

import java.time.Duration;
import java.util.Optional;

/**
 * The KMS could not be reached or did not answer in time: a timeout, throttling, a server error or
 * an I/O failure, after the provider's own bounded retries.
 *
 * <p>KEKs already in the cache keep serving until their hard TTL; past it, operations that need the
 * KMS fail with this exception until the KMS answers again.
 *
 * <p>A failure {@linkplain #isThrottled() marked as throttling} says the KMS refused the call for
 * its request quota (AWS {@code ThrottlingException}, Cloud KMS {@code RESOURCE_EXHAUSTED}, Key
 * Vault HTTP 429), possibly with the vendor's hint of when to try again ({@link #retryAfter()}). A
 * key manager that sees one backs off all its KMS calls together rather than retrying each KEK.
 */
public final class KmsUnavailableException extends KeyManagerException {
  private static final long serialVersionUID = 1L;

  private final boolean throttled;
  private final Duration retryAfter; // null: no hint

  /** A failure with {@code message}, which must not contain key material. */
  public KmsUnavailableException(String message) {
    this(message, null, false, null);
  }

  /**
   * A failure with {@code message}, which must not contain key material, caused by {@code cause}.
   */
  public KmsUnavailableException(String message, Throwable cause) {
    this(message, cause, false, null);
  }

  private KmsUnavailableException(
      String message, Throwable cause, boolean throttled, Duration retryAfter) {
    super(message, cause);
    this.throttled = throttled;
    this.retryAfter = retryAfter;
  }

  /**
   * A failure because the KMS throttled the call (its request quota is exhausted), with {@code
   * message}, which must not contain key material.
   *
   * @param retryAfter when the KMS asked to be called again, or {@code null} if it gave no hint
   * @param cause the vendor's exception, or {@code null}
   * @throws IllegalArgumentException if {@code retryAfter} is negative
   */
  public static KmsUnavailableException throttled(
      String message, Duration retryAfter, Throwable cause) {
    if (retryAfter != null && retryAfter.isNegative()) {
      throw new IllegalArgumentException("retryAfter must not be negative: " + retryAfter);
    }
    return new KmsUnavailableException(message, cause, true, retryAfter);
  }

  /** Whether the KMS refused the call for its request quota (throttling). */
  public boolean isThrottled() {
    return throttled;
  }

  /** When a throttling KMS asked to be called again, if it said. */
  public Optional<Duration> retryAfter() {
    return Optional.ofNullable(retryAfter);
  }

  /** Always {@code true}: the KMS may answer a later call. */
  @Override
  public boolean isRetryable() {
    return true;
  }
}
