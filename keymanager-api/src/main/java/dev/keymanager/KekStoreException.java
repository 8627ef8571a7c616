package dev.keymanager;

/**
 * A {@link dev.keymanager.spi.KekStore} could not read or write a KEK record: an I/O or database
 * failure, or a record that does not parse.
 *
 * <p>{@link #isRetryable()} is {@code true} for failures of the medium (I/O, a lost connection) and
 * {@code false} for records that are corrupt and will stay so.
 */
public final class KekStoreException extends KeyManagerException {
  private static final long serialVersionUID = 1L;

  private final boolean retryable;

  /**
   * A store failure with {@code message}, which must not contain key material.
   *
   * @param retryable whether the same call may succeed later (an I/O hiccup) or not (corruption)
   */
  public KekStoreException(String message, boolean retryable, Throwable cause) {
    super(message, cause);
    this.retryable = retryable;
  }

  @Override
  public boolean isRetryable() {
    return retryable;
  }
}
