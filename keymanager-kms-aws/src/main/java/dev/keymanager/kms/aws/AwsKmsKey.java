package dev.keymanager.kms.aws;

import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.DecryptRequest;
import software.amazon.awssdk.services.kms.model.DecryptResponse;
import software.amazon.awssdk.services.kms.model.EncryptRequest;
import software.amazon.awssdk.services.kms.model.EncryptResponse;
import software.amazon.awssdk.services.kms.model.EncryptionAlgorithmSpec;

/**
 * One CMK: wrap is KMS {@code Encrypt}, unwrap is KMS {@code Decrypt} with the {@code KeyId} pinned
 * to the CMK's ARN, both with the {@link KeyContext} as the KMS encryption context.
 *
 * <p>Thread-safe and cheap: the KMS client is looked up per call from the provider, which opens one
 * per region and reuses it.
 */
final class AwsKmsKey implements KmsUnwrapper, KmsWrapper {
  private static final Logger log = LoggerFactory.getLogger(AwsKmsKey.class);

  private final URI cmkUri;
  private final KmsKeyArn arn;
  private final Function<String, KmsClient> clients; // region -> the provider's client for it

  AwsKmsKey(URI cmkUri, KmsKeyArn arn, Function<String, KmsClient> clients) {
    this.cmkUri = cmkUri;
    this.arn = arn;
    this.clients = clients;
  }

  @Override
  public URI cmkUri() {
    return cmkUri;
  }

  @Override
  public byte[] wrap(byte[] plaintext, KeyContext context) {
    EncryptRequest.Builder request =
        EncryptRequest.builder()
            .keyId(arn.arn())
            .encryptionAlgorithm(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT)
            // No copy: the SDK only reads it, and every copy would be one more we cannot wipe.
            .plaintext(SdkBytes.fromByteArrayUnsafe(plaintext));
    encryptionContext(context).ifPresent(request::encryptionContext);
    EncryptResponse response;
    try {
      response = clients.apply(arn.region()).encrypt(request.build());
    } catch (SdkException e) {
      throw AwsKmsErrors.map("Encrypt", cmkUri, e);
    }
    checkKeyId("Encrypt", response.keyId());
    if (response.ciphertextBlob() == null) {
      throw incomplete("Encrypt", "CiphertextBlob");
    }
    return response.ciphertextBlob().asByteArray();
  }

  @Override
  public byte[] unwrap(byte[] ciphertext, KeyContext context) {
    // The KeyId is always sent: KMS could find the key from the ciphertext alone, but then the
    // ciphertext would choose the key, and a record moved under another CMK would still unwrap.
    DecryptRequest.Builder request =
        DecryptRequest.builder()
            .keyId(arn.arn())
            .encryptionAlgorithm(EncryptionAlgorithmSpec.SYMMETRIC_DEFAULT)
            .ciphertextBlob(SdkBytes.fromByteArray(ciphertext));
    encryptionContext(context).ifPresent(request::encryptionContext);
    DecryptResponse response;
    try {
      response = clients.apply(arn.region()).decrypt(request.build());
    } catch (SdkException e) {
      throw AwsKmsErrors.map("Decrypt", cmkUri, e);
    }
    if (response.plaintext() == null) {
      throw incomplete("Decrypt", "Plaintext");
    }
    // The SDK decoded the plaintext into an array of its own; hand that one over rather than a
    // copy, so the caller's wipe reaches it. (The Base64 text it was decoded from is beyond reach.)
    byte[] plaintext = response.plaintext().asByteArrayUnsafe();
    try {
      checkKeyId("Decrypt", response.keyId());
    } catch (KeyAccessDeniedException e) {
      Arrays.fill(plaintext, (byte) 0);
      throw e;
    }
    return plaintext;
  }

  /**
   * Fails closed if the key KMS says it used is not the one asked for. With the KeyId pinned a real
   * KMS never does that; a misrouted endpoint override or a proxy could.
   */
  private void checkKeyId(String operation, String responseKeyId) {
    if (!arn.acceptsResponseKeyId(responseKeyId)) {
      throw new KeyAccessDeniedException(
          "AWS KMS "
              + operation
              + " with CMK "
              + cmkUri
              + " answered for key '"
              + responseKeyId
              + "', not for "
              + (arn.alias() ? "a key of account " + arn.account() + " in " + arn.region() : "it")
              + "; the result was discarded. Check the endpoint override.");
    }
    if (arn.alias()) {
      log.debug("{} {} used key {}", operation, cmkUri, responseKeyId);
    }
  }

  private KmsUnavailableException incomplete(String operation, String field) {
    return new KmsUnavailableException(
        "AWS KMS " + operation + " with CMK " + cmkUri + " answered without " + field);
  }

  private static Optional<Map<String, String>> encryptionContext(KeyContext context) {
    Map<String, String> entries = context.entries();
    return entries.isEmpty() ? Optional.empty() : Optional.of(entries);
  }

  @Override
  public String toString() {
    return "AwsKmsKey[" + cmkUri + "]";
  }
}
