package dev.keymanager.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link KmsProvider} must show, as an abstract JUnit 5 suite: a KMS module's
 * test extends it, implements the hooks, and inherits the tests.
 *
 * <pre>{@code
 * class AwsKmsProviderTest extends KmsProviderContract {
 *   private final AwsKmsProvider provider = ...;   // a field: fresh for every test
 *   protected KmsProvider provider() { return provider; }
 *   protected URI cmk() { return URI.create("aws-kms://arn:aws:kms:...:key/A"); }
 *   ...
 * }
 * }</pre>
 *
 * <p>JUnit makes a new instance of the test class for every test, and this class's {@code
 * BeforeEach} method runs before the subclass's, so hooks must work as soon as the instance exists:
 * initialise in field initialisers or the constructor, or return shared state from static fields.
 * {@link #provider()}, {@link #cmk()} and {@link #otherCmk()} are called once per test, in {@code
 * BeforeEach}, and their values reused throughout it; the other hooks only by the tests that need
 * them.
 *
 * <p>The suite needs a provider that wraps ({@link KmsProvider#wrapper(URI)} present for {@link
 * #cmk()} and {@link #otherCmk()}), since it makes its own ciphertext. Plaintexts are 16 to 64
 * bytes; the key contexts are small.
 *
 * <p>Ciphertext of another CMK: vendors differ in how they refuse it, and the suite accepts either
 * {@link InvalidCiphertextException} or {@link KeyAccessDeniedException}. The fake answers {@code
 * InvalidCiphertextException} (authentication fails). GCP Cloud KMS answers {@code
 * INVALID_ARGUMENT}, which its module maps to {@code InvalidCiphertextException}. AWS KMS answers
 * {@code IncorrectKeyException} when the request pins a key id, which its module maps to {@code
 * KeyAccessDeniedException}, as the AWS error table of the README says. A module gives the type its
 * vendor's answer fits and says so in its provider's javadoc.
 */
public abstract class KmsProviderContract {
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");
  private static final KeyContext OTHER_CONTEXT = KeyContext.of("tenant", "globex");

  private KmsProvider provider;
  private URI cmk;
  private URI otherCmk;
  private final List<URI> revoked = new ArrayList<>();

  /** For subclasses. */
  protected KmsProviderContract() {}

  /**
   * The provider under test. May return an instance shared by every test; the suite never closes
   * it. Called once per test.
   */
  protected abstract KmsProvider provider();

  /** A CMK the provider can wrap and unwrap with, of the provider's scheme. */
  protected abstract URI cmk();

  /** A second usable CMK, different from {@link #cmk()}, of the same scheme. */
  protected abstract URI otherCmk();

  /**
   * Makes the KMS refuse {@code cmk} from now on, as a customer would by disabling the key or
   * withdrawing access; later unwraps and wraps with it must fail with {@link
   * KeyAccessDeniedException}. Called at most once per test, with {@link #cmk()}; {@link
   * #restore(URI)} is called after the test.
   */
  protected abstract void revoke(URI cmk);

  /**
   * Undoes {@link #revoke(URI)} after a test, so the next test can use the CMK. The default does
   * nothing, which suits a subclass whose provider or CMK is fresh for every test; override it when
   * they are shared.
   */
  protected void restore(URI cmk) {}

  /**
   * Makes the next unwrap or wrap call, as the caller sees it, fail with a transient, retryable
   * error; the call after it must succeed. A provider that retries internally must see every
   * attempt of that one call fail (for example, a stubbed transport answering 503 as many times as
   * the provider retries), so that it gives up with {@link KmsUnavailableException}.
   */
  protected abstract void failNextCallTransiently();

  /**
   * A URI of the provider's scheme that it must reject as malformed with {@link
   * KeyManagerConfigException}, such as a missing key id or a stray path or query.
   */
  protected abstract URI malformedUri();

  @BeforeEach
  final void resolveHooks() {
    provider = provider();
    cmk = cmk();
    otherCmk = otherCmk();
    assertThat(provider).as("provider()").isNotNull();
    assertThat(cmk).as("cmk()").isNotNull();
    assertThat(otherCmk).as("otherCmk()").isNotNull().isNotEqualTo(cmk);
  }

  @AfterEach
  final void restoreRevokedCmks() {
    for (URI uri : revoked) {
      restore(uri);
    }
    revoked.clear();
  }

  @Test
  void roundTripReturnsTheSameBytes() {
    for (int size : new int[] {16, 32, 64}) {
      byte[] plaintext = plaintext(size);

      byte[] ciphertext = wrapper(cmk).wrap(plaintext, CONTEXT);

      assertThat(unwrapper(cmk).unwrap(ciphertext, CONTEXT))
          .as("%d bytes", size)
          .isEqualTo(plaintext);
    }
  }

  @Test
  void wrapDoesNotModifyTheCallersArray() {
    byte[] plaintext = plaintext(32);

    wrapper(cmk).wrap(plaintext, CONTEXT);

    assertThat(plaintext).isEqualTo(plaintext(32));
  }

  @Test
  void ciphertextDiffersFromPlaintextAndBetweenWraps() {
    byte[] plaintext = plaintext(32);

    byte[] first = wrapper(cmk).wrap(plaintext, CONTEXT);
    byte[] second = wrapper(cmk).wrap(plaintext, CONTEXT);

    assertThat(first).isNotEqualTo(plaintext).isNotEqualTo(second);
    assertThat(second).isNotEqualTo(plaintext);
  }

  @Test
  void unwrapWithAnotherContextFails() {
    byte[] ciphertext = wrapper(cmk).wrap(plaintext(32), CONTEXT);

    assertThatThrownBy(() -> unwrapper(cmk).unwrap(ciphertext, OTHER_CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class);
    assertThatThrownBy(() -> unwrapper(cmk).unwrap(ciphertext, KeyContext.empty()))
        .isInstanceOf(InvalidCiphertextException.class);
  }

  @Test
  void tamperedCiphertextFailsAndNeverYieldsPlaintext() {
    byte[] ciphertext = wrapper(cmk).wrap(plaintext(32), CONTEXT);
    int last = ciphertext.length - 1;

    for (int position : new int[] {0, 1, last / 2, last - 1, last}) {
      byte[] tampered = ciphertext.clone();
      tampered[position] ^= 0x01;

      assertThatThrownBy(() -> unwrapper(cmk).unwrap(tampered, CONTEXT))
          .as("bit flipped at byte %d of %d", position, ciphertext.length)
          .isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void truncatedCiphertextFails() {
    byte[] ciphertext = wrapper(cmk).wrap(plaintext(32), CONTEXT);

    for (int length : new int[] {0, 1, ciphertext.length / 2, ciphertext.length - 1}) {
      byte[] truncated = Arrays.copyOf(ciphertext, length);

      assertThatThrownBy(() -> unwrapper(cmk).unwrap(truncated, CONTEXT))
          .as("truncated to %d of %d bytes", length, ciphertext.length)
          .isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void ciphertextOfAnotherCmkDoesNotUnwrap() {
    byte[] ciphertext = wrapper(otherCmk).wrap(plaintext(32), CONTEXT);

    assertThatThrownBy(() -> unwrapper(cmk).unwrap(ciphertext, CONTEXT))
        .isInstanceOfAny(InvalidCiphertextException.class, KeyAccessDeniedException.class);
  }

  @Test
  void revokedCmkRefusesUnwrapWithItsUri() {
    byte[] ciphertext = wrapper(cmk).wrap(plaintext(32), CONTEXT);

    revokeCmk();

    KeyAccessDeniedException e =
        catchThrowableOfType(
            KeyAccessDeniedException.class, () -> unwrapper(cmk).unwrap(ciphertext, CONTEXT));
    assertThat(e).as("unwrap under a revoked CMK").isNotNull();
    assertThat(e.isRetryable()).isFalse();
    assertThat(e).hasMessageContaining(cmk.toString());
  }

  @Test
  void revokedCmkRefusesWrapWithItsUri() {
    KmsWrapper wrapper = wrapper(cmk);

    revokeCmk();

    KeyAccessDeniedException e =
        catchThrowableOfType(
            KeyAccessDeniedException.class, () -> wrapper.wrap(plaintext(32), CONTEXT));
    assertThat(e).as("wrap under a revoked CMK").isNotNull();
    assertThat(e.isRetryable()).isFalse();
    assertThat(e).hasMessageContaining(cmk.toString());
  }

  @Test
  void revokingOneCmkLeavesTheOtherUsable() {
    revokeCmk();

    byte[] ciphertext = wrapper(otherCmk).wrap(plaintext(32), CONTEXT);

    assertThat(unwrapper(otherCmk).unwrap(ciphertext, CONTEXT)).isEqualTo(plaintext(32));
  }

  @Test
  void transientUnwrapFailureIsRetryableAndTheNextCallSucceeds() {
    byte[] ciphertext = wrapper(cmk).wrap(plaintext(32), CONTEXT);
    KmsUnwrapper unwrapper = unwrapper(cmk);

    failNextCallTransiently();

    KmsUnavailableException e =
        catchThrowableOfType(
            KmsUnavailableException.class, () -> unwrapper.unwrap(ciphertext, CONTEXT));
    assertThat(e).as("unwrap during a transient failure").isNotNull();
    assertThat(e.isRetryable()).isTrue();
    assertThat(unwrapper.unwrap(ciphertext, CONTEXT)).isEqualTo(plaintext(32));
  }

  @Test
  void transientWrapFailureIsRetryableAndTheNextCallSucceeds() {
    KmsWrapper wrapper = wrapper(cmk);

    failNextCallTransiently();

    KmsUnavailableException e =
        catchThrowableOfType(
            KmsUnavailableException.class, () -> wrapper.wrap(plaintext(32), CONTEXT));
    assertThat(e).as("wrap during a transient failure").isNotNull();
    assertThat(e.isRetryable()).isTrue();
    byte[] ciphertext = wrapper.wrap(plaintext(32), CONTEXT);
    assertThat(unwrapper(cmk).unwrap(ciphertext, CONTEXT)).isEqualTo(plaintext(32));
  }

  @Test
  void malformedUriIsAConfigurationError() {
    URI malformed = malformedUri();

    assertThat(malformed.getScheme()).isEqualToIgnoringCase(provider.scheme());
    assertThatThrownBy(() -> provider.unwrapper(malformed))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining(provider.scheme());
    assertThatThrownBy(() -> provider.wrapper(malformed))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining(provider.scheme());
  }

  @Test
  void schemeIsTheSchemeOfTheCmk() {
    assertThat(provider.scheme()).isEqualTo(cmk.getScheme()).isLowerCase();
  }

  @Test
  void unwrapperAndWrapperNameTheirCmk() {
    assertThat(unwrapper(cmk).cmkUri()).isEqualTo(cmk);
    assertThat(wrapper(cmk).cmkUri()).isEqualTo(cmk);
  }

  @Test
  void unwrappedArrayBelongsToTheCaller() {
    byte[] ciphertext = wrapper(cmk).wrap(plaintext(32), CONTEXT);
    byte[] first = unwrapper(cmk).unwrap(ciphertext, CONTEXT);

    Arrays.fill(first, (byte) 0);

    assertThat(unwrapper(cmk).unwrap(ciphertext, CONTEXT)).isEqualTo(plaintext(32));
  }

  private void revokeCmk() {
    revoked.add(cmk);
    revoke(cmk);
  }

  private KmsUnwrapper unwrapper(URI uri) {
    return provider.unwrapper(uri);
  }

  private KmsWrapper wrapper(URI uri) {
    return provider
        .wrapper(uri)
        .orElseThrow(
            () -> new AssertionError("this suite needs a provider that wraps; none for " + uri));
  }

  /** Distinct, recognisable bytes: 1, 2, 3, ... */
  private static byte[] plaintext(int size) {
    byte[] bytes = new byte[size];
    for (int i = 0; i < size; i++) {
      bytes[i] = (byte) (i + 1);
    }
    return bytes;
  }
}
