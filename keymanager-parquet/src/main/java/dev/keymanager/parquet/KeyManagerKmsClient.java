package dev.keymanager.parquet;

import static java.util.Objects.requireNonNull;

import dev.keymanager.DataKey;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerException;
import dev.keymanager.WrappedKey;
import java.util.Base64;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.KeyAccessDeniedException;
import org.apache.parquet.crypto.ParquetCryptoRuntimeException;
import org.apache.parquet.crypto.keytools.KeyToolkit;
import org.apache.parquet.crypto.keytools.KmsClient;
import org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory;

/**
 * A parquet-java key-tools {@link KmsClient} whose master keys are keymanager KEK ids: Parquet's
 * data keys are wrapped and unwrapped by a {@link KeyManager} under the named KEK, with local
 * AES-GCM and no network call while the KEK is cached. The KMS is called only when the key manager
 * must unwrap a KEK: once per KEK per hard TTL, however many files and columns.
 *
 * <p>Parquet instantiates this class by name ({@code parquet.encryption.kms.client.class}) and
 * passes it {@code parquet.encryption.kms.instance.id} as the KMS instance id: that is the name the
 * application {@linkplain KeyManagerRegistry#register registered} its key manager under. The name
 * is looked up on every call, so a key manager replaced under the same name takes effect at once.
 *
 * <p><b>Single wrapping only.</b> In Parquet's default double-wrapping mode, Parquet makes KEKs of
 * its own and caches them in plaintext, unwiped, for {@code
 * parquet.encryption.cache.lifetime.seconds} (600 s by default), which would replace the key
 * manager's revocation bound with Parquet's; keymanager already is the KEK layer. {@link
 * #initialize} therefore fails unless {@code parquet.encryption.double.wrapping} is {@code false}.
 * In single wrapping Parquet caches only this client object (no key bytes: it holds a name); each
 * file it opens unwraps its data keys through the key manager, so revoking a CMK stops new reads of
 * its columns within the key manager's hard TTL. A reader already open keeps the data keys Parquet
 * unwrapped for it until it is closed.
 *
 * <p>Each wrapped key is bound to the {@link KeyContext} {@code parquet.master-key-id=<KEK id>}:
 * Parquet's {@code KmsClient} interface passes only the key and the master key id, not the file or
 * column, so those cannot be bound. The wrapped key is Base64 of {@link WrappedKey#encode()}.
 *
 * <p>Failures are what Parquet expects: a denied CMK or a KEK that may not be used (disabled,
 * destroyed, unknown) becomes Parquet's {@link KeyAccessDeniedException}, so a reader can still
 * read the columns it has keys for; any other failure becomes {@link
 * ParquetCryptoRuntimeException}. The keymanager exception is always the cause, so a transient KMS
 * failure stays recognisable ({@link KeyManagerException#isRetryable()}). Messages never hold key
 * bytes. Thread-safe.
 */
public final class KeyManagerKmsClient implements KmsClient {
  /** The {@link KeyContext} key that names the master key (KEK id) a data key is wrapped under. */
  public static final String CONTEXT_MASTER_KEY_ID = "parquet.master-key-id";

  private volatile String keyManagerName;

  /** Called by Parquet, which creates clients by class name; {@link #initialize} follows. */
  public KeyManagerKmsClient() {}

  /**
   * Sets in {@code conf} what every user of this client sets: Parquet's properties-driven crypto
   * factory, this client class, single wrapping, and {@code keyManagerName} as the KMS instance id.
   * The footer and column keys ({@code parquet.encryption.footer.key}, {@code
   * parquet.encryption.column.keys}) are left to the caller.
   */
  public static void configure(Configuration conf, String keyManagerName) {
    requireNonNull(conf, "conf");
    requireNonNull(keyManagerName, "keyManagerName");
    conf.set("parquet.crypto.factory.class", PropertiesDrivenCryptoFactory.class.getName());
    conf.set(KeyToolkit.KMS_CLIENT_CLASS_PROPERTY_NAME, KeyManagerKmsClient.class.getName());
    conf.set(KeyToolkit.KMS_INSTANCE_ID_PROPERTY_NAME, keyManagerName);
    conf.setBoolean(KeyToolkit.DOUBLE_WRAPPING_PROPERTY_NAME, false);
  }

  /**
   * Checks the configuration and that a key manager is registered under {@code kmsInstanceId}, or
   * builds and registers one from the configuration's {@code keymanager.*} properties ({@link
   * KeyManagerConfiguration}) if none is.
   *
   * @throws ParquetCryptoRuntimeException if double wrapping is on (Parquet's default: set {@code
   *     parquet.encryption.double.wrapping=false}) or no key manager is registered under that name
   */
  @Override
  public void initialize(
      Configuration configuration,
      String kmsInstanceId,
      String kmsInstanceUrl,
      String accessToken) {
    requireNonNull(configuration, "configuration");
    requireNonNull(kmsInstanceId, "kmsInstanceId");
    if (configuration.getBoolean(
        KeyToolkit.DOUBLE_WRAPPING_PROPERTY_NAME, KeyToolkit.DOUBLE_WRAPPING_DEFAULT)) {
      throw new ParquetCryptoRuntimeException(
          KeyManagerKmsClient.class.getSimpleName()
              + " needs single wrapping: set "
              + KeyToolkit.DOUBLE_WRAPPING_PROPERTY_NAME
              + "=false (double wrapping would cache Parquet's own KEKs in plaintext for "
              + KeyToolkit.CACHE_LIFETIME_PROPERTY_NAME
              + ", beyond the key manager's revocation bound)");
    }
    this.keyManagerName = kmsInstanceId;
    try {
      KeyManagerRegistry.lookupOrBuild(kmsInstanceId, configuration);
    } catch (KeyManagerException e) {
      throw new ParquetCryptoRuntimeException(
          "keymanager could not build the key manager '"
              + kmsInstanceId
              + "' from its configuration properties: "
              + e.getMessage(),
          e);
    }
    keys(); // fail at once, before Parquet caches this client
  }

