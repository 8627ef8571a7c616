package dev.keymanager.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URL;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class FakeKmsTest extends KmsProviderContract {
  private static final URI CMK = FakeKms.cmk("orders");
  private static final URI OTHER_CMK = FakeKms.cmk("payments");
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");
  private static final byte[] PLAINTEXT =
      HexFormat.of().parseHex("000102030405060708090a0b0c0d0e0f");

  /**
   * Made once by {@code new FakeKms().wrapper(fake-kms://golden).wrap(PLAINTEXT, tenant=acme)}:
   * format byte 1, nonce, ciphertext and tag. If this stops unwrapping, ciphertext that users'
   * tests stored stops unwrapping too.
   */
  private static final byte[] GOLDEN =
      HexFormat.of()
          .parseHex(
              "01215361435d399b593d6cf866c1406032caeb9a50deb18c51a0fad61d2011ccfc6720687bf3ff301f527862de");

  // A field, so every test (the inherited ones too) gets a fresh fake.
  private final FakeKms kms = new FakeKms();

  @Override
  protected KmsProvider provider() {
    return kms;
  }

  @Override
  protected URI cmk() {
    return CMK;
  }

  @Override
  protected URI otherCmk() {
    return OTHER_CMK;
  }

  @Override
  protected void revoke(URI cmk) {
    kms.disable(cmk);
  }

  @Override
  protected void failNextCallTransiently() {
    kms.failNextCalls(1);
  }

  @Override
  protected URI malformedUri() {
    return URI.create("fake-kms://orders/with/a/path");
  }

  @Test
  void countersCountEachOperationIncludingFailures() {
    byte[] ciphertext = wrap(CMK);
    wrap(OTHER_CMK);
    unwrapper(CMK).unwrap(ciphertext, CONTEXT);
    assertThatThrownBy(() -> unwrapper(CMK).unwrap(new byte[40], CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class);
    kms.failNextCalls(1);
    assertThatThrownBy(() -> wrap(CMK)).isInstanceOf(KmsUnavailableException.class);
    kms.disable(CMK);
    assertThatThrownBy(() -> unwrapper(CMK).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class);

    assertThat(kms.wrapCalls()).isEqualTo(3);
    assertThat(kms.unwrapCalls()).isEqualTo(3);
    assertThat(kms.calls()).isEqualTo(6);
  }

  @Test
  void resetCountsZeroesEveryCounter() {
    unwrapper(CMK).unwrap(wrap(CMK), CONTEXT);

    kms.resetCounts();

    assertThat(kms.wrapCalls()).isZero();
    assertThat(kms.unwrapCalls()).isZero();
    assertThat(kms.calls()).isZero();
  }

  @Test
  void concurrentCallsAllRoundTripAndAreAllCounted() throws Exception {
    int threads = 8;
    int callsPerThread = 200;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<Boolean>> results = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        URI cmk = t % 2 == 0 ? CMK : OTHER_CMK;
        results.add(
            pool.submit(
                () -> {
                  boolean allEqual = true;
                  for (int i = 0; i < callsPerThread; i++) {
                    allEqual &= Arrays.equals(unwrapper(cmk).unwrap(wrap(cmk), CONTEXT), PLAINTEXT);
                  }
                  return allEqual;
                }));
      }
      for (Future<Boolean> result : results) {
        assertThat(result.get(30, TimeUnit.SECONDS)).isTrue();
      }
    } finally {
      pool.shutdownNow();
    }

    assertThat(kms.wrapCalls()).isEqualTo((long) threads * callsPerThread);
    assertThat(kms.unwrapCalls()).isEqualTo((long) threads * callsPerThread);
  }

  @Test
  void failNextCallsFailsExactlyThatManyCallsOfAnyCmk() {
    byte[] ciphertext = wrap(CMK);

    kms.failNextCalls(3);

    assertThatThrownBy(() -> wrap(CMK)).isInstanceOf(KmsUnavailableException.class);
    assertThatThrownBy(() -> wrap(OTHER_CMK)).isInstanceOf(KmsUnavailableException.class);
    assertThatThrownBy(() -> unwrapper(CMK).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KmsUnavailableException.class)
        .hasMessageContaining(CMK.toString());
    assertThat(unwrapper(CMK).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void failAllCallsIsAnOutageUntilSwitchedOff() {
    byte[] ciphertext = wrap(CMK);

    kms.failAllCalls(true);

    for (int i = 0; i < 5; i++) {
      assertThatThrownBy(() -> unwrapper(CMK).unwrap(ciphertext, CONTEXT))
          .isInstanceOf(KmsUnavailableException.class);
    }
    kms.failAllCalls(false);
    assertThat(unwrapper(CMK).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void aThrottlingStormMarksEveryFailureThrottledWithTheHintUntilSwitchedOff() {
    byte[] ciphertext = wrap(CMK);
    kms.failNextCalls(1);

    kms.throttleAllCalls(true);
    KmsUnavailableException noHint =
        catchThrowableOfType(
            KmsUnavailableException.class, () -> unwrapper(CMK).unwrap(ciphertext, CONTEXT));
    kms.retryAfterHint(Duration.ofSeconds(3));
    KmsUnavailableException hinted =
        catchThrowableOfType(KmsUnavailableException.class, () -> wrap(CMK));

    assertThat(noHint.isThrottled()).isTrue();
    assertThat(noHint.retryAfter()).isEmpty();
    assertThat(noHint).hasMessageContaining(CMK.toString());
    assertThat(hinted.isThrottled()).isTrue();
    assertThat(hinted.retryAfter()).contains(Duration.ofSeconds(3));
    assertThat(kms.calls()).isEqualTo(3); // throttled calls count
    kms.throttleAllCalls(false);
    // The throttled calls did not use up failNextCalls: the next call still fails, not throttled.
    KmsUnavailableException plain =
        catchThrowableOfType(
            KmsUnavailableException.class, () -> unwrapper(CMK).unwrap(ciphertext, CONTEXT));
    assertThat(plain.isThrottled()).isFalse();
    assertThat(unwrapper(CMK).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);
    assertThatThrownBy(() -> kms.retryAfterHint(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void transientFailureIsCheckedBeforeCmkState() {
    kms.disable(CMK);
    kms.failNextCalls(1);

    assertThatThrownBy(() -> wrap(CMK)).isInstanceOf(KmsUnavailableException.class);
    assertThatThrownBy(() -> wrap(CMK)).isInstanceOf(KeyAccessDeniedException.class);
  }

  @Test
  void latencyDelaysEveryCall() {
    Duration delay = Duration.ofMillis(50);
    kms.latency(delay);

    long start = System.nanoTime();
    wrap(CMK);
    long elapsed = System.nanoTime() - start;

    assertThat(Duration.ofNanos(elapsed)).isGreaterThanOrEqualTo(delay);
  }

  @Test
  void negativeLatencyIsRejected() {
    assertThatThrownBy(() -> kms.latency(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void twoInstancesUnwrapEachOthersCiphertext() {
    FakeKms restarted = new FakeKms();

    byte[] ciphertext = wrap(CMK);

    assertThat(restarted.unwrapper(CMK).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void goldenCiphertextStillUnwraps() {
    assertThat(kms.unwrapper(FakeKms.cmk("golden")).unwrap(GOLDEN, CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void ciphertextCarriesFormatByteAndNonce() {
    byte[] ciphertext = wrap(CMK);

    assertThat(ciphertext[0]).isEqualTo(FakeKmsCipher.FORMAT);
    assertThat(ciphertext)
        .hasSize(1 + FakeKmsCipher.NONCE_LENGTH + PLAINTEXT.length + FakeKmsCipher.TAG_LENGTH);
  }

  @Test
  void unknownFormatByteIsNamed() {
    byte[] ciphertext = wrap(CMK);
    ciphertext[0] = 7;

    assertThatThrownBy(() -> unwrapper(CMK).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("unknown format byte 7");
  }

  @Test
  void disabledCmkSaysSoAndEnableRestoresIt() {
    byte[] ciphertext = wrap(CMK);

    kms.disable(CMK);
    assertThatThrownBy(() -> unwrapper(CMK).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(CMK + " is disabled");
    kms.enable(CMK);

    assertThat(unwrapper(CMK).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void deniedAccessIsRestoredByAllowAccess() {
    byte[] ciphertext = wrap(CMK);

    kms.denyAccess(CMK);
    assertThatThrownBy(() -> unwrapper(CMK).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining("denied access to CMK " + CMK);
    kms.allowAccess(CMK);

    assertThat(unwrapper(CMK).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void deleteIsPermanent() {
    byte[] ciphertext = wrap(CMK);

    kms.delete(CMK);
    kms.enable(CMK);
    kms.allowAccess(CMK);

    assertThatThrownBy(() -> unwrapper(CMK).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(CMK + " not found");
    assertThatThrownBy(() -> wrap(CMK))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining("not found");
  }

  @Test
  void switchesOfOneCmkLeaveOthersAlone() {
    kms.disable(CMK);
    kms.denyAccess(CMK);
    kms.delete(CMK);

    assertThat(unwrapper(OTHER_CMK).unwrap(wrap(OTHER_CMK), CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void malformedUrisAreRejectedNamingTheExpectedForm() {
    String[] malformed = {
      "fake-kms:orders",
      "fake-kms:///orders",
      "fake-kms://orders/",
      "fake-kms://orders?x=1",
      "fake-kms://orders#x",
      "fake-kms://user@orders",
      "fake-kms://orders:443",
      "fake-kms://ord%20ers",
      "fake-kms://" + "a".repeat(129),
      "aws-kms://orders",
    };
    for (String uri : malformed) {
      assertThatThrownBy(() -> kms.unwrapper(URI.create(uri)))
          .as(uri)
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("expected fake-kms://NAME");
      assertThatThrownBy(() -> kms.disable(URI.create(uri)))
          .as(uri)
          .isInstanceOf(KeyManagerConfigException.class);
    }
  }

  @Test
  void longestAndOddestValidNamesAreAccepted() {
    URI longest = FakeKms.cmk("a".repeat(128));
    URI odd = FakeKms.cmk("A.b_c-9");

    assertThat(unwrapper(longest).unwrap(wrap(longest), CONTEXT)).isEqualTo(PLAINTEXT);
    assertThat(unwrapper(odd).unwrap(wrap(odd), CONTEXT)).isEqualTo(PLAINTEXT);
  }

  @Test
  void cmkBuildsTheUriAndRejectsBadNames() {
    assertThat(FakeKms.cmk("orders")).isEqualTo(URI.create("fake-kms://orders"));
    assertThatThrownBy(() -> FakeKms.cmk("bad name"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected fake-kms://NAME");
  }

  @Test
  void toStringsAndMessagesContainNoKeyBytes() {
    byte[] key = FakeKmsCipher.deriveKey("orders");
    String hex = HexFormat.of().formatHex(key);
    String base64 = Base64.getEncoder().encodeToString(key);
    kms.disable(OTHER_CMK);
    byte[] ciphertext = wrap(CMK);
    ciphertext[5] ^= 1;
    Throwable tampered = catchUnwrap(CMK, ciphertext);

    for (String text :
        new String[] {
          kms.toString(),
          unwrapper(CMK).toString(),
          kms.wrapper(CMK).orElseThrow().toString(),
          String.valueOf(tampered),
          String.valueOf(catchUnwrap(OTHER_CMK, ciphertext)),
        }) {
      assertThat(text).doesNotContainIgnoringCase(hex).doesNotContain(base64);
    }
    assertThat(unwrapper(CMK).toString()).contains(CMK.toString());
  }

  @Test
  void closeIsIdempotentAndTheFakeKeepsWorking() {
    kms.close();
    kms.close();

    assertThatCode(() -> unwrapper(CMK).unwrap(wrap(CMK), CONTEXT)).doesNotThrowAnyException();
  }

  @Test
  void serviceLoaderFindsTheFake() {
    // On the module path ServiceLoader needs the caller's module to declare `uses`; the tests are
    // patched into dev.keymanager.testkit, which only provides. A no-op on the class path.
    FakeKmsTest.class.getModule().addUses(KmsProvider.class);

    assertThat(ServiceLoader.load(KmsProvider.class).stream().map(ServiceLoader.Provider::type))
        .contains(FakeKms.class);
  }

  @Test
  void fakeIsListedForClassPathUsers() throws IOException {
    String resource = "META-INF/services/" + KmsProvider.class.getName();
    List<String> listed = new ArrayList<>();
    for (URL url : Collections.list(FakeKms.class.getClassLoader().getResources(resource))) {
      try (InputStream in = url.openStream()) {
        listed.addAll(new String(in.readAllBytes(), UTF_8).lines().map(String::trim).toList());
      }
    }

    assertThat(listed).contains(FakeKms.class.getName());
  }

  private byte[] wrap(URI cmk) {
    KmsWrapper wrapper = kms.wrapper(cmk).orElseThrow();
    return wrapper.wrap(PLAINTEXT, CONTEXT);
  }

  private KmsUnwrapper unwrapper(URI cmk) {
    return kms.unwrapper(cmk);
  }

  private Throwable catchUnwrap(URI cmk, byte[] ciphertext) {
    Throwable thrown = catchThrowable(() -> unwrapper(cmk).unwrap(ciphertext, CONTEXT));
    assertThat(thrown).as("unwrap under %s", cmk).isNotNull();
    return thrown;
  }
}
