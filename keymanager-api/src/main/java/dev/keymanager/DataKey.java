package dev.keymanager;

import static java.util.Objects.requireNonNull;

import dev.keymanager.internal.ApiBridge;
import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import java.util.Arrays;
import java.util.function.Function;
import javax.crypto.SecretKey;

/**
 * A plaintext data key (DEK) together with its {@link WrappedKey}, owned by the caller until {@link
 * #close()}, which overwrites the key bytes.
 *
 * <p>The bytes never leave the holder by themselves: {@link #useKey(Function)} lends a JCA {@link
 * SecretKey} over them for the length of the call, and {@link #use(Function)} the bytes. Use it in
 * try-with-resources:
 *
 * <pre>{@code
 * try (DataKey dek = keys.generateDek("orders", context)) {
 *   store(dek.wrappedKey().encode());
 *   byte[] ciphertext = dek.useKey(key -> encrypt(key, record));
 * }
 * }</pre>
 *
 * <p>Prefer {@link #useKey(Function)} to building a {@code javax.crypto.spec.SecretKeySpec} from
 * the bytes: a {@code SecretKeySpec} keeps a private copy of the key that nobody can overwrite.
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
    checkOpen();
    return fn.apply(bytes);
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("data key is closed");
    }
  }

  /**
   * Lends a {@link SecretKey} over the key bytes (algorithm {@code "AES"}, format {@code "RAW"}) to
   * {@code fn} and returns its result, with no {@code SecretKeySpec} copy. The lent key is
   * destroyed when {@code fn} returns or throws: {@link SecretKey#isDestroyed()} is then true and
   * {@link SecretKey#getEncoded()} fails, so a key kept past the call is unusable. {@link
   * SecretKey#getEncoded()} returns a copy, as the JCA contract asks; the JDK's AES-GCM and HMAC
   * implementations overwrite that copy once they have expanded the key. The lent key refuses to be
   * serialised.
   *
   * @throws IllegalStateException if this data key is closed
   */
  public <T> T useKey(Function<? super SecretKey, ? extends T> fn) {
    requireNonNull(fn, "fn");
    checkOpen();
    LentSecretKey key = new LentSecretKey(bytes);
    try {
      return fn.apply(key);
    } finally {
      key.destroy();
    }
  }

  /**
   * As {@link #use(Function)} for a function that yields bytes (a ciphertext, a MAC): with a
   * concrete return type, {@code assertThat(dek.useForBytes(...))} in AssertJ is not ambiguous, as
   * {@code assertThat(dek.use(...))} can be.
   *
   * @throws IllegalStateException if this data key is closed
   */
  public byte[] useForBytes(Function<byte[], byte[]> fn) {
    return use(fn);
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

  /** The key {@link #useKey} lends: a view of the holder's bytes, unusable once destroyed. */
  private static final class LentSecretKey implements SecretKey {
    private static final long serialVersionUID = 1L;

    @SuppressWarnings("serial") // never serialised: writeObject refuses
    private final transient byte[] bytes;

    private volatile boolean destroyed;

    LentSecretKey(byte[] ownedElsewhere) {
      this.bytes = ownedElsewhere;
    }

    @Override
    public String getAlgorithm() {
      return "AES";
    }

    @Override
    public String getFormat() {
      return "RAW";
    }

    /**
     * A copy of the key bytes (the JCA contract), which the JDK's ciphers overwrite after use.
     *
     * @throws IllegalStateException once the lending call has returned
     */
    @Override
    public byte[] getEncoded() {
      if (destroyed) {
        throw new IllegalStateException("the lent key was destroyed when useKey returned");
      }
      return bytes.clone();
    }

    /**
     * Makes this key unusable; the bytes belong to the data key, which overwrites them on close.
     */
    @Override
    public void destroy() {
      destroyed = true;
    }

    @Override
    public boolean isDestroyed() {
      return destroyed;
    }

    @Override
    public String toString() {
      return "SecretKey[AES, "
          + bytes.length
          + " bytes, redacted"
          + (destroyed ? ", destroyed" : "")
          + "]";
    }

    private void writeObject(ObjectOutputStream out) throws NotSerializableException {
      throw new NotSerializableException("key material is never serialised");
    }
  }
}
