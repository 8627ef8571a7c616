package dev.keymanager.kms.aws;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.kms.aws.FakeAwsKms.KeyState;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kms.model.DependencyTimeoutException;
import software.amazon.awssdk.services.kms.model.DisabledException;
import software.amazon.awssdk.services.kms.model.IncorrectKeyException;
import software.amazon.awssdk.services.kms.model.InvalidKeyUsageException;
import software.amazon.awssdk.services.kms.model.KeyUnavailableException;
import software.amazon.awssdk.services.kms.model.KmsException;
import software.amazon.awssdk.services.kms.model.KmsInternalException;
import software.amazon.awssdk.services.kms.model.KmsInvalidStateException;
import software.amazon.awssdk.services.kms.model.LimitExceededException;
import software.amazon.awssdk.services.kms.model.NotFoundException;

/**
 * Every row of the module's error table, produced by {@link FakeAwsKms} on the wire and thrown by
 * the real SDK client, with the number of HTTP attempts the SDK made (3 allowed, no backoff).
 */
class AwsKmsErrorMappingTest {
  private static final FakeAwsKms KMS = FakeAwsKms.start();
  private static final int ATTEMPTS = 3;
  private static final AwsKmsProvider PROVIDER = KMS.providerBuilder(ATTEMPTS).build();
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");
  private static final byte[] PLAINTEXT = HexFormat.of().parseHex("c0ffee".repeat(10) + "0102");

  @AfterAll
  static void stopEndpoint() {
    PROVIDER.close();
    KMS.close();
  }

  @AfterEach
  void resetEndpoint() {
    KMS.reset();
  }

  enum Op {
    WRAP,
    UNWRAP
  }

  /**
   * One row: what the endpoint does, which call, and what the caller must see.
   *
   * @param vendorCause the SDK exception type kept as the cause
   * @param errorCode the KMS error code the message names, or null
   */
  record Row(
      String name,
      Op op,
      BiConsumer<FakeAwsKms, String> endpoint,
      Class<? extends KeyManagerException> expected,
      Class<? extends Throwable> vendorCause,
      String errorCode,
      int attempts) {
    @Override
    public String toString() {
      return name + " on " + op;
    }
  }

  static Stream<Row> rows() {
    Stream.Builder<Row> rows = Stream.builder();
    for (Op op : Op.values()) {
      rows.add(
          new Row(
              "DisabledException",
              op,
              (kms, key) -> kms.setState(key, KeyState.DISABLED),
              KeyAccessDeniedException.class,
              DisabledException.class,
              "DisabledException",
              1));
      rows.add(
          new Row(
              "KMSInvalidStateException (pending deletion)",
              op,
              (kms, key) -> kms.setState(key, KeyState.PENDING_DELETION),
              KeyAccessDeniedException.class,
              KmsInvalidStateException.class,
              "KMSInvalidStateException",
              1));
      rows.add(
          new Row(
              "NotFoundException (key deleted)",
              op,
              (kms, key) -> kms.deleteKey(key),
              KeyAccessDeniedException.class,
              NotFoundException.class,
              "NotFoundException",
              1));
      rows.add(
          new Row(
              "AccessDeniedException",
              op,
              (kms, key) -> kms.denyAccess(key, true),
              KeyAccessDeniedException.class,
              KmsException.class,
              "AccessDeniedException",
              1));
      rows.add(
          injected(
              "ThrottlingException",
              op,
              400,
              "ThrottlingException",
              KmsUnavailableException.class,
              KmsException.class,
              ATTEMPTS));
      rows.add(
          injected(
              "KMSInternalException",
              op,
              500,
              "KMSInternalException",
              KmsUnavailableException.class,
              KmsInternalException.class,
              ATTEMPTS));
      rows.add(
          injected(
              "KeyUnavailableException",
              op,
              500,
              "KeyUnavailableException",
              KmsUnavailableException.class,
              KeyUnavailableException.class,
              ATTEMPTS));
      rows.add(
          injected(
              "DependencyTimeoutException",
              op,
              503,
              "DependencyTimeoutException",
              KmsUnavailableException.class,
              DependencyTimeoutException.class,
              ATTEMPTS));
      rows.add(
          new Row(
              "bare HTTP 503 with an HTML body",
              op,
              (kms, key) -> kms.failNext(ATTEMPTS, 503, null),
              KmsUnavailableException.class,
              KmsException.class,
              null,
              ATTEMPTS));
      rows.add(
          injected(
              "LimitExceededException (not retried by the SDK)",
              op,
              400,
              "LimitExceededException",
              KmsUnavailableException.class,
              LimitExceededException.class,
              1));
      rows.add(
          injected(
              "InvalidKeyUsageException",
              op,
              400,
              "InvalidKeyUsageException",
              KeyManagerConfigException.class,
              InvalidKeyUsageException.class,
              1));
      rows.add(
          injected(
              "UnrecognizedClientException (bad credentials)",
              op,
              400,
              "UnrecognizedClientException",
              KeyAccessDeniedException.class,
              KmsException.class,
              1));
      rows.add(
          injected(
              "ValidationException (any other 4xx)",
              op,
              400,
              "ValidationException",
              KeyAccessDeniedException.class,
              KmsException.class,
              1));
    }
    return rows.build();
  }

