package dev.keymanager;

import static java.util.Objects.requireNonNull;

import dev.keymanager.internal.ApiBridge;
import java.util.Arrays;
import java.util.function.Function;

/**
 * A plaintext data key (DEK) together with its {@link WrappedKey}, owned by the caller until {@link
 * #close()}, which overwrites the key bytes.
 *
 * <p>The bytes never leave the holder by themselves: {@link #use(Function)} lends them to a
 * function for the length of the call. Use it in try-with-resources:
 *
 * <pre>{@code
 * try (DataKey dek = keys.generateDek("orders", context)) {
 *   store(dek.wrappedKey().encode());
 *   byte[] ciphertext = dek.use(bytes -> encrypt(bytes, record));
 * }
 * }</pre>
 *
 * <p>A data key is meant for one thread at a time: {@link #use(Function)} and {@link #close()} on
 * the same instance from two threads at once may lend out bytes that are being overwritten. There
 * is no {@code equals}; {@link #toString()} shows the length and the wrapped key's header only.
 */
public final class DataKey implements AutoCloseable {
  static {
    ApiBridge.registerDataKeys(DataKey::new);
  }

  private final byte[] bytes; // owned, never escapes except through use()
  private final WrappedKey wrappedKey;
  private boolean closed;

  private DataKey(byte[] ownedBytes, WrappedKey wrappedKey) {
    this.bytes = requireNonNull(ownedBytes, "bytes");
    this.wrappedKey = requireNonNull(wrappedKey, "wrappedKey");
  }

  /** The DEK wrapped under its KEK, to be stored beside the data it protects. */
  public WrappedKey wrappedKey() {
    return wrappedKey;
  }

  /** The key length in bytes. */
  public int length() {
    return bytes.length;
  }

  /**
   * Lends the key bytes to {@code fn} and returns its result. The array is the holder's own: do not
   * keep it or modify it after {@code fn} returns; copy it if you must (and wipe the copy).
   *
   * @throws IllegalStateException if this data key is closed
   */
  public <T> T use(Function<byte[], T> fn) {
    requireNonNull(fn, "fn");
    if (closed) {
      throw new IllegalStateException("data key is closed");
    }
    return fn.apply(bytes);
  }

  /** Overwrites the key bytes; later calls to {@link #use(Function)} fail. Idempotent. */
  @Override
  public void close() {
    closed = true;
    Arrays.fill(bytes, (byte) 0);
  }

  @Override
  public String toString() {
    return "DataKey[" + bytes.length + " bytes, redacted, " + wrappedKey + "]";
  }
}
