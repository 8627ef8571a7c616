package dev.keymanager.kms.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.azure.core.exception.ClientAuthenticationException;
import com.azure.core.exception.HttpResponseException;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.kms.azure.WrappedBlob.Algorithm;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;

/**
 * Every row of the README's error table, produced by the fake Key Vault and observed through the
 * real CryptographyClient: the exception type, its retryability, the CMK in the message, the SDK's
 * exception kept as the cause, and how many requests the SDK's retry policy made.
 */
class ErrorMappingTest {
  private static final FakeKeyVault KV = new FakeKeyVault();
  private static final AzureKeyVaultKmsProvider PROVIDER = TestProviders.builder(KV).build();
  private static final AtomicInteger KEYS = new AtomicInteger();
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");
  private static final byte[] PLAINTEXT = new byte[32];

  @AfterAll
  static void stop() {
    PROVIDER.close();
    KV.close();
  }

  @AfterEach
  void reset() {
    KV.clearFaults();
    KV.denyAccess(false);
    KV.rejectTokens(false);
  }

  /** A fresh RSA key, so no test sees another's state. */
  private static URI newKey() {
    String name = "key-" + KEYS.incrementAndGet();
    KV.addRsaVersion(name);
    return URI.create("azure-kv://errors.vault.azure.net/keys/" + name);
  }

  private static String name(URI cmk) {
    String p = cmk.getPath();
    return p.substring(p.lastIndexOf('/') + 1);
  }

  private static byte[] wrap(URI cmk) {
    return PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
  }

  private static byte[] unwrap(URI cmk, byte[] blob) {
    return PROVIDER.unwrapper(cmk).unwrap(blob, CONTEXT);
  }

  private static <T extends KeyManagerException> T expect(
      Class<T> type, URI cmk, org.assertj.core.api.ThrowableAssert.ThrowingCallable call) {
    T e = catchThrowableOfType(type, call);
    assertThat(e).as("expected %s", type.getSimpleName()).isNotNull();
    assertThat(e).hasMessageContaining(cmk.toString());
    return e;
  }

  private static int statusOfCause(Throwable e) {
    assertThat(e.getCause()).isInstanceOf(HttpResponseException.class);
    return ((HttpResponseException) e.getCause()).getResponse().getStatusCode();
  }

  @Test
  void firstRequestMeetsTheBearerChallengeThenCarriesTheToken() {
    FakeKeyVault kv = new FakeKeyVault();
    try (AzureKeyVaultKmsProvider provider = TestProviders.builder(kv).build()) {
      kv.addRsaVersion("kek");
      URI cmk = URI.create("azure-kv://challenge.vault.azure.net/keys/kek");

      byte[] blob = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      assertThat(provider.unwrapper(cmk).unwrap(blob, CONTEXT)).isEqualTo(PLAINTEXT);

      List<FakeKeyVault.Request> seen = kv.requests();
      assertThat(seen.get(0).authorized()).isFalse();
      assertThat(seen.get(0).status()).isEqualTo(401);
      assertThat(seen.subList(1, seen.size())).allMatch(FakeKeyVault.Request::authorized);
      assertThat(seen)
          .filteredOn(r -> r.authorized() && r.method().equals("GET"))
          .as("one key GET, by the wrap's usability check")
          .hasSize(1);
      assertThat(kv.requests("POST", "/wrapkey")).hasSize(1);
      assertThat(kv.requests("POST", "/unwrapkey")).hasSize(1);
    } finally {
      kv.close();
    }
  }

  @Test
  void rejectedTokenIs401AndAccessDenied() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.rejectTokens(true);

    KeyAccessDeniedException u =
        expect(KeyAccessDeniedException.class, cmk, () -> unwrap(cmk, blob));
    KeyAccessDeniedException w = expect(KeyAccessDeniedException.class, cmk, () -> wrap(cmk));

