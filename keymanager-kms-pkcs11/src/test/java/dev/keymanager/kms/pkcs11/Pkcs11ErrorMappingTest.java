package dev.keymanager.kms.pkcs11;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.nio.file.Path;
import java.security.AuthProvider;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Each row of the error table provoked for real on SoftHSM 2, and what the caller sees. Every
 * exception is also kept for the secret scan at the end: no PIN and no key bytes in any message,
 * cause message, stack trace or {@code toString}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class Pkcs11ErrorMappingTest {
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");
  private static final byte[] KEK =
      HexFormat.of().parseHex("c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc");
  private static final Pkcs11KmsProvider PROVIDER = SoftHsm.builder().build();
  private static final List<Throwable> SEEN = new ArrayList<>();

  @AfterAll
  static void closeProvider() {
    PROVIDER.close();
  }

  @Test
  void aDeletedKeyObjectIsAccessDeniedNamingTheReturnCode() {
    URI cmk = SoftHsm.cmk("errors-deleted");
    PROVIDER.generateKey(cmk);
    byte[] wrapped = PROVIDER.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT);

    SoftHsm.deleteObject("errors-deleted");

    Throwable e = seen(() -> PROVIDER.unwrapper(cmk).unwrap(wrapped, CONTEXT));
    assertThat(e)
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(cmk.toString())
        .hasMessageContaining("CKR_OBJECT_HANDLE_INVALID")
        .hasMessageContaining("no key object labelled 'errors-deleted'");
    assertThat(((KeyAccessDeniedException) e).isRetryable()).isFalse();
  }

  @Test
  void aKeyObjectThatNeverExistedIsAccessDenied() {
    URI cmk = SoftHsm.cmk("errors-never-made");
    Throwable e = seen(() -> PROVIDER.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT));
    assertThat(e)
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining("C_FindObjects found none");
  }

  @Test
  void aWrongPinIsAccessDeniedWithCkrPinIncorrectAndTheRightPinStillWorks() {
    // Only this test logs in to PIN_TEST: PKCS#11 login is per token and process.
    URI cmk = URI.create("pkcs11:token=" + SoftHsm.PIN_TEST + ";object=k");
    try (Pkcs11KmsProvider wrong =
        Pkcs11KmsProvider.builder()
            .library(SoftHsm.LIBRARY)
            .token(SoftHsm.PIN_TEST, SoftHsm.slot(SoftHsm.PIN_TEST), "0000-wrong".toCharArray())
            .build()) {
      Throwable e = seen(() -> wrong.generateKey(cmk));
      assertThat(e)
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasMessageContaining("did not accept the PIN")
          .hasMessageContaining("CKR_PIN_INCORRECT")
          .hasMessageNotContaining("0000-wrong");
    }
    try (Pkcs11KmsProvider right =
        Pkcs11KmsProvider.builder()
            .library(SoftHsm.LIBRARY)
            .token(SoftHsm.PIN_TEST, SoftHsm.slot(SoftHsm.PIN_TEST), SoftHsm.PIN.toCharArray())
            .build()) {
      right.generateKey(cmk);
      byte[] wrapped = right.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT);
      assertThat(right.unwrapper(cmk).unwrap(wrapped, CONTEXT)).isEqualTo(KEK);
    }
  }

  @Test
  void aKeyTheTokenMayNotDecryptWithIsAccessDenied() throws Exception {
    // Made by an operator's tool with CKA_DECRYPT = false: wrapping works, unwrapping is refused.
    KeyStore admin = SoftHsm.admin("  CKA_ENCRYPT = true\n  CKA_DECRYPT = false\n");
    KeyGenerator generator = KeyGenerator.getInstance("AES", admin.getProvider());
    generator.init(256);
    admin.setEntry(
        "errors-encrypt-only", new KeyStore.SecretKeyEntry(generator.generateKey()), null);
    URI cmk = SoftHsm.cmk("errors-encrypt-only");
    byte[] wrapped = PROVIDER.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT);

    Throwable e = seen(() -> PROVIDER.unwrapper(cmk).unwrap(wrapped, CONTEXT));
    assertThat(e)
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining("does not allow this use of the key")
        .hasMessageContaining("CKR_KEY_FUNCTION_NOT_PERMITTED");
  }

  @Test
  void aTokenRemovedFromTheHsmIsUnavailableAndRetryable() {
    // REMOVED was initialised and then deleted with softhsm2-util: its slot is gone.
    URI cmk = URI.create("pkcs11:token=" + SoftHsm.REMOVED + ";object=k");
    try (Pkcs11KmsProvider p =
        Pkcs11KmsProvider.builder()
            .library(SoftHsm.LIBRARY)
            .token(SoftHsm.REMOVED, SoftHsm.slot(SoftHsm.REMOVED), SoftHsm.PIN.toCharArray())
            .build()) {
      for (int i = 0; i < 2; i++) { // not remembered: each call tries the token again
        Throwable e = seen(() -> p.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT));
        assertThat(e)
            .isInstanceOf(KmsUnavailableException.class)
            .hasMessageContaining("CKR_SLOT_ID_INVALID")
            .hasMessageContaining(cmk.toString());
        assertThat(((KmsUnavailableException) e).isRetryable()).isTrue();
      }
    }
  }

  @Test
  void aTamperedCiphertextIsInvalidCiphertext() {
    URI cmk = SoftHsm.cmk("errors-tamper");
    PROVIDER.generateKey(cmk);
    byte[] wrapped = PROVIDER.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT);
    wrapped[wrapped.length - 20] ^= 0x40;

    Throwable e = seen(() -> PROVIDER.unwrapper(cmk).unwrap(wrapped, CONTEXT));
    assertThat(e)
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("does not authenticate")
        .hasMessageContaining("CKR_");
  }

  @Test
  void noFreeSessionWithinTheTimeoutIsUnavailable() {
    try (Pkcs11KmsProvider p =
        SoftHsm.builder().maxSessions(1).sessionTimeout(Duration.ofMillis(50)).build()) {
      URI cmk = SoftHsm.cmk("errors-busy");
      p.generateKey(cmk);
      Pkcs11Token token = p.token(SoftHsm.MAIN);
      int held = token.occupyAllSessions();
      try {
        Throwable e = seen(() -> p.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT));
        assertThat(e)
            .isInstanceOf(KmsUnavailableException.class)
            .hasMessageContaining("none of the 1 sessions")
            .hasMessageContaining("PT0.05S");
      } finally {
        token.releaseSessions(held);
      }
      assertThat(p.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT)).isNotEmpty();
    }
  }

  @Test
  void aDroppedLoginIsRestoredOnceAndTheCallSucceeds() throws Exception {
    URI cmk = SoftHsm.cmk("errors-relogin");
    PROVIDER.generateKey(cmk);
    byte[] wrapped = PROVIDER.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT);
    Pkcs11Token token = PROVIDER.token(SoftHsm.MAIN);
    long relogins = token.relogins.get();

    // C_Logout: the token forgets the login of every session of this process; the key's handle
    // is invalid from now on.
    ((AuthProvider) token.provider().orElseThrow()).logout();

    assertThat(PROVIDER.unwrapper(cmk).unwrap(wrapped, CONTEXT)).isEqualTo(KEK);
    assertThat(token.relogins.get()).isEqualTo(relogins + 1);
  }

  @Test
  void aKeyWhoseValueTheTokenWouldReleaseIsRefused() throws Exception {
    // An operator's mistake: a key imported with neither CKA_SENSITIVE nor CKA_EXTRACTABLE=false.
    KeyStore loose =
        KeyStore.getInstance(
            "PKCS11",
            java.security.Security.getProvider("SunPKCS11")
                .configure(
                    "--name = loose\nlibrary = "
                        + SoftHsm.LIBRARY
                        + "\nslot = "
                        + SoftHsm.slot(SoftHsm.MAIN)
                        + "\nattributes(import, CKO_SECRET_KEY, CKK_AES) = {\n"
                        + "  CKA_SENSITIVE = false\n  CKA_EXTRACTABLE = true\n}\n"));
    loose.load(null, SoftHsm.PIN.toCharArray());
    loose.setEntry(
        "errors-extractable",
        new KeyStore.SecretKeyEntry(new javax.crypto.spec.SecretKeySpec(new byte[32], "AES")),
        null);

    Throwable e =
        seen(
            () ->
                PROVIDER
                    .wrapper(SoftHsm.cmk("errors-extractable"))
                    .orElseThrow()
                    .wrap(KEK, CONTEXT));
    assertThat(e)
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining("would release its value");
  }

  @Test
  void configurationErrorsAreKeyManagerConfigExceptions() {
    assertThatThrownBy(() -> PROVIDER.unwrapper(URI.create("pkcs11:token=elsewhere;object=k")))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("not configured for (configured: [kmtest])");
    try (Pkcs11KmsProvider p =
        Pkcs11KmsProvider.builder()
            .library(Path.of("/nonexistent/libvendor-pkcs11.so"))
            .token("t", 1, "123456".toCharArray())
            .build()) {
      assertThatThrownBy(
              () ->
                  p.wrapper(URI.create("pkcs11:token=t;object=k")).orElseThrow().wrap(KEK, CONTEXT))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("/nonexistent/libvendor-pkcs11.so does not exist");
    }
    try (Pkcs11KmsProvider unconfigured = new Pkcs11KmsProvider()) {
      assertThatThrownBy(() -> unconfigured.unwrapper(SoftHsm.cmk("k")))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining(Pkcs11KmsProvider.CONFIG_ENV);
    }
  }

  @Test
  void closeLogsOutWipesThePinAndRefusesLaterCalls() {
    Pkcs11KmsProvider p = SoftHsm.builder().build();
    URI cmk = SoftHsm.cmk("errors-close");
    p.generateKey(cmk);
    Pkcs11Token token = p.token(SoftHsm.MAIN);
    assertThat(token.pinWiped()).isFalse();

    p.close();
    p.close(); // idempotent

    assertThat(token.pinWiped()).isTrue();
    assertThatThrownBy(() -> p.unwrapper(cmk)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void theKeyObjectIsNeverExtractable() {
    URI cmk = SoftHsm.cmk("errors-sensitive");
    PROVIDER.generateKey(cmk);

    SecretKey onToken = SoftHsm.object("errors-sensitive");

    assertThat(onToken.getEncoded()).as("the token releases no key value").isNull();
    assertThat(onToken.toString()).contains("sensitive").contains("unextractable");
  }

  /** Last: scans what every other test of the class provoked, and a failed unwrap of its own. */
  @Test
  @Order(Integer.MAX_VALUE)
  void noPinOrKeyBytesInAnyMessageStackTraceOrToString() {
    URI cmk = SoftHsm.cmk("errors-scan");
    PROVIDER.generateKey(cmk);
    byte[] wrapped = PROVIDER.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT);
    seen(() -> PROVIDER.unwrapper(cmk).unwrap(wrapped, KeyContext.of("tenant", "other")));
    List<String> texts = new ArrayList<>();
    for (Throwable t : SEEN) {
      StringWriter w = new StringWriter();
      t.printStackTrace(new PrintWriter(w));
      texts.add(w.toString());
      texts.add(t.toString());
    }
    texts.add(PROVIDER.toString());
    texts.add(PROVIDER.unwrapper(SoftHsm.cmk("k")).toString());
    texts.add(PROVIDER.token(SoftHsm.MAIN).toString());

    String kekHex = HexFormat.of().formatHex(KEK);
    for (String text : texts) {
      assertThat(text)
          .doesNotContain(SoftHsm.PIN)
          .doesNotContain("0000-wrong")
          .doesNotContainIgnoringCase(kekHex)
          .doesNotContain(Base64.getEncoder().encodeToString(KEK))
          .doesNotContain(new String(KEK, ISO_8859_1));
    }
    assertThat(SEEN).as("failures scanned").hasSizeGreaterThanOrEqualTo(10);
  }

  private static synchronized Throwable seen(
      org.assertj.core.api.ThrowableAssert.ThrowingCallable call) {
    Throwable t = catchThrowable(call);
    assertThat(t).as("the call must fail").isNotNull();
    SEEN.add(t);
    return t;
  }
}
