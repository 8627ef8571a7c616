package dev.keymanager;

/**
 * The key manager or one of its providers is misconfigured: an unknown URI scheme, a malformed CMK
 * URI, two providers claiming one scheme, an unusable local master key file.
 *
 * <p>Raised at build time where it can be detected then, otherwise at the first use.
 */
public final class KeyManagerConfigException extends KeyManagerException {
  private static final long serialVersionUID = 1L;

  /** A failure with {@code message}, which must not contain key material. */
  public KeyManagerConfigException(String message) {
    super(message, null);
  }

  /**
   * A failure with {@code message}, which must not contain key material, caused by {@code cause}.
   */
  public KeyManagerConfigException(String message, Throwable cause) {
    super(message, cause);
  }

  /** Always {@code false}: configuration must change first. */
  @Override
  public boolean isRetryable() {
    return false;
  }
}
