package dev.keymanager.kms.azure;

import com.azure.core.exception.ClientAuthenticationException;
import com.azure.core.exception.HttpResponseException;
import com.azure.core.http.HttpResponse;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import java.net.URI;
import java.time.Duration;

/**
 * Maps what the Azure SDK throws to keymanager's exceptions, keeping it as the cause.
 *
 * <table>
 *   <caption>Mapping</caption>
 *   <tr><th>Key Vault answer</th><th>exception</th></tr>
 *   <tr><td>401, 403 (access denied, key disabled), 404 (key or version not found),
 *       credential failure</td><td>{@link KeyAccessDeniedException}</td></tr>
 *   <tr><td>400 on unwrap (the wrapped intermediate key does not decrypt)</td>
 *       <td>{@link InvalidCiphertextException}</td></tr>
 *   <tr><td>400 on wrap or get (the key cannot do this algorithm)</td>
 *       <td>{@link KeyManagerConfigException}</td></tr>
 *   <tr><td>429 (after the SDK's retries)</td>
 *       <td>{@link KmsUnavailableException} {@linkplain KmsUnavailableException#isThrottled()
 *       marked throttled}, with the Retry-After hint in milliseconds or seconds</td></tr>
 *   <tr><td>408, 5xx, timeouts, I/O errors, any other status (after the SDK's retries)</td>
 *       <td>{@link KmsUnavailableException}</td></tr>
 * </table>
 */
final class ErrorMapping {
  private static final int MAX_DETAIL = 300;

  private ErrorMapping() {}

  enum Operation {
    GET("get key"),
    WRAP("wrapKey"),
    UNWRAP("unwrapKey");

    final String label;

    Operation(String label) {
      this.label = label;
    }
  }

  static KeyManagerException map(Operation op, URI cmk, RuntimeException e) {
    if (e instanceof KeyManagerException k) {
      return k;
    }
    if (e instanceof HttpResponseException h && h.getResponse() != null) {
      return mapStatus(op, cmk, h, h.getResponse());
    }
    if (e instanceof ClientAuthenticationException) {
      return new KeyAccessDeniedException(
          "Azure Key Vault "
              + op.label
              + " for "
              + cmk
              + " failed: the credential could not authenticate ("
              + detail(e)
              + "). Check the TokenCredential's identity and its access to the key.",
          e);
    }
    return new KmsUnavailableException(
        "Azure Key Vault "
            + op.label
            + " for "
            + cmk
            + " did not complete after retries: "
            + e.getClass().getSimpleName()
            + " ("
            + detail(e)
            + ")",
        e);
  }

  private static KeyManagerException mapStatus(
      Operation op, URI cmk, HttpResponseException e, HttpResponse response) {
    int status = response.getStatusCode();
    String what = "Azure Key Vault " + op.label + " for " + cmk + " answered HTTP " + status;
    switch (status) {
      case 401:
      case 403:
        return new KeyAccessDeniedException(
            what
                + ": access denied or key disabled ("
                + detail(e)
                + "). Grant wrapKey, unwrapKey and get on the key (or the Key Vault Crypto"
                + " Service Encryption User role) and check that the key is enabled.",
            e);
      case 404:
        return new KeyAccessDeniedException(
            what + ": key or key version not found, or deleted (" + detail(e) + ")", e);
      case 400:
        if (op == Operation.UNWRAP) {
          return new InvalidCiphertextException(
              what + ": Key Vault could not unwrap the wrapped key (" + detail(e) + ")", e);
        }
        return new KeyManagerConfigException(
            what + ": the key refused the request (" + detail(e) + ")", e);
      default:
        String retryAfter = retryAfter(response);
        String message =
            what
                + " after retries"
                + (retryAfter == null ? "" : "; the service asked to retry after " + retryAfter)
                + " ("
                + detail(e)
                + ")";
        if (status == 429) {
          return KmsUnavailableException.throttled(message, retryAfterDuration(response), e);
        }
        return new KmsUnavailableException(message, e);
    }
  }

  /**
   * The service's retry hint as a duration, or null if it sent none or only an HTTP date (which
   * needs a trusted clock to compare with; the key manager's own back-off applies then).
   */
  static Duration retryAfterDuration(HttpResponse response) {
    for (String header : new String[] {"retry-after-ms", "x-ms-retry-after-ms"}) {
      Long ms = digits(response.getHeaderValue(header));
      if (ms != null) {
        return Duration.ofMillis(ms);
      }
    }
    Long seconds = digits(response.getHeaderValue("Retry-After"));
    return seconds == null ? null : Duration.ofSeconds(seconds);
  }

  private static Long digits(String value) {
    if (value == null) {
      return null;
    }
    String v = value.strip();
    if (v.isEmpty() || v.length() > 12 || !v.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return null;
    }
    return Long.parseLong(v);
  }

  /** The service's retry hint, as sent: seconds or an HTTP date; null if none. */
  static String retryAfter(HttpResponse response) {
    String ms = response.getHeaderValue("retry-after-ms");
    if (ms != null) {
      return ms + " ms";
    }
    ms = response.getHeaderValue("x-ms-retry-after-ms");
    if (ms != null) {
      return ms + " ms";
    }
    String s = response.getHeaderValue("Retry-After");
    return s == null ? null : s + (s.chars().allMatch(Character::isDigit) ? " s" : "");
  }

  /** The SDK's message, shortened: Key Vault error bodies hold codes and texts, no key bytes. */
  private static String detail(Throwable e) {
    String m = e.getMessage();
    if (m == null) {
      return e.getClass().getSimpleName();
    }
    m = m.replaceAll("\\s+", " ").strip();
    return m.length() <= MAX_DETAIL ? m : m.substring(0, MAX_DETAIL) + "...";
  }
}
