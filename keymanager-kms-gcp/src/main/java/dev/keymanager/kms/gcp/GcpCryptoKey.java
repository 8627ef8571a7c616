package dev.keymanager.kms.gcp;

import static java.util.Objects.requireNonNull;

import com.google.api.gax.rpc.ApiException;
import com.google.cloud.kms.v1.DecryptRequest;
import com.google.cloud.kms.v1.DecryptResponse;
import com.google.cloud.kms.v1.EncryptRequest;
import com.google.cloud.kms.v1.EncryptResponse;
import com.google.cloud.kms.v1.KeyManagementServiceClient;
import com.google.protobuf.ByteString;
import com.google.protobuf.Int64Value;
import com.google.protobuf.UnsafeByteOperations;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.kms.gcp.GcpErrors.Operation;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.Supplier;
import java.util.zip.CRC32C;

/**
 * Wrap and unwrap with one Cloud KMS CryptoKey: Encrypt and Decrypt, the key context's canonical
 * encoding as additional authenticated data, and end-to-end CRC32C checks as Google recommends.
 *
 * <p>Integrity: every request carries the CRC32C of its plaintext or ciphertext and of the AAD;
 * every response must confirm them ({@code verified_*_crc32c}) and carry a CRC32C of its own
 * payload, which is recomputed here. A mismatch means bytes were corrupted between this process and
 * the KMS's key (the gax client does not check these fields itself). It raises {@link
 * KmsUnavailableException}: retryable, because the same call can succeed once the corruption is
 * gone, and deliberately not {@link dev.keymanager.InvalidCiphertextException}, which tells the
 * caller their stored ciphertext is bad and which a caller may treat as data loss. The corrupted
 * response is discarded, never returned, and not retried here: the caller (the key manager) decides
 * whether to try again.
 *
 * <p>The Encrypt response names the key version that encrypted; it must be a version of the
 * requested CryptoKey, or the ciphertext would not decrypt under it later.
 */
final class GcpCryptoKey implements KmsUnwrapper, KmsWrapper {
  private final CryptoKeyUri key;
  private final Supplier<KeyManagementServiceClient> client;

  GcpCryptoKey(CryptoKeyUri key, Supplier<KeyManagementServiceClient> client) {
    this.key = requireNonNull(key, "key");
    this.client = requireNonNull(client, "client");
  }

  @Override
  public URI cmkUri() {
    return key.uri();
  }

  @Override
  public byte[] wrap(byte[] plaintext, KeyContext context) {
    requireNonNull(plaintext, "plaintext");
    requireNonNull(context, "context");
    byte[] aad = context.encode();
    // Our own copy, lent to protobuf without a further copy so it can be overwritten after the
    // call; ByteString.copyFrom would leave a copy of the KEK nobody can wipe.
    byte[] lent = plaintext.clone();
    try {
      EncryptRequest request =
          EncryptRequest.newBuilder()
              .setName(key.resourceName())
              .setPlaintext(UnsafeByteOperations.unsafeWrap(lent))
              .setPlaintextCrc32C(crc32c(lent))
              .setAdditionalAuthenticatedData(ByteString.copyFrom(aad))
              .setAdditionalAuthenticatedDataCrc32C(crc32c(aad))
              .build();
      EncryptResponse response;
      try {
        response = client.get().encrypt(request);
      } catch (ApiException e) {
        throw GcpErrors.map(e, Operation.ENCRYPT, key);
      }
      return checked(response);
    } finally {
      Arrays.fill(lent, (byte) 0);
    }
  }

  private byte[] checked(EncryptResponse response) {
    if (!key.isVersionOfThisKey(response.getName())) {
      // The endpoint answered for another key: its ciphertext would never decrypt under ours.
      throw new KeyManagerConfigException(
          "Google Cloud KMS encrypt with "
              + key.uri()
              + " answered for '"
              + response.getName()
              + "', not a version of "
              + key.resourceName()
              + "; check the endpoint override and any proxy in between");
    }
    if (!response.getVerifiedPlaintextCrc32C()) {
      throw corrupted(Operation.ENCRYPT, "the KMS did not verify the plaintext CRC32C");
    }
    if (!response.getVerifiedAdditionalAuthenticatedDataCrc32C()) {
      throw corrupted(Operation.ENCRYPT, "the KMS did not verify the AAD CRC32C");
    }
    byte[] ciphertext = response.getCiphertext().toByteArray();
    if (!response.hasCiphertextCrc32C()
        || response.getCiphertextCrc32C().getValue() != crc32c(ciphertext).getValue()) {
      throw corrupted(Operation.ENCRYPT, "the ciphertext does not match its CRC32C");
    }
    return ciphertext;
  }

  @Override
  public byte[] unwrap(byte[] ciphertext, KeyContext context) {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    byte[] aad = context.encode();
    DecryptRequest request =
        DecryptRequest.newBuilder()
            .setName(key.resourceName())
            .setCiphertext(ByteString.copyFrom(ciphertext))
            .setCiphertextCrc32C(crc32c(ciphertext))
            .setAdditionalAuthenticatedData(ByteString.copyFrom(aad))
            .setAdditionalAuthenticatedDataCrc32C(crc32c(aad))
            .build();
    DecryptResponse response;
    try {
      response = client.get().decrypt(request);
    } catch (ApiException e) {
      throw GcpErrors.map(e, Operation.DECRYPT, key);
    }
    // The response's own ByteString cannot be wiped (see the provider's known issues); this copy,
    // handed to the caller, can be.
    byte[] plaintext = response.getPlaintext().toByteArray();
    if (!response.hasPlaintextCrc32C()
        || response.getPlaintextCrc32C().getValue() != crc32c(plaintext).getValue()) {
      Arrays.fill(plaintext, (byte) 0);
      throw corrupted(Operation.DECRYPT, "the plaintext does not match its CRC32C");
    }
    return plaintext;
  }

  private KmsUnavailableException corrupted(Operation op, String what) {
    return new KmsUnavailableException(
        "Google Cloud KMS "
            + op.name().toLowerCase(Locale.ROOT)
            + " with "
            + key.uri()
            + " failed its integrity check: "
            + what
            + ". The response was discarded; bytes were corrupted in transit or in the KMS."
            + " Retrying is safe.");
  }

  static Int64Value crc32c(byte[] bytes) {
    CRC32C crc = new CRC32C();
    crc.update(bytes, 0, bytes.length);
    return Int64Value.of(crc.getValue());
  }

  @Override
  public String toString() {
    return "GcpCryptoKey[" + key.uri() + "]";
  }
}