  private static Row injected(
      String name,
      Op op,
      int status,
      String type,
      Class<? extends KeyManagerException> expected,
      Class<? extends Throwable> cause,
      int attempts) {
    return new Row(
        name,
        op,
        (kms, key) -> kms.failNext(attempts, status, type),
        expected,
        cause,
        type,
        attempts);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rows")
  void eachKmsErrorMapsToItsRowWithTheSdkExceptionAsCause(Row row) {
    String key = KMS.createKey();
    URI cmk = FakeAwsKms.cmk(key);
    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    KMS.clearRequests();
    row.endpoint().accept(KMS, key);

    Throwable thrown =
        catchThrowable(
            () -> {
              if (row.op() == Op.WRAP) {
                PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
              } else {
                PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT);
              }
            });

    assertThat(thrown).isInstanceOf(row.expected()).hasCauseInstanceOf(row.vendorCause());
    assertThat(((KeyManagerException) thrown).isRetryable())
        .isEqualTo(row.expected() == KmsUnavailableException.class);
    if (thrown instanceof KmsUnavailableException u) {
      // Only throttling marks the failure, so the key manager backs off for it alone.
      assertThat(u.isThrottled()).isEqualTo("ThrottlingException".equals(row.errorCode()));
    }
    assertThat(thrown.getMessage())
        .contains(cmk.toString())
        .contains(row.op() == Op.WRAP ? "Encrypt" : "Decrypt");
    if (row.errorCode() != null) {
      assertThat(thrown.getMessage()).contains(row.errorCode());
      assertThat(((AwsServiceException) thrown.getCause()).awsErrorDetails().errorCode())
          .isEqualTo(row.errorCode());
    }
    assertNoKeyBytes(thrown.getMessage());
    assertThat(KMS.requests()).as("HTTP attempts").hasSize(row.attempts());
  }

