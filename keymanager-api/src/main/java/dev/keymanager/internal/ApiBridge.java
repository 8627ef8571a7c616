package dev.keymanager.internal;

import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.WrapAlgorithm;
import dev.keymanager.WrappedKey;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Gives keymanager's core module copy-free access to the API's immutable values, so the hot path
 * does not allocate defensive copies. Not part of the public API: the module exports this package
 * to {@code dev.keymanager.core} only, and class-path users must not call it.
 *
 * <p>Each accessor is registered exactly once, by the static initialiser of the class it opens
 * ({@link KeyContext}, {@link WrappedKey}, {@link DataKey}); this class runs those initialisers
 * before it hands anything out. A registration from any other class, or a second one, throws {@link
 * IllegalStateException}, so code on the class path cannot swap in an accessor that would see every
 * data key the key manager creates.
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

    /** Where the algorithm parameters start in the key's encoding. */
    int parametersOffset(WrappedKey key);

    /** Where the ciphertext starts in the key's encoding; everything before it is the header. */
    int ciphertextOffset(WrappedKey key);

    /** The header of every encoding under {@code kek}: everything before the parameters. */
    byte[] header(WrapAlgorithm algorithm, KekRef kek);

    /**
     * A new encoding with the header for {@code kek} written and the parameters and ciphertext left
     * zero, {@code ciphertextLength} bytes for the latter.
     */
    byte[] newEncoding(WrapAlgorithm algorithm, KekRef kek, int ciphertextLength);
  }

  private static final StackWalker WALKER =
      StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);

  private static final AtomicReference<Function<KeyContext, byte[]>> CONTEXT_ENCODING =
      new AtomicReference<>();
  private static final AtomicReference<WrappedKeys> WRAPPED_KEYS = new AtomicReference<>();
  private static final AtomicReference<BiFunction<byte[], WrappedKey, DataKey>> DATA_KEYS =
      new AtomicReference<>();

  static {
    // Each API class registers itself in its static initializer: make sure they have run.
    for (Class<?> c : new Class<?>[] {KeyContext.class, WrappedKey.class, DataKey.class}) {
      try {
        Class.forName(c.getName(), true, c.getClassLoader());
      } catch (ClassNotFoundException e) {
        throw new ExceptionInInitializerError(e);
      }
    }
    // The class whose initialiser started this one registers when this returns, so nothing is
    // checked here: an accessor read before its class registered would be a bug in this module.
  }

  private ApiBridge() {}

  /**
   * Registers {@link KeyContext}'s accessor; only its static initialiser may call this, once.
   *
   * @throws IllegalStateException if called from anywhere else, or a second time
   */
  public static void registerContextEncoding(Function<KeyContext, byte[]> access) {
    register(CONTEXT_ENCODING, access, KeyContext.class);
  }

  /**
   * Registers {@link WrappedKey}'s accessor; only its static initialiser may call this, once.
   *
   * @throws IllegalStateException if called from anywhere else, or a second time
   */
  public static void registerWrappedKeys(WrappedKeys access) {
    register(WRAPPED_KEYS, access, WrappedKey.class);
  }

  /**
   * Registers {@link DataKey}'s accessor; only its static initialiser may call this, once.
   *
   * @throws IllegalStateException if called from anywhere else, or a second time
   */
  public static void registerDataKeys(BiFunction<byte[], WrappedKey, DataKey> access) {
    register(DATA_KEYS, access, DataKey.class);
  }

  private static <T> void register(AtomicReference<T> slot, T access, Class<?> owner) {
    if (access == null) {
      throw new NullPointerException("access");
    }
    // Frame 0 is register, 1 the public register* method, 2 its caller.
    StackWalker.StackFrame caller =
        WALKER.walk(frames -> frames.skip(2).findFirst()).orElseThrow(IllegalStateException::new);
    if (caller.getDeclaringClass() != owner || !"<clinit>".equals(caller.getMethodName())) {
      throw new IllegalStateException(
          "Only "
              + owner.getName()
              + "'s static initialiser may register its bridge accessor; refused a call from "
              + caller.getClassName()
              + "."
              + caller.getMethodName());
    }
    if (!slot.compareAndSet(null, access)) {
      throw new IllegalStateException(owner.getName() + "'s bridge accessor is already registered");
    }
  }

  /** The context's canonical encoding array: read only. */
  public static byte[] contextEncoding(KeyContext context) {
    return CONTEXT_ENCODING.get().apply(context);
  }

  /** Copy-free access to wrapped key encodings. */
  public static WrappedKeys wrappedKeys() {
    return WRAPPED_KEYS.get();
  }

  /** A data key that takes ownership of {@code ownedBytes} (wiped on its close). */
  public static DataKey newDataKey(byte[] ownedBytes, WrappedKey wrappedKey) {
    return DATA_KEYS.get().apply(ownedBytes, wrappedKey);
  }
}
