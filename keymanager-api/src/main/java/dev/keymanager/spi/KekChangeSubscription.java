package dev.keymanager.spi;

/**
 * A running subscription to a {@link KekStore}'s change feed; {@link #close()} ends it.
 *
 * <p>Thread-safe. After {@link #close()} returns, the listener is called no more.
 */
public interface KekChangeSubscription extends AutoCloseable {
  /** Ends the subscription and releases what it holds (a connection, a thread). Idempotent. */
  @Override
  void close();
}