    assertThat(statusOfCause(u)).isEqualTo(401);
    assertThat(statusOfCause(w)).isEqualTo(401);
    assertThat(u.isRetryable()).isFalse();
  }

  @Test
  void forbiddenByPolicyIs403AndAccessDenied() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.denyAccess(true);

    KeyAccessDeniedException u =
        expect(KeyAccessDeniedException.class, cmk, () -> unwrap(cmk, blob));
    KeyAccessDeniedException w = expect(KeyAccessDeniedException.class, cmk, () -> wrap(cmk));

    assertThat(statusOfCause(u)).isEqualTo(403);
    assertThat(statusOfCause(w)).isEqualTo(403);
    assertThat(u).hasMessageContaining("ForbiddenByPolicy");
  }

  @Test
  void disabledKeyRefusesUnwrapAndWrapIsRefusedBeforeKeyVaultWouldAllowIt() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.setEnabled(name(cmk), false);
    KV.clearRequests();

    KeyAccessDeniedException u =
        expect(KeyAccessDeniedException.class, cmk, () -> unwrap(cmk, blob));
    KeyAccessDeniedException w = expect(KeyAccessDeniedException.class, cmk, () -> wrap(cmk));

    assertThat(statusOfCause(u)).isEqualTo(403);
    assertThat(u).hasMessageContaining("KeyDisabled");
    assertThat(w).hasMessageContaining("is disabled");
    assertThat(KV.requests("POST", "/wrapkey")).as("no wrap under a disabled key").isEmpty();
  }

  @Test
  void expiredKeyRefusesWrapButOldKeysStillUnwrap() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.setExpires(name(cmk), Instant.now().minusSeconds(60));

    KeyAccessDeniedException w = expect(KeyAccessDeniedException.class, cmk, () -> wrap(cmk));

    assertThat(w).hasMessageContaining("expired");
    assertThat(unwrap(cmk, blob)).isEqualTo(PLAINTEXT);
  }

  @Test
  void keyBeforeItsActivationDateIsAccessDenied() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.setNotBefore(name(cmk), Instant.now().plusSeconds(3600));

    KeyAccessDeniedException u =
        expect(KeyAccessDeniedException.class, cmk, () -> unwrap(cmk, blob));
    KeyAccessDeniedException w = expect(KeyAccessDeniedException.class, cmk, () -> wrap(cmk));

    assertThat(statusOfCause(u)).isEqualTo(403);
    assertThat(w).hasMessageContaining("not active before");
  }

  @Test
  void deletedKeyIs404AndAccessDenied() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.delete(name(cmk));

    KeyAccessDeniedException u =
        expect(KeyAccessDeniedException.class, cmk, () -> unwrap(cmk, blob));
    KeyAccessDeniedException w = expect(KeyAccessDeniedException.class, cmk, () -> wrap(cmk));

    assertThat(statusOfCause(u)).isEqualTo(404);
    assertThat(statusOfCause(w)).isEqualTo(404);
    assertThat(u).hasMessageContaining("not found");
  }

  @Test
  void pinnedVersionThatDoesNotExistIs404AndAccessDenied() {
    URI key = newKey();
    URI cmk = URI.create(key + "/00000000000000000000000000000000");

    KeyAccessDeniedException w = expect(KeyAccessDeniedException.class, cmk, () -> wrap(cmk));

    assertThat(statusOfCause(w)).isEqualTo(404);
  }

  @Test
  void wrappedKeyThatKeyVaultCannotDecryptIs400AndInvalidCiphertextWithoutRetries() {
    URI cmk = newKey();
    WrappedBlob good = WrappedBlob.parse(wrap(cmk));
    byte[] garbage = new byte[256];
    garbage[0] = 0x5a;
    byte[] forged =
        WrappedBlob.seal(
            Algorithm.RSA_OAEP_256,
            name(cmk),
            good.keyVersion(),
            garbage,
            new byte[32],
            new byte[12],
            PLAINTEXT,
            CONTEXT);
    KV.clearRequests();

    InvalidCiphertextException e =
        expect(InvalidCiphertextException.class, cmk, () -> unwrap(cmk, forged));

    assertThat(statusOfCause(e)).isEqualTo(400);
    assertThat(KV.requests("POST", "/unwrapkey")).hasSize(1);
  }

  @Test
  void badRequestOnWrapIsAConfigurationError() {
    URI cmk = newKey();
    KV.failNext(1, 400, "BadParameter", Map.of());

    KeyManagerConfigException e = expect(KeyManagerConfigException.class, cmk, () -> wrap(cmk));

    assertThat(statusOfCause(e)).isEqualTo(400);
  }

  @Test
  void throttlingIsRetriedThenUnavailableNamingTheRetryHint() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.clearRequests();
    KV.failNext(
        TestProviders.ATTEMPTS,
        429,
        "Throttled",
        Map.of("Retry-After", "0", "retry-after-ms", "150"));

    KmsUnavailableException e = expect(KmsUnavailableException.class, cmk, () -> unwrap(cmk, blob));

    assertThat(e.isRetryable()).isTrue();
    assertThat(statusOfCause(e)).isEqualTo(429);
    assertThat(e).hasMessageContaining("retry after 150 ms");
    assertThat(e.isThrottled()).isTrue();
    assertThat(e.retryAfter()).contains(java.time.Duration.ofMillis(150));
    List<FakeKeyVault.Request> attempts = KV.requests("POST", "/unwrapkey");
    assertThat(attempts).hasSize(TestProviders.ATTEMPTS);
    for (int i = 1; i < attempts.size(); i++) {
      long gapMillis = (attempts.get(i).nanoTime() - attempts.get(i - 1).nanoTime()) / 1_000_000;
      assertThat(gapMillis)
          .as("gap before attempt %d (fixed delay is 10 ms)", i + 1)
          .isGreaterThanOrEqualTo(140);
    }
  }

  @Test
  void retryAfterInSecondsIsHonouredAndTheRetrySucceeds() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.clearRequests();
    KV.failNext(1, 429, "Throttled", Map.of("Retry-After", "1"));

    assertThat(unwrap(cmk, blob)).isEqualTo(PLAINTEXT);

    List<FakeKeyVault.Request> attempts = KV.requests("POST", "/unwrapkey");
    assertThat(attempts).hasSize(2);
    long gapMillis = (attempts.get(1).nanoTime() - attempts.get(0).nanoTime()) / 1_000_000;
    assertThat(gapMillis).isGreaterThanOrEqualTo(950);
  }

  @Test
  void serverErrorsAndRequestTimeoutAreRetriedThenUnavailable() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    for (int status : new int[] {500, 502, 503, 504, 408}) {
      KV.clearRequests();
      KV.failNext(TestProviders.ATTEMPTS, status, "Injected", Map.of());

      KmsUnavailableException e =
          expect(KmsUnavailableException.class, cmk, () -> unwrap(cmk, blob));

      assertThat(statusOfCause(e)).as("status %d", status).isEqualTo(status);
      assertThat(e.isThrottled()).as("status %d is not throttling", status).isFalse();
      assertThat(KV.requests("POST", "/unwrapkey")).as("status %d", status).hasSize(3);
    }
    assertThat(unwrap(cmk, blob)).isEqualTo(PLAINTEXT);
  }

  @Test
  void responseTimeoutIsRetriedThenUnavailable() {
    FakeKeyVault kv = new FakeKeyVault();
    try (AzureKeyVaultKmsProvider provider =
        TestProviders.builder(kv).responseTimeout(Duration.ofMillis(300)).build()) {
      kv.addRsaVersion("kek");
      URI cmk = URI.create("azure-kv://slow.vault.azure.net/keys/kek");
      byte[] blob = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      kv.delayNext(TestProviders.ATTEMPTS, Duration.ofSeconds(2));

      KmsUnavailableException e =
          expect(
              KmsUnavailableException.class,
              cmk,
              () -> provider.unwrapper(cmk).unwrap(blob, CONTEXT));

      assertThat(e.isRetryable()).isTrue();
      assertThat(e).hasRootCauseInstanceOf(TimeoutException.class);
    } finally {
      kv.close();
    }
  }

  @Test
  void connectionRefusedIsUnavailable() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    try (AzureKeyVaultKmsProvider provider =
        AzureKeyVaultKmsProvider.builder()
            .credential(TestProviders.credential())
            .retryOptions(TestProviders.fastRetries())
            .endpointOverride(URI.create("https://127.0.0.1:" + port))
            .build()) {
      URI cmk = URI.create("azure-kv://gone.vault.azure.net/keys/kek");

      KmsUnavailableException e =
          expect(
              KmsUnavailableException.class,
              cmk,
              () -> provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT));

      assertThat(e.isRetryable()).isTrue();
    }
  }

  @Test
  void credentialThatCannotAuthenticateIsAccessDenied() {
    URI cmk = URI.create("azure-kv://nocred.vault.azure.net/keys/kek");
    KV.addRsaVersion("kek");
    try (AzureKeyVaultKmsProvider provider =
        TestProviders.builder(KV)
            .credential(
                ctx -> Mono.error(new ClientAuthenticationException("no identity found", null)))
            .build()) {

      KeyAccessDeniedException e =
          expect(
              KeyAccessDeniedException.class,
              cmk,
              () -> provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT));

      assertThat(e).hasMessageContaining("credential").hasMessageContaining("no identity found");
      assertThat(e.getCause()).isInstanceOf(ClientAuthenticationException.class);
    }
  }

  @Test
  void anyOtherStatusIsUnavailableWithoutRetries() {
    URI cmk = newKey();
    byte[] blob = wrap(cmk);
    KV.clearRequests();
    KV.failNext(1, 409, "Conflict", Map.of());

    KmsUnavailableException e = expect(KmsUnavailableException.class, cmk, () -> unwrap(cmk, blob));

    assertThat(statusOfCause(e)).isEqualTo(409);
    assertThat(KV.requests("POST", "/unwrapkey")).hasSize(1);
  }

  @Test
  void anUnexpectedClientFailureIsUnavailableWithItsCause() {
    URI cmk = URI.create("azure-kv://x.vault.azure.net/keys/k");
    IllegalStateException boom = new IllegalStateException("boom");

    KeyManagerException e = ErrorMapping.map(ErrorMapping.Operation.UNWRAP, cmk, boom);

    assertThat(e).isInstanceOf(KmsUnavailableException.class).hasCause(boom);
    assertThat(e).hasMessageContaining(cmk.toString()).hasMessageContaining("unwrapKey");
  }
}
