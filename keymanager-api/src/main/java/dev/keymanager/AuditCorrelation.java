package dev.keymanager;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * The caller's correlation id (a request id, a trace id, a change ticket) that key managers put in
 * every {@link dev.keymanager.spi.AuditEvent} they emit on this thread, so an auditor can tie a KMS
 * call or a lifecycle step back to the request that caused it.
 *
 * <pre>{@code
 * try (AuditCorrelation.Scope scope = AuditCorrelation.open("change-4711")) {
 *   keys.admin().rotateKek("tenant-42");      // its audit events carry "change-4711"
 * }
 * }</pre>
 *
 * <p>The id is per thread (a {@link ThreadLocal}): work a key manager does on its own threads, such
 * as background cache refreshes, carries none. Scopes nest; closing one restores the id that was
 * current when it opened. An id is 1 to {@value #MAX_LENGTH} characters with no control characters,
 * so it cannot forge lines in a log.
 *
 * <p>While a key manager makes a KMS call or runs a lifecycle step on a thread with an id, the id
 * is also in the SLF4J MDC under {@value #MDC_KEY} (and the previous value is restored after), so
 * lines that the KMS SDK, the store or an audit listener log meanwhile carry it: add {@code
 * %X{keymanager.correlation}} to a logging pattern.
 */
public final class AuditCorrelation {
  /** The longest correlation id, in characters. */
  public static final int MAX_LENGTH = 128;

  /** The SLF4J MDC key holding the id for the length of each KMS call and lifecycle step. */
  public static final String MDC_KEY = "keymanager.correlation";

  private static final ThreadLocal<String> CURRENT = new ThreadLocal<>();

  private AuditCorrelation() {}

  /**
   * Makes {@code correlationId} this thread's id until the returned scope closes.
   *
   * @throws IllegalArgumentException if the id is empty, longer than {@value #MAX_LENGTH}
   *     characters or holds a control character
   */
  public static Scope open(String correlationId) {
    requireNonNull(correlationId, "correlationId");
    if (correlationId.isEmpty() || correlationId.length() > MAX_LENGTH) {
      throw new IllegalArgumentException(
          "correlation id must be 1 to " + MAX_LENGTH + " characters: " + correlationId.length());
    }
    for (int i = 0; i < correlationId.length(); i++) {
      if (Character.isISOControl(correlationId.charAt(i))) {
        throw new IllegalArgumentException("correlation id holds a control character at " + i);
      }
    }
    Scope scope = new Scope(CURRENT.get(), Thread.currentThread());
    CURRENT.set(correlationId);
    return scope;
  }

  /** This thread's correlation id, if a scope is open. */
  public static Optional<String> current() {
    return Optional.ofNullable(CURRENT.get());
  }

  /** An open correlation id; {@link #close()} restores the previous one. */
  public static final class Scope implements AutoCloseable {
    private final String previous;
    private final Thread owner;
    private boolean closed;

    private Scope(String previous, Thread owner) {
      this.previous = previous;
      this.owner = owner;
    }

    /**
     * Restores the id that was current when this scope opened. Idempotent.
     *
     * @throws IllegalStateException if called from another thread than the one that opened it
     */
    @Override
    public void close() {
      if (Thread.currentThread() != owner) {
        throw new IllegalStateException("a correlation scope must be closed by its own thread");
      }
      if (!closed) {
        closed = true;
        if (previous == null) {
          CURRENT.remove();
        } else {
          CURRENT.set(previous);
        }
      }
    }
  }
}
