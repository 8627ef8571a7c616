package dev.keymanager.kms.gcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.google.api.gax.rpc.ApiException;
import com.google.api.gax.rpc.StatusCode;
import com.google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import io.grpc.Status;
import java.net.URI;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every row of the README's error table, through the real client: first each gRPC status injected
 * on Encrypt and on Decrypt, then the same rows reached the way Cloud KMS reaches them (a disabled
 * or destroyed version, a missing key, a removed permission, a wrong context, a server that never
 * answers, a server that is gone).
 */
class ErrorMappingTest {
  private static final FakeCloudKms KMS = FakeCloudKms.inProcess();
  private static final URI CMK = KMS.createKey("errors", "ring", "cmk");
  private static final GcpKmsProvider PROVIDER = KMS.providerBuilder().build();
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");
  private static final int ATTEMPTS = 3; // providerBuilder()'s maxAttempts

  private static final byte[] KEK = new byte[32];
  private static final byte[] WRAPPED = PROVIDER.wrapper(CMK).orElseThrow().wrap(KEK, CONTEXT);

  @AfterEach
  void restoreKey() {
    KMS.setState(CMK, 1, CryptoKeyVersionState.ENABLED);
    KMS.allow(CMK);
  }

  @AfterAll
  static void stop() {
    PROVIDER.close();
    KMS.close();
  }

  enum Op {
    WRAP,
    UNWRAP
  }

  static Stream<Arguments> injectedStatuses() {
    return Stream.of(
        row(Status.Code.PERMISSION_DENIED, Op.WRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.PERMISSION_DENIED, Op.UNWRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.UNAUTHENTICATED, Op.WRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.UNAUTHENTICATED, Op.UNWRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.FAILED_PRECONDITION, Op.WRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.FAILED_PRECONDITION, Op.UNWRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.NOT_FOUND, Op.WRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.NOT_FOUND, Op.UNWRAP, KeyAccessDeniedException.class, 1),
        row(Status.Code.INVALID_ARGUMENT, Op.UNWRAP, InvalidCiphertextException.class, 1),
        row(Status.Code.INVALID_ARGUMENT, Op.WRAP, KeyManagerConfigException.class, 1),
        row(Status.Code.UNIMPLEMENTED, Op.WRAP, KeyManagerConfigException.class, 1),
        row(Status.Code.UNIMPLEMENTED, Op.UNWRAP, KeyManagerConfigException.class, 1),
        row(Status.Code.UNAVAILABLE, Op.WRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.UNAVAILABLE, Op.UNWRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.DEADLINE_EXCEEDED, Op.WRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.DEADLINE_EXCEEDED, Op.UNWRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.RESOURCE_EXHAUSTED, Op.WRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.RESOURCE_EXHAUSTED, Op.UNWRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.INTERNAL, Op.WRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.INTERNAL, Op.UNWRAP, KmsUnavailableException.class, ATTEMPTS),
        row(Status.Code.ABORTED, Op.UNWRAP, KmsUnavailableException.class, 1),
        row(Status.Code.UNKNOWN, Op.UNWRAP, KmsUnavailableException.class, 1),
        row(Status.Code.CANCELLED, Op.WRAP, KmsUnavailableException.class, 1),
        row(Status.Code.DATA_LOSS, Op.UNWRAP, KmsUnavailableException.class, 1));
  }

  private static Arguments row(
      Status.Code code, Op op, Class<? extends KeyManagerException> expected, int calls) {
    return Arguments.of(code, op, expected, calls);
  }

  @ParameterizedTest(name = "{0} on {1} -> {2}, {3} call(s)")
  @MethodSource("injectedStatuses")
  void eachStatusMapsToItsExceptionWithTheCauseKept(
      Status.Code code, Op op, Class<? extends KeyManagerException> expected, int calls) {
    KMS.failNext(ATTEMPTS, Status.fromCode(code).withDescription("injected " + code));
    int before = calls(op);

    Throwable thrown = catchThrowable(() -> call(op));

    assertThat(thrown).isInstanceOf(expected).hasMessageContaining(CMK.toString());
    KeyManagerException e = (KeyManagerException) thrown;
    assertThat(e.isRetryable()).isEqualTo(expected == KmsUnavailableException.class);
    if (e instanceof KmsUnavailableException u) {
      // Only the quota status marks a call throttled, so the key manager backs off for it alone.
      assertThat(u.isThrottled()).isEqualTo(code == Status.Code.RESOURCE_EXHAUSTED);
    }
    assertThat(e.getCause()).isInstanceOf(ApiException.class);
    assertThat(((ApiException) e.getCause()).getStatusCode().getCode().name())
        .isEqualTo(code.name());
    assertThat(calls(op) - before).as("attempts").isEqualTo(calls);
    KMS.clearFaults(); // a call that was not retried leaves injected faults unused
  }

  @Test
  void disabledKeyVersionIsDeniedForWrapAndUnwrap() {
    KMS.setState(CMK, 1, CryptoKeyVersionState.DISABLED);

    assertDenied(Op.WRAP, StatusCode.Code.FAILED_PRECONDITION, "current state is: DISABLED");
    assertDenied(Op.UNWRAP, StatusCode.Code.FAILED_PRECONDITION, "current state is: DISABLED");
  }

