package dev.keymanager.kms.gcp;

import com.google.api.gax.rpc.ApiException;
import com.google.api.gax.rpc.StatusCode;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import java.util.Locale;

/**
 * Maps a Cloud KMS failure (a gRPC status, as gax reports it after its retries) to keymanager's
 * exception hierarchy, keeping the vendor exception as the cause. The table is in the README.
 *
 * <p>Messages name the CMK URI, the operation and the status; Cloud KMS's own message is appended
 * because it names resources and states, never key material or plaintext.
 */
final class GcpErrors {
  /** The operation that failed, as Cloud KMS calls it. */
  enum Operation {
    ENCRYPT("encrypt"),
    DECRYPT("decrypt");

    private final String verb;

    Operation(String verb) {
      this.verb = verb;
    }
  }

  private GcpErrors() {}

  static KeyManagerException map(ApiException e, Operation op, CryptoKeyUri key) {
    StatusCode.Code code = e.getStatusCode().getCode();
    String what =
        "Google Cloud KMS "
            + op.verb
            + " with "
            + key.uri()
            + " failed with "
            + code
            + " ("
            + e.getMessage()
            + ")";
    switch (code) {
      case PERMISSION_DENIED:
      case UNAUTHENTICATED:
        return new KeyAccessDeniedException(
            what
                + ": the caller lacks the IAM role on the key or its credentials were refused"
                + " (needs roles/cloudkms.cryptoKeyEncrypterDecrypter, or"
                + " roles/cloudkms.cryptoKeyDecrypter to unwrap only)",
            e);
      case FAILED_PRECONDITION:
        return new KeyAccessDeniedException(
            what + ": the key version is disabled, scheduled for destruction or destroyed", e);
      case NOT_FOUND:
        return new KeyAccessDeniedException(what + ": the key does not exist", e);
      case INVALID_ARGUMENT:
        if (isChecksumRejection(e)) {
          // Cloud KMS saw bytes that do not match the CRC32C we computed from the caller's bytes:
          // they were corrupted on the way, not wrong to begin with, so sending them again can
          // work.
          return new KmsUnavailableException(
              what + ": the request arrived corrupted (CRC32C mismatch); retry the call", e);
        }
        if (op == Operation.DECRYPT) {
          return new InvalidCiphertextException(
              what
                  + ": the ciphertext is not from this key, was modified, or the key context"
                  + " differs from the one it was wrapped with",
              e);
        }
        return new KeyManagerConfigException(
            what + ": the key cannot encrypt this request (is its purpose ENCRYPT_DECRYPT?)", e);
      case UNIMPLEMENTED:
        return new KeyManagerConfigException(
            what + ": the endpoint does not serve Cloud KMS; check the endpoint override", e);
      case RESOURCE_EXHAUSTED:
        // The project's request quota: throttling, after the client's own retries. Cloud KMS
        // sends no Retry-After; the key manager backs off on its own schedule.
        return KmsUnavailableException.throttled(
            what + ": throttled (request quota exhausted); try again later", null, e);
      default:
        // UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL (retried by the client
        // first), and every other code: none says the key was refused, so nothing is evicted
        // early; a cached KEK serves until its hard TTL and the call can be tried again.
        return new KmsUnavailableException(what + ": transient; try again later", e);
    }
  }

  /**
   * Whether Cloud KMS rejected the request because a {@code *_crc32c} field did not match its data
   * (it answers INVALID_ARGUMENT naming the field). Matching the message is a heuristic; if Google
   * rewords it, the failure falls back to the INVALID_ARGUMENT row, which still fails closed.
   */
  private static boolean isChecksumRejection(ApiException e) {
    String message = e.getMessage();
    return message != null && message.toLowerCase(Locale.ROOT).contains("crc32c");
  }
}
