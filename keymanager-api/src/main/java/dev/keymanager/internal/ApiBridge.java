package dev.keymanager.internal;

import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.WrapAlgorithm;
import dev.keymanager.WrappedKey;
import java.util.function.Function;

/**
 * Gives keymanager's core module copy-free access to the API's immutable values, so the hot path
 * does not allocate defensive copies. Not part of the public API: the module exports this package
 * to {@code dev.keymanager.core} only, and class-path users must not call it.
 */
public final class ApiBridge {
  /** Copy-free access to {@link WrappedKey} encodings. */
  public interface WrappedKeys {
    /** The wrapped key's own encoding array: read only. */
    byte[] encoding(WrappedKey key);

    /** A wrapped key that owns {@code encoded} without copying it; parses as {@code decode}. */
    WrappedKey adopt(byte[] encoded);

    /**
     * A wrapped key that owns {@code encoded}, which this process just built: it starts with {@link
     * #header(WrapAlgorithm, KekRef) header(algorithm, kek)}, so nothing is parsed.
     */
    WrappedKey adopt(byte[] encoded, WrapAlgorithm algorithm, KekRef kek);

    /** The header of every encoding under {@code kek}: everything before the parameters. */
    byte[] header(WrapAlgorithm algorithm, KekRef kek);

    /**
     * A new encoding with the header for {@code kek} written and the parameters and ciphertext left
     * zero, {@code ciphertextLength} bytes for the latter.
     */
    byte[] newEncoding(WrapAlgorithm algorithm, KekRef kek, int ciphertextLength);
  }

  private static volatile Function<KeyContext, byte[]> contextEncoding;
  private static volatile WrappedKeys wrappedKeys;
  private static volatile DataKeys dataKeys;

  /** Creates data keys and reads their liveness check. */
  public interface DataKeys {
    /** A data key that owns {@code ownedBytes} and checks {@code liveness} on every use. */
    DataKey create(byte[] ownedBytes, WrappedKey wrappedKey, KekLiveness liveness);

    /** The liveness check of {@code key}. */
    KekLiveness liveness(DataKey key);
  }

  static {
    // Each API class registers itself in its static initializer: make sure they have run.
    for (Class<?> c : new Class<?>[] {KeyContext.class, WrappedKey.class, DataKey.class}) {
      try {
        Class.forName(c.getName(), true, c.getClassLoader());
      } catch (ClassNotFoundException e) {
        throw new ExceptionInInitializerError(e);
      }
    }
  }

  private ApiBridge() {}

  /** Called once by {@link KeyContext}. */
  public static void registerContextEncoding(Function<KeyContext, byte[]> access) {
    contextEncoding = access;
  }

  /** Called once by {@link WrappedKey}. */
  public static void registerWrappedKeys(WrappedKeys access) {
    wrappedKeys = access;
  }

  /** Called once by {@link DataKey}. */
  public static void registerDataKeys(DataKeys access) {
    dataKeys = access;
  }

  /** The context's canonical encoding array: read only. */
  public static byte[] contextEncoding(KeyContext context) {
    return contextEncoding.apply(context);
  }

  /** Copy-free access to wrapped key encodings. */
  public static WrappedKeys wrappedKeys() {
    return wrappedKeys;
  }

  /**
   * A data key that takes ownership of {@code ownedBytes} (wiped on its close) and checks no KEK:
   * for tests.
   */
  public static DataKey newDataKey(byte[] ownedBytes, WrappedKey wrappedKey) {
    return dataKeys.create(ownedBytes, wrappedKey, KekLiveness.NONE);
  }

  /**
   * A data key that takes ownership of {@code ownedBytes} (wiped on its close or once {@code
   * liveness} fails) and checks {@code liveness} on every use.
   */
  public static DataKey newDataKey(byte[] ownedBytes, WrappedKey wrappedKey, KekLiveness liveness) {
    return dataKeys.create(ownedBytes, wrappedKey, liveness);
  }

  /**
   * The liveness check of {@code key}, for streams and channels that keep using the DEK's KEK after
   * the data key itself is closed.
   */
  public static KekLiveness liveness(DataKey key) {
    return dataKeys.liveness(key);
  }
}