  @Test
  void destroyedKeyVersionIsDenied() {
    KMS.setState(CMK, 1, CryptoKeyVersionState.DESTROYED);

    assertDenied(Op.UNWRAP, StatusCode.Code.FAILED_PRECONDITION, "current state is: DESTROYED");
  }

  @Test
  void removedPermissionIsDenied() {
    KMS.deny(CMK);

    assertDenied(Op.UNWRAP, StatusCode.Code.PERMISSION_DENIED, "useToDecrypt");
    assertDenied(Op.WRAP, StatusCode.Code.PERMISSION_DENIED, "useToEncrypt");
  }

  @Test
  void missingKeyIsDenied() {
    URI missing =
        URI.create("gcp-kms://projects/errors/locations/global/keyRings/ring/cryptoKeys/gone");

    Throwable thrown = catchThrowable(() -> PROVIDER.unwrapper(missing).unwrap(WRAPPED, CONTEXT));

    assertThat(thrown)
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(missing.toString())
        .hasCauseInstanceOf(com.google.api.gax.rpc.NotFoundException.class);
  }

  @Test
  void wrongContextIsInvalidCiphertext() {
    Throwable thrown =
        catchThrowable(
            () -> PROVIDER.unwrapper(CMK).unwrap(WRAPPED, KeyContext.of("tenant", "globex")));

    assertThat(thrown)
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining(CMK.toString())
        .hasCauseInstanceOf(com.google.api.gax.rpc.InvalidArgumentException.class);
    assertThat(thrown.getCause()).hasMessageContaining("Decryption failed");
  }

  @Test
  void serverThatNeverAnswersHitsTheDeadlineAfterBoundedAttempts() {
    try (GcpKmsProvider quick =
        KMS.providerBuilder()
            .attemptTimeout(Duration.ofMillis(100))
            .totalTimeout(Duration.ofMillis(400))
            .build()) {
      KMS.hangNext(ATTEMPTS);
      int before = KMS.decryptCalls();
      long start = System.nanoTime();

      Throwable thrown = catchThrowable(() -> quick.unwrapper(CMK).unwrap(WRAPPED, CONTEXT));

      Duration took = Duration.ofNanos(System.nanoTime() - start);
      assertThat(thrown)
          .isInstanceOf(KmsUnavailableException.class)
          .hasCauseInstanceOf(com.google.api.gax.rpc.DeadlineExceededException.class);
      assertThat(KMS.decryptCalls() - before).isBetween(1, ATTEMPTS);
      assertThat(took).isLessThan(Duration.ofSeconds(3));
      KMS.clearFaults();
    }
  }

  @Test
  void defaultRetriesGiveUpAfterFourAttemptsInUnderASecondOfBackoff() {
    // Every retry setting at its default; only credentials and transport point at the fake.
    try (GcpKmsProvider defaults =
        GcpKmsProvider.builder()
            .credentials(com.google.api.gax.core.NoCredentialsProvider.create())
            .transportChannelProvider(KMS.providerBuilderTransport())
            .build()) {
      KMS.failNext(10, Status.UNAVAILABLE.withDescription("down"));
      int before = KMS.decryptCalls();
      long start = System.nanoTime();

      Throwable thrown = catchThrowable(() -> defaults.unwrapper(CMK).unwrap(WRAPPED, CONTEXT));

      Duration took = Duration.ofNanos(System.nanoTime() - start);
      assertThat(thrown).isInstanceOf(KmsUnavailableException.class);
      assertThat(KMS.decryptCalls() - before).isEqualTo(GcpKmsProvider.DEFAULT_MAX_ATTEMPTS);
      // Backoff is at most 100 + 200 + 400 ms (jittered below that); the rest is a loaded CI box.
      assertThat(took).isLessThan(Duration.ofSeconds(5));
    } finally {
      KMS.clearFaults();
    }
  }

  @Test
  void serverThatIsGoneIsUnavailable() {
    FakeCloudKms gone = FakeCloudKms.onLoopback();
    URI cmk = gone.createKey("errors", "ring", "gone");
    try (GcpKmsProvider provider = gone.providerBuilder().build()) {
      byte[] wrapped = provider.wrapper(cmk).orElseThrow().wrap(KEK, CONTEXT);
      gone.close();

      Throwable thrown = catchThrowable(() -> provider.unwrapper(cmk).unwrap(wrapped, CONTEXT));

      assertThat(thrown)
          .isInstanceOf(KmsUnavailableException.class)
          .hasMessageContaining(cmk.toString())
          .hasCauseInstanceOf(com.google.api.gax.rpc.UnavailableException.class);
      assertThat(((KeyManagerException) thrown).isRetryable()).isTrue();
    }
  }

  private static void assertDenied(Op op, StatusCode.Code code, String serverSays) {
    Throwable thrown = catchThrowable(() -> call(op));

    assertThat(thrown)
        .as("%s", op)
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(CMK.toString())
        .hasMessageContaining(serverSays);
    assertThat(((ApiException) thrown.getCause()).getStatusCode().getCode()).isEqualTo(code);
  }

  private static void call(Op op) {
    if (op == Op.WRAP) {
      PROVIDER.wrapper(CMK).orElseThrow().wrap(KEK, CONTEXT);
    } else {
      PROVIDER.unwrapper(CMK).unwrap(WRAPPED, CONTEXT);
    }
  }

  private static int calls(Op op) {
    return op == Op.WRAP ? KMS.encryptCalls() : KMS.decryptCalls();
  }
}