  @Test
  void invalidCiphertextExceptionMapsToInvalidCiphertext() {
    URI cmk = FakeAwsKms.cmk(KMS.createKey());
    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    ciphertext[ciphertext.length - 1] ^= 1;
    KMS.clearRequests();

    assertThatThrownBy(() -> PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasCauseInstanceOf(
            software.amazon.awssdk.services.kms.model.InvalidCiphertextException.class)
        .hasMessageContaining(cmk.toString())
        .hasMessageContaining("InvalidCiphertextException");
    assertThat(KMS.requests()).hasSize(1);
  }

  @Test
  void incorrectKeyExceptionForCiphertextOfAnotherKeyMapsToAccessDenied() {
    URI cmk = FakeAwsKms.cmk(KMS.createKey());
    URI other = FakeAwsKms.cmk(KMS.createKey());
    byte[] ciphertextOfOther = PROVIDER.wrapper(other).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    KMS.clearRequests();

    assertThatThrownBy(() -> PROVIDER.unwrapper(cmk).unwrap(ciphertextOfOther, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasCauseInstanceOf(IncorrectKeyException.class)
        .hasMessageContaining(cmk.toString())
        .hasMessageContaining("not made under this key");
    assertThat(KMS.requests("TrentService.Decrypt").get(0).keyId()).contains(arnOf(cmk));
  }

  @Test
  void throttlingIsRetriedAndACallThatSucceedsWithinTheAttemptsReturnsNormally() {
    URI cmk = FakeAwsKms.cmk(KMS.createKey());
    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    KMS.clearRequests();
    KMS.failNext(ATTEMPTS - 1, 400, "ThrottlingException");

    assertThat(PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);
    List<FakeAwsKms.Request> attempts = KMS.requests("TrentService.Decrypt");
    assertThat(attempts).hasSize(ATTEMPTS);
    // The SDK numbers its attempts in a header; each retry is a new signed request.
    assertThat(attempts.get(ATTEMPTS - 1).header("amz-sdk-request"))
        .hasValueSatisfying(v -> assertThat(v).contains("attempt=" + ATTEMPTS));
  }

  @Test
  void aStalledEndpointGivesKmsUnavailableWithinTheApiCallTimeout() {
    try (AwsKmsProvider provider =
        KMS.providerBuilder(ATTEMPTS)
            .apiCallAttemptTimeout(Duration.ofMillis(300))
            .apiCallTimeout(Duration.ofMillis(1500))
            .build()) {
      URI cmk = FakeAwsKms.cmk(KMS.createKey());
      byte[] ciphertext = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      KMS.clearRequests();
      KMS.stall();

      long start = System.nanoTime();
      Throwable thrown = catchThrowable(() -> provider.unwrapper(cmk).unwrap(ciphertext, CONTEXT));
      Duration elapsed = Duration.ofNanos(System.nanoTime() - start);

      assertThat(thrown)
          .isInstanceOf(KmsUnavailableException.class)
          .hasMessageContaining(cmk.toString())
          .hasMessageContaining("timed out");
      // Bounded by the API call timeout, plus scheduling slack on a loaded machine.
      assertThat(elapsed).isBetween(Duration.ofMillis(250), Duration.ofMillis(4000));
      assertThat(KMS.requests()).hasSizeBetween(1, ATTEMPTS);
    }
  }

  @Test
  void anInterruptedCallerGetsKmsUnavailableAndKeepsItsInterruptFlag() {
    URI cmk = FakeAwsKms.cmk(KMS.createKey());
    Thread.currentThread().interrupt();
    Throwable thrown;
    boolean stillInterrupted;
    try {
      thrown = catchThrowable(() -> PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT));
    } finally {
      stillInterrupted = Thread.interrupted(); // and clear it for the next test
    }

    assertThat(thrown)
        .isInstanceOf(KmsUnavailableException.class)
        .hasCauseInstanceOf(AbortedException.class)
        .hasMessageContaining("interrupted");
    assertThat(stillInterrupted).isTrue();
  }

  @Test
  void aRefusedConnectionGivesKmsUnavailableAfterTheRetries() throws IOException {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    try (AwsKmsProvider provider =
        KMS.providerBuilder(ATTEMPTS)
            .endpointOverride(URI.create("http://127.0.0.1:" + closedPort))
            .build()) {
      URI cmk = FakeAwsKms.cmk(KMS.createKey());

      assertThatThrownBy(() -> provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT))
          .isInstanceOf(KmsUnavailableException.class)
          .hasCauseInstanceOf(SdkClientException.class)
          .hasMessageContaining(cmk.toString())
          .hasMessageContaining("no answer")
          .hasMessageContaining("Attempt Count: " + ATTEMPTS);
    }
  }

  @Test
  void aRequestSignedWithTheWrongSecretIsRefusedAsAccessDenied() {
    try (AwsKmsProvider provider =
        KMS.providerBuilder(ATTEMPTS)
            .credentialsProvider(
                StaticCredentialsProvider.create(
                    AwsBasicCredentials.create(FakeAwsKms.ACCESS_KEY_ID, "a-wrong-secret")))
            .build()) {
      URI cmk = FakeAwsKms.cmk(KMS.createKey());
      KMS.clearRequests();

      assertThatThrownBy(() -> provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasCauseInstanceOf(KmsException.class)
          .hasMessageContaining("InvalidSignatureException")
          .hasMessageContaining("credentials");
      assertThat(KMS.requests()).hasSize(1);
    }
  }

  @Test
  void aResponseNamingAnotherKeyIsDiscarded() {
    URI cmk = FakeAwsKms.cmk(KMS.createKey());
    String otherKeyArn = FakeAwsKms.keyArn(KMS.createKey());
    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    KMS.answerWithKeyId(otherKeyArn);

    assertThatThrownBy(() -> PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(cmk.toString())
        .hasMessageContaining(otherKeyArn)
        .hasMessageContaining("discarded");
    assertThatThrownBy(() -> PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining("Encrypt");
  }

  private static String arnOf(URI cmk) {
    return cmk.toString().substring("aws-kms://".length());
  }

  private static void assertNoKeyBytes(String message) {
    assertThat(message)
        .doesNotContainIgnoringCase(HexFormat.of().formatHex(PLAINTEXT))
        .doesNotContain(Base64.getEncoder().encodeToString(PLAINTEXT));
  }
}
