package dev.keymanager;

/**
 * The KMS refused to use the customer master key: it is disabled, pending deletion or deleted,
 * access to it was revoked, or it does not exist.
 *
 * <p>This is how a customer's revocation reaches the caller: once the KEK cache's hard TTL has
 * passed since the last successful unwrap, every operation under a revoked CMK fails with it.
 */
public final class KeyAccessDeniedException extends KeyManagerException {
  private static final long serialVersionUID = 1L;

  /** A failure with {@code message}, which must not contain key material. */
  public KeyAccessDeniedException(String message) {
    super(message, null);
  }

  /**
   * A failure with {@code message}, which must not contain key material, caused by {@code cause}.
   */
  public KeyAccessDeniedException(String message, Throwable cause) {
    super(message, cause);
  }

  /** Always {@code false}: access stays denied until the customer changes the key or its policy. */
  @Override
  public boolean isRetryable() {
    return false;
  }
}