  /**
   * Wraps Parquet's data key under the primary version of the KEK {@code masterKeyIdentifier}.
   *
   * @throws KeyAccessDeniedException if the KEK's CMK denies access, or the KEK does not exist or
   *     is not enabled
   * @throws ParquetCryptoRuntimeException on any other failure, the keymanager exception as cause
   */
  @Override
  public String wrapKey(byte[] keyBytes, String masterKeyIdentifier) {
    requireNonNull(keyBytes, "keyBytes");
    requireNonNull(masterKeyIdentifier, "masterKeyIdentifier");
    try {
      WrappedKey wrapped =
          keys().wrapDek(masterKeyIdentifier, keyBytes, context(masterKeyIdentifier));
      return Base64.getEncoder().encodeToString(wrapped.encode());
    } catch (KeyManagerException e) {
      throw translate("wrap a data key under KEK " + masterKeyIdentifier, e);
    } catch (IllegalArgumentException e) {
      throw new ParquetCryptoRuntimeException(
          "cannot wrap a data key under KEK '" + masterKeyIdentifier + "': " + e.getMessage(), e);
    }
  }

  /**
   * Unwraps a data key that {@link #wrapKey} wrapped under the KEK {@code masterKeyIdentifier}.
   * Returns a fresh copy that Parquet owns; the key manager's copy is overwritten.
   *
   * @throws KeyAccessDeniedException if the KEK's CMK denies access, or the KEK version does not
   *     exist or is not enabled
   * @throws ParquetCryptoRuntimeException if the wrapped key is malformed, was tampered with, names
   *     another KEK than {@code masterKeyIdentifier}, or on any other failure (cause kept)
   */
  @Override
  public byte[] unwrapKey(String wrappedKey, String masterKeyIdentifier) {
    requireNonNull(wrappedKey, "wrappedKey");
    requireNonNull(masterKeyIdentifier, "masterKeyIdentifier");
    byte[] encoded;
    try {
      encoded = Base64.getDecoder().decode(wrappedKey);
    } catch (IllegalArgumentException e) {
      throw new ParquetCryptoRuntimeException(
          "wrapped data key for master key '" + masterKeyIdentifier + "' is not Base64", e);
    }
    try {
      WrappedKey wrapped = WrappedKey.decode(encoded);
      if (!wrapped.kek().id().equals(masterKeyIdentifier)) {
        throw new ParquetCryptoRuntimeException(
            "wrapped data key names KEK '"
                + wrapped.kek().id()
                + "' but Parquet's key material names master key '"
                + masterKeyIdentifier
                + "': the key material was altered");
      }
      try (DataKey dek = keys().unwrapDek(wrapped, context(masterKeyIdentifier))) {
        return dek.use(byte[]::clone);
      }
    } catch (KeyManagerException e) {
      throw translate("unwrap a data key under KEK " + masterKeyIdentifier, e);
    }
  }

  /** The context every data key wrapped for master key {@code masterKeyId} is bound to. */
  static KeyContext context(String masterKeyId) {
    return KeyContext.of(Map.of(CONTEXT_MASTER_KEY_ID, masterKeyId));
  }

  private KeyManager keys() {
    String name = keyManagerName;
    if (name == null) {
      throw new ParquetCryptoRuntimeException(
          KeyManagerKmsClient.class.getSimpleName() + " used before initialize");
    }
    return KeyManagerRegistry.lookup(name)
        .orElseThrow(
            () ->
                new ParquetCryptoRuntimeException(
                    "no key manager is registered under the name '"
                        + name
                        + "' ("
                        + KeyToolkit.KMS_INSTANCE_ID_PROPERTY_NAME
                        + "): call KeyManagerRegistry.register(\""
                        + name
                        + "\", keys) before Parquet reads or writes, or set "
                        + KeyManagerConfiguration.STORE_FILE_DIR
                        + " and the other keymanager.* properties (KeyManagerConfiguration)"));
  }

  private static ParquetCryptoRuntimeException translate(String what, KeyManagerException e) {
    String message = "keymanager could not " + what + ": " + e.getMessage();
    if (e instanceof dev.keymanager.KeyAccessDeniedException || e instanceof KekStateException) {
      return new KeyAccessDeniedException(message, e);
    }
    return new ParquetCryptoRuntimeException(message + (e.isRetryable() ? " (retryable)" : ""), e);
  }

  @Override
  public String toString() {
    return "KeyManagerKmsClient[" + keyManagerName + "]";
  }
}
