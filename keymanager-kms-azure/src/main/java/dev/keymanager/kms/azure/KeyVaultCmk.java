package dev.keymanager.kms.azure;

import static java.util.Objects.requireNonNull;

import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.models.KeyWrapAlgorithm;
import com.azure.security.keyvault.keys.cryptography.models.WrapResult;
import com.azure.security.keyvault.keys.models.KeyProperties;
import com.azure.security.keyvault.keys.models.KeyType;
import com.azure.security.keyvault.keys.models.KeyVaultKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.kms.azure.ErrorMapping.Operation;
import dev.keymanager.kms.azure.WrappedBlob.Algorithm;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.security.SecureRandom;
import java.time.OffsetDateTime;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Wraps and unwraps with one Key Vault key, named by one {@code azure-kv} URI. Holds one {@code
 * CryptographyClient} per key version it has used. Thread-safe.
 */
final class KeyVaultCmk implements KmsUnwrapper, KmsWrapper {
  private static final SecureRandom RANDOM = new SecureRandom();

  private final KeyVaultKeyId id;
  private final AzureKeyVaultKmsProvider provider;
  private final Map<String, CryptographyClient> clients = new ConcurrentHashMap<>();

  KeyVaultCmk(KeyVaultKeyId id, AzureKeyVaultKmsProvider provider) {
    this.id = id;
    this.provider = provider;
  }

  @Override
  public URI cmkUri() {
    return id.uri();
  }

  @Override
  public byte[] wrap(byte[] plaintext, KeyContext context) {
    requireNonNull(plaintext, "plaintext");
    requireNonNull(context, "context");
    // Clients are taken outside call(): after close() that is an IllegalStateException, not a
    // KMS failure.
    CryptographyClient current = client(id.version().orElse(""));
    KeyVaultKey key = call(Operation.GET, current::getKey);
    checkUsable(key.getProperties());
    Algorithm algorithm = algorithmFor(key.getKeyType());
    String version = versionOf(key.getId());
    CryptographyClient versioned = client(version);
    byte[] intermediate = new byte[WrappedBlob.INTERMEDIATE_KEY_LENGTH];
    byte[] nonce = new byte[WrappedBlob.NONCE_LENGTH];
    RANDOM.nextBytes(intermediate);
    RANDOM.nextBytes(nonce);
    try {
      WrapResult result =
          call(
              Operation.WRAP,
              () ->
                  versioned.wrapKey(KeyWrapAlgorithm.fromString(algorithm.jwaName), intermediate));
      if (result.getKeyId() != null && !version.equalsIgnoreCase(versionOf(result.getKeyId()))) {
        // The version is what unwrap will call: never record one Key Vault did not use.
        throw new KeyManagerConfigException(
            "Azure Key Vault wrapped with " + result.getKeyId() + ", not version " + version);
      }
      return WrappedBlob.seal(
          algorithm,
          id.name(),
          version,
          result.getEncryptedKey(),
          intermediate,
          nonce,
          plaintext,
          context);
    } finally {
      Arrays.fill(intermediate, (byte) 0);
    }
  }

  @Override
  public byte[] unwrap(byte[] ciphertext, KeyContext context) {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    provider.checkOpen();
    WrappedBlob blob = WrappedBlob.parse(ciphertext);
    if (!blob.keyName().equalsIgnoreCase(id.name())) {
      throw new InvalidCiphertextException(
          "Azure Key Vault wrapped key was made under key '"
              + blob.keyName()
              + "', not under the CMK "
              + id.uri());
    }
    if (id.version().isPresent() && !id.version().get().equalsIgnoreCase(blob.keyVersion())) {
      throw new InvalidCiphertextException(
          "Azure Key Vault wrapped key was made under version "
              + blob.keyVersion()
              + ", not under the pinned CMK "
              + id.uri());
    }
    CryptographyClient versioned = client(blob.keyVersion());
    byte[] intermediate =
        call(
                Operation.UNWRAP,
                () ->
                    versioned.unwrapKey(
                        KeyWrapAlgorithm.fromString(blob.algorithm().jwaName), blob.wrappedKey()))
            .getKey();
    try {
      return blob.open(intermediate, context);
    } finally {
      Arrays.fill(intermediate, (byte) 0);
    }
  }

  private CryptographyClient client(String version) {
    provider.checkOpen();
    return clients.computeIfAbsent(version, v -> provider.newClient(id, v));
  }

  private <T> T call(Operation op, Supplier<T> request) {
    try {
      return request.get();
    } catch (RuntimeException e) {
      throw ErrorMapping.map(op, id.uri(), e);
    }
  }

  private void checkUsable(KeyProperties p) {
    OffsetDateTime now = OffsetDateTime.now();
    String problem = null;
    if (!Boolean.TRUE.equals(p.isEnabled())) {
      problem = "is disabled";
    } else if (p.getExpiresOn() != null && !now.isBefore(p.getExpiresOn())) {
      problem = "expired at " + p.getExpiresOn();
    } else if (p.getNotBefore() != null && now.isBefore(p.getNotBefore())) {
      problem = "is not active before " + p.getNotBefore();
    }
    if (problem != null) {
      throw new KeyAccessDeniedException(
          "Azure Key Vault key "
              + id.uri()
              + " "
              + problem
              + "; it cannot wrap new keys. Enable it or choose another CMK.");
    }
  }

  private Algorithm algorithmFor(KeyType type) {
    if (KeyType.RSA.equals(type) || KeyType.RSA_HSM.equals(type)) {
      return Algorithm.RSA_OAEP_256;
    }
    if (KeyType.OCT.equals(type) || KeyType.OCT_HSM.equals(type)) {
      return Algorithm.A256KW;
    }
    throw new KeyManagerConfigException(
        "Azure Key Vault key "
            + id.uri()
            + " has type "
            + type
            + ", which cannot wrap keys; use an RSA key, or an AES key in a Managed HSM");
  }

  /** The version segment of a key identifier {@code https://HOST/keys/NAME/VERSION}. */
  private String versionOf(String kid) {
    String path = kid == null ? "" : URI.create(kid).getPath();
    String[] parts = path.split("/", -1);
    if (parts.length != 4
        || !"keys".equals(parts[1])
        || !parts[2].equalsIgnoreCase(id.name())
        || !WrappedBlob.isValidVersion(parts[3])) {
      throw new KeyManagerConfigException(
          "Azure Key Vault returned key id '"
              + kid
              + "' that does not name a version of "
              + id.uri());
    }
    return parts[3];
  }

  @Override
  public String toString() {
    return "KeyVaultCmk[" + id.uri() + "]";
  }
}
