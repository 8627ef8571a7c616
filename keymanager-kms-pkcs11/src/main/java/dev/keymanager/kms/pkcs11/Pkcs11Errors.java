package dev.keymanager.kms.pkcs11;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.AEADBadTagException;

/**
 * Maps what SunPKCS11 throws into keymanager's exception hierarchy, keeping the JDK exception as
 * the cause. SunPKCS11 reports the PKCS#11 return value as the message of its (non-exported) {@code
 * PKCS11Exception}, such as {@code CKR_PIN_INCORRECT}; that name is found in the cause chain and
 * quoted in every message. {@code docs/kms-pkcs11.md} has this table in prose; keep the two in
 * step.
 */
final class Pkcs11Errors {
  private static final Pattern CKR = Pattern.compile("\\bCKR_[A-Z0-9_]+\\b");

  /** The token refuses this caller or this use of the key: not retryable. */
  static final Set<String> DENIED =
      Set.of(
          "CKR_PIN_INCORRECT",
          "CKR_PIN_INVALID",
          "CKR_PIN_LEN_RANGE",
          "CKR_PIN_EXPIRED",
          "CKR_PIN_LOCKED",
          "CKR_USER_PIN_NOT_INITIALIZED",
          "CKR_USER_NOT_LOGGED_IN",
          "CKR_USER_TYPE_INVALID",
          "CKR_KEY_FUNCTION_NOT_PERMITTED",
          "CKR_KEY_TYPE_INCONSISTENT",
          "CKR_KEY_HANDLE_INVALID",
          "CKR_OBJECT_HANDLE_INVALID",
          "CKR_KEY_UNEXTRACTABLE",
          "CKR_MECHANISM_INVALID",
          "CKR_MECHANISM_PARAM_INVALID",
          "CKR_ACTION_PROHIBITED");

  /** The token rejects the ciphertext itself. */
  static final Set<String> INVALID_CIPHERTEXT =
      Set.of("CKR_ENCRYPTED_DATA_INVALID", "CKR_ENCRYPTED_DATA_LEN_RANGE");

  /**
   * Codes after which the provider logs in again, looks the key object up again and retries the
   * operation once: the token dropped the login or the sessions (a reset, a network HSM's failover,
   * another part of the process calling C_Logout), which also invalidates object handles.
   */
  static final Set<String> RELOGIN =
      Set.of(
          "CKR_OBJECT_HANDLE_INVALID",
          "CKR_KEY_HANDLE_INVALID",
          "CKR_USER_NOT_LOGGED_IN",
          "CKR_SESSION_HANDLE_INVALID",
          "CKR_SESSION_CLOSED");

  /** Codes after which the provider drops its SunPKCS11 instance and opens a new one next time. */
  static final Set<String> REOPEN =
      Set.of(
          "CKR_DEVICE_REMOVED",
          "CKR_TOKEN_NOT_PRESENT",
          "CKR_TOKEN_NOT_RECOGNIZED",
          "CKR_SLOT_ID_INVALID",
          "CKR_CRYPTOKI_NOT_INITIALIZED");

  private Pkcs11Errors() {}

  /** The first {@code CKR_...} name in the cause chain of {@code t}. */
  static Optional<String> code(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      String m = c.getMessage();
      if (m != null) {
        Matcher matcher = CKR.matcher(m);
        if (matcher.find()) {
          return Optional.of(matcher.group());
        }
      }
    }
    return Optional.empty();
  }

  /**
   * The keymanager exception for {@code t}, thrown by SunPKCS11 while doing {@code what} (such as
   * "unwrap with pkcs11 CMK pkcs11:token=a;object=b").
   */
  static KeyManagerException map(String what, Throwable t) {
    Optional<String> code = code(t);
    String ckr = code.map(c -> " (" + c + ")").orElse(" (no PKCS#11 return code)");
    if (t instanceof AEADBadTagException) {
      return new InvalidCiphertextException(
          what + " failed: the ciphertext or its key context does not authenticate" + ckr, t);
    }
    if (code.isEmpty()) {
      return new KmsUnavailableException(
          what + " failed in the PKCS#11 provider: " + t.getClass().getSimpleName() + ckr, t);
    }
    String c = code.get();
    if (c.startsWith("CKR_PIN_") || c.equals("CKR_USER_PIN_NOT_INITIALIZED")) {
      return new KeyAccessDeniedException(
          what + " was refused: the token did not accept the PIN" + ckr, t);
    }
    if (c.equals("CKR_OBJECT_HANDLE_INVALID") || c.equals("CKR_KEY_HANDLE_INVALID")) {
      return new KeyAccessDeniedException(
          what + " was refused: the key object is gone from the token" + ckr, t);
    }
    if (DENIED.contains(c)) {
      return new KeyAccessDeniedException(
          what
              + " was refused: the token does not allow this use of the key (it must be an AES"
              + " key with CKA_ENCRYPT and CKA_DECRYPT, and the token must offer CKM_AES_GCM)"
              + ckr,
          t);
    }
    if (INVALID_CIPHERTEXT.contains(c)) {
      return new InvalidCiphertextException(
          what + " failed: the token rejected the ciphertext" + ckr, t);
    }
    if (c.equals("CKR_ARGUMENTS_BAD") || c.equals("CKR_ATTRIBUTE_VALUE_INVALID")) {
      return new KeyManagerConfigException(
          what + " failed: the token rejected a parameter" + ckr, t);
    }
    // Device errors, a missing token or slot, closed sessions, out of memory or sessions, a
    // general failure: the token may answer later.
    return new KmsUnavailableException(what + " failed: the token did not complete it" + ckr, t);
  }
}
