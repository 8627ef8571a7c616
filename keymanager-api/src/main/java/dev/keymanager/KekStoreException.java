package dev.keymanager;

import static java.util.Objects.requireNonNull;

/**
 * A {@link dev.keymanager.spi.KekStore} could not read or write a KEK record: an I/O or database
 * failure, or a record that does not parse.
 *
 * <p>Made by one factory per kind of failure: {@link #retryable} (the medium failed and nothing was
 * written), {@link #mayHaveBeenApplied} (the medium failed while a write was in flight, so the
 * write may or may not have taken effect; retryable) and {@link #corrupt} (a stored record is
 * invalid and will stay so; not retryable) and {@link #permanent} (a refusal that lasts, such as
 * bad credentials; not retryable).
 */
public final class KekStoreException extends KeyManagerException {
  private static final long serialVersionUID = 1L;

  private final boolean retryable;
  private final boolean mayHaveBeenApplied;

  private KekStoreException(
      String message, boolean retryable, boolean mayHaveBeenApplied, Throwable cause) {
    super(requireNonNull(message, "message"), cause);
    this.retryable = retryable;
    this.mayHaveBeenApplied = mayHaveBeenApplied;
  }

  /**
   * The medium failed (I/O, a refused or lost connection, a timeout) and nothing was written; the
   * same call may succeed later.
   *
   * @param message what failed, for which KEK; never key material
   * @param cause the medium's failure, or {@code null}
   */
  public static KekStoreException retryable(String message, Throwable cause) {
    return new KekStoreException(message, true, false, cause);
  }

  /**
   * The medium failed while a write was in flight: it may or may not have been applied. Retryable;
   * keymanager's lifecycle calls re-read the records before they write again.
   *
   * @param message what failed, for which KEK; never key material
   * @param cause the medium's failure, or {@code null}
   */
  public static KekStoreException mayHaveBeenApplied(String message, Throwable cause) {
    return new KekStoreException(message, true, true, cause);
  }

  /**
   * A stored record is invalid (it does not parse, fails its checksum, or sits where another id
   * belongs) and will stay so until restored; not retryable.
   *
   * @param message what is wrong, for which record; never key material
   * @param cause the parse failure, or {@code null}
   */
  public static KekStoreException corrupt(String message, Throwable cause) {
    return new KekStoreException(message, false, false, cause);
  }

  /**
   * The store refused the call for a reason that lasts until someone acts (refused credentials, a
   * missing table, values the database rejects); not retryable.
   *
   * @param message what failed and what to do; never key material
   * @param cause the store's failure, or {@code null}
   */
  public static KekStoreException permanent(String message, Throwable cause) {
    return new KekStoreException(message, false, false, cause);
  }

  /**
   * A failure of the same kind as {@code other}, with another message and cause; for passing one
   * failure on to several callers.
   */
  public static KekStoreException sameKindAs(
      KekStoreException other, String message, Throwable cause) {
    return new KekStoreException(message, other.retryable, other.mayHaveBeenApplied, cause);
  }

  /** Whether the failed call was a write that may have taken effect although it failed. */
  public boolean writeMayHaveBeenApplied() {
    return mayHaveBeenApplied;
  }

  @Override
  public boolean isRetryable() {
    return retryable;
  }
}
