package dev.keymanager.kms.aws;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import java.net.URI;
import java.util.Set;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.kms.model.DependencyTimeoutException;
import software.amazon.awssdk.services.kms.model.DisabledException;
import software.amazon.awssdk.services.kms.model.IncorrectKeyException;
import software.amazon.awssdk.services.kms.model.InvalidKeyUsageException;
import software.amazon.awssdk.services.kms.model.KeyUnavailableException;
import software.amazon.awssdk.services.kms.model.KmsInternalException;
import software.amazon.awssdk.services.kms.model.KmsInvalidStateException;
import software.amazon.awssdk.services.kms.model.LimitExceededException;
import software.amazon.awssdk.services.kms.model.NotFoundException;

/**
 * Maps what the AWS SDK throws into keymanager's exception hierarchy, keeping the SDK exception as
 * the cause. The README's error table is this method in prose; keep the two in step.
 *
 * <p>Messages name the operation, the CMK URI, the KMS error code and request id, and what to do.
 * They never quote the service's own message (it is in the cause) and never contain key bytes.
 */
final class AwsKmsErrors {
  /**
   * Error codes of a caller the service does not accept (no permission, unknown or expired
   * credentials, a bad signature). Not modelled by the KMS SDK, so they arrive as a plain {@code
   * KmsException}. JSON-protocol services spell some with an {@code Exception} suffix, the AWS
   * common-errors list without; both are here.
   */
  private static final Set<String> CALLER_REFUSED =
      Set.of(
          "AccessDeniedException",
          "UnrecognizedClientException",
          "InvalidSignatureException",
          "IncompleteSignature",
          "IncompleteSignatureException",
          "MissingAuthenticationToken",
          "MissingAuthenticationTokenException",
          "InvalidClientTokenId",
          "ExpiredToken",
          "ExpiredTokenException");

  private AwsKmsErrors() {}

  /** The keymanager exception for an SDK failure of {@code operation} with the CMK {@code cmk}. */
  static KeyManagerException map(String operation, URI cmk, SdkException e) {
    String what = "AWS KMS " + operation + " with CMK " + cmk;
    if (e instanceof AwsServiceException s) {
      String code = code(s);
      if (e instanceof DisabledException) {
        return denied(what + " was refused: the key is disabled" + codeOf(s), e);
      }
      if (e instanceof KmsInvalidStateException) {
        return denied(
            what
                + " was refused: the key is not in a usable state (pending deletion, pending"
                + " import or unavailable)"
                + codeOf(s),
            e);
      }
      if (e instanceof NotFoundException) {
        return denied(what + " was refused: the key does not exist" + codeOf(s), e);
      }
      if (e instanceof IncorrectKeyException) {
        return denied(
            what
                + " was refused: the ciphertext was not made under this key (for an alias: the"
                + " alias now points to another key than the one that wrapped it)"
                + codeOf(s),
            e);
      }
      if (e instanceof software.amazon.awssdk.services.kms.model.InvalidCiphertextException) {
        return new InvalidCiphertextException(
            what
                + " failed: the ciphertext or its encryption context does not authenticate"
                + codeOf(s),
            e);
      }
      if (e instanceof InvalidKeyUsageException) {
        return new KeyManagerConfigException(
            what
                + " failed: the key cannot be used for symmetric encryption (its KeyUsage or"
                + " KeySpec is not ENCRYPT_DECRYPT / SYMMETRIC_DEFAULT); name another CMK"
                + codeOf(s),
            e);
      }
      if (s.isThrottlingException()) {
        // AWS KMS sends no Retry-After; the key manager backs off on its own schedule.
        return KmsUnavailableException.throttled(
            what + " was throttled, after the SDK's retries" + codeOf(s), null, e);
      }
      if (e instanceof LimitExceededException) {
        return unavailable(what + " exceeded a KMS limit" + codeOf(s), e);
      }
      if (e instanceof KmsInternalException
          || e instanceof KeyUnavailableException
          || e instanceof DependencyTimeoutException
          || s.statusCode() >= 500) {
        return unavailable(
            what + " failed on the service side, after the SDK's retries" + codeOf(s), e);
      }
      if (CALLER_REFUSED.contains(code) || s.statusCode() == 401 || s.statusCode() == 403) {
        return denied(
            what
                + " was refused: this caller may not use the key (check the key policy, grants"
                + " and IAM permissions kms:Encrypt / kms:Decrypt, and the credentials)"
                + codeOf(s),
            e);
      }
      return denied(what + " was rejected by the service" + codeOf(s), e);
    }
    if (e instanceof AbortedException) {
      // The caller's thread was interrupted (the SDK's own timeouts throw their own types). The
      // SDK consumed the interrupt; set it again so the caller's code sees it.
      Thread.currentThread().interrupt();
      return unavailable(what + " was interrupted", e);
    }
    if (e instanceof ApiCallTimeoutException || e instanceof ApiCallAttemptTimeoutException) {
      return unavailable(what + " timed out: " + e.getMessage(), e);
    }
    // SdkClientException and the rest: no answer from the service (connection refused or reset,
    // DNS, TLS, credentials that could not be loaded, an aborted call).
    return unavailable(what + " got no answer from the service: " + e.getMessage(), e);
  }

  private static String code(AwsServiceException s) {
    return s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
  }

  private static String codeOf(AwsServiceException s) {
    return " (HTTP "
        + s.statusCode()
        + ", "
        + (code(s) == null ? "no error code" : code(s))
        + ", request id "
        + s.requestId()
        + ")";
  }

  private static KeyAccessDeniedException denied(String message, Throwable cause) {
    return new KeyAccessDeniedException(message, cause);
  }

  private static KmsUnavailableException unavailable(String message, Throwable cause) {
    return new KmsUnavailableException(message, cause);
  }
}
