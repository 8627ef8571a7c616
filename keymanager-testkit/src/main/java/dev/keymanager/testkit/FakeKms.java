package dev.keymanager.testkit;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * An in-memory KMS for unit tests, serving CMK URIs {@code fake-kms://NAME}, with switches to
 * disable, delete or deny a CMK, add latency, inject transient failures and count calls.
 *
 * <p>A CMK exists as soon as it is named. Its 256-bit key is derived from its name alone, so two
 * {@code FakeKms} instances (for example before and after a simulated restart) unwrap each other's
 * ciphertext. Wrapping is AES-256-GCM with a random nonce; the CMK name and the {@link
 * KeyContext#encode() context encoding} are authenticated, so tampered bytes, bytes of another CMK
 * or another context fail with {@link dev.keymanager.InvalidCiphertextException}. <b>The keys are
 * derivable by anyone who knows the name: this class protects nothing and is for tests only.</b>
 *
 * <p>Every unwrap or wrap first counts itself, then checks, in this order: the {@linkplain
 * #latency(Duration) latency}, a {@linkplain #throttleAllCalls(boolean) throttling storm}, the
 * transient failures ({@link #failAllCalls(boolean)}, then {@link #failNextCalls(int)}), and the
 * CMK's state (deleted, disabled, access denied). Switches made by one thread apply to calls that
 * start after the switch returns. Getting an unwrapper or wrapper is not a call: it only checks the
 * URI.
 *
 * <pre>{@code
 * FakeKms kms = new FakeKms();
 * URI cmk = FakeKms.cmk("orders");
 * byte[] wrapped = kms.wrapper(cmk).orElseThrow().wrap(kek, context);
 * kms.disable(cmk);   // as a customer would: unwraps now throw KeyAccessDeniedException
 * }</pre>
 *
 * <p>Thread-safe. {@link #toString()} and exception messages never contain key bytes.
 */
public final class FakeKms implements KmsProvider {
  /** The URI scheme this provider serves. */
  public static final String SCHEME = "fake-kms";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,128}");
  private static final String EXPECTED_FORM =
      "expected fake-kms://NAME, NAME being 1 to 128 characters of A-Z a-z 0-9 . _ -,"
          + " with no path, query or fragment";

  private final Set<String> disabled = ConcurrentHashMap.newKeySet();
  private final Set<String> deleted = ConcurrentHashMap.newKeySet();
  private final Set<String> denied = ConcurrentHashMap.newKeySet();
  private final AtomicInteger failNext = new AtomicInteger();
  private final AtomicLong unwrapCalls = new AtomicLong();
  private final AtomicLong wrapCalls = new AtomicLong();
  private volatile boolean failAll;
  private volatile boolean throttleAll;
  private volatile Duration retryAfter = Duration.ZERO;
  private volatile Duration latency = Duration.ZERO;

  /** A fake with every CMK enabled, no latency, no failures and zero counts. */
  public FakeKms() {}

  /**
   * The URI {@code fake-kms://name}.
   *
   * @throws IllegalArgumentException if {@code name} is not 1 to 128 characters of {@code
   *     [A-Za-z0-9._-]}
   */
  public static URI cmk(String name) {
    requireNonNull(name, "name");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "invalid fake-kms CMK name '" + name + "': " + EXPECTED_FORM);
    }
    return URI.create(SCHEME + "://" + name);
  }

  /** Returns {@value #SCHEME}. */
  @Override
  public String scheme() {
    return SCHEME;
  }

  /**
   * An unwrapper for the CMK at {@code cmkUri}; its {@code cmkUri()} is that URI.
   *
   * @throws KeyManagerConfigException if the URI is not of the form {@code fake-kms://NAME}
   */
  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return new FakeKmsKey(this, cmkUri, nameOf(cmkUri));
  }

  /**
   * A wrapper for the CMK at {@code cmkUri}, never empty; its {@code cmkUri()} is that URI.
   *
   * @throws KeyManagerConfigException if the URI is not of the form {@code fake-kms://NAME}
   */
  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return Optional.of(new FakeKmsKey(this, cmkUri, nameOf(cmkUri)));
  }

  /**
   * Disables the CMK until {@link #enable(URI)}: unwrap and wrap then fail with {@link
   * KeyAccessDeniedException}, as AWS KMS answers {@code DisabledException}.
   *
   * @throws KeyManagerConfigException if the URI is malformed
   */
  public void disable(URI cmkUri) {
    disabled.add(nameOf(cmkUri));
  }

  /**
   * Re-enables a CMK that {@link #disable(URI)} disabled. Does not undo {@link #delete(URI)} or
   * {@link #denyAccess(URI)}.
   *
   * @throws KeyManagerConfigException if the URI is malformed
   */
  public void enable(URI cmkUri) {
    disabled.remove(nameOf(cmkUri));
  }

  /**
   * Deletes the CMK for good: unwrap and wrap fail with {@link KeyAccessDeniedException} saying it
   * was not found, and no switch brings it back. Its ciphertext is lost (crypto-shredding).
   *
   * @throws KeyManagerConfigException if the URI is malformed
   */
  public void delete(URI cmkUri) {
    deleted.add(nameOf(cmkUri));
  }

  /**
   * Revokes this caller's access to the CMK until {@link #allowAccess(URI)}: unwrap and wrap fail
   * with {@link KeyAccessDeniedException}, as when a key policy or grant is withdrawn.
   *
   * @throws KeyManagerConfigException if the URI is malformed
   */
  public void denyAccess(URI cmkUri) {
    denied.add(nameOf(cmkUri));
  }

  /**
   * Restores access that {@link #denyAccess(URI)} revoked.
   *
   * @throws KeyManagerConfigException if the URI is malformed
   */
  public void allowAccess(URI cmkUri) {
    denied.remove(nameOf(cmkUri));
  }

  /**
   * Makes every later unwrap and wrap, of any CMK, sleep {@code delay} before anything else. {@link
   * Duration#ZERO} (the default) turns it off.
   *
   * @throws IllegalArgumentException if {@code delay} is negative
   */
  public void latency(Duration delay) {
    requireNonNull(delay, "delay");
    if (delay.isNegative()) {
      throw new IllegalArgumentException("latency must not be negative: " + delay);
    }
    latency = delay;
  }

  /**
   * Makes the next {@code n} unwrap or wrap calls, of any CMK, fail with {@link
   * KmsUnavailableException}; replaces any count not yet used up. {@code 0} cancels.
   *
   * @throws IllegalArgumentException if {@code n} is negative
   */
  public void failNextCalls(int n) {
    if (n < 0) {
      throw new IllegalArgumentException("call count must not be negative: " + n);
    }
    failNext.set(n);
  }

  /**
   * Starts ({@code true}) or ends ({@code false}) an outage: while on, every unwrap and wrap fails
   * with {@link KmsUnavailableException}. Calls failed by the outage do not use up {@link
   * #failNextCalls(int)}.
   */
  public void failAllCalls(boolean outage) {
    failAll = outage;
  }

  /**
   * Starts ({@code true}) or ends ({@code false}) a throttling storm: while on, every unwrap and
   * wrap fails as a KMS over its request quota would, with a {@link KmsUnavailableException} that
   * {@linkplain KmsUnavailableException#isThrottled() is marked throttled} and carries the {@link
   * #retryAfterHint(Duration) Retry-After hint}, if one is set.
   */
  public void throttleAllCalls(boolean storm) {
    throttleAll = storm;
  }

  /**
   * The Retry-After hint throttled calls carry; {@link Duration#ZERO} (the default) for none.
   *
   * @throws IllegalArgumentException if negative
   */
  public void retryAfterHint(Duration hint) {
    requireNonNull(hint, "hint");
    if (hint.isNegative()) {
      throw new IllegalArgumentException("retryAfterHint must not be negative: " + hint);
    }
    retryAfter = hint;
  }

  /** The unwrap calls made since creation or {@link #resetCounts()}, including failed ones. */
  public long unwrapCalls() {
    return unwrapCalls.get();
  }

  /** The wrap calls made since creation or {@link #resetCounts()}, including failed ones. */
  public long wrapCalls() {
    return wrapCalls.get();
  }

  /**
   * All unwrap and wrap calls made since creation or {@link #resetCounts()}: the sum of the two
   * counters, read one after the other, so exact once concurrent calls have finished.
   */
  public long calls() {
    return unwrapCalls.get() + wrapCalls.get();
  }

  /** Sets every counter to zero; switches are unchanged. */
  public void resetCounts() {
    unwrapCalls.set(0);
    wrapCalls.set(0);
  }

  /** Does nothing: the fake holds no resources and keeps working. Idempotent. */
  @Override
  public void close() {}

  /** The counts and switches; never key bytes. */
  @Override
  public String toString() {
    return "FakeKms[unwrapCalls="
        + unwrapCalls.get()
        + ", wrapCalls="
        + wrapCalls.get()
        + ", disabled="
        + disabled
        + ", deleted="
        + deleted
        + ", denied="
        + denied
        + ", latency="
        + latency
        + ", failAll="
        + failAll
        + ", throttleAll="
        + throttleAll
        + ", failNext="
        + failNext.get()
        + "]";
  }

  byte[] unwrap(URI cmkUri, String name, byte[] ciphertext, KeyContext context) {
    unwrapCalls.incrementAndGet();
    admit(cmkUri, name);
    return FakeKmsCipher.decrypt(cmkUri, name, ciphertext, context);
  }

  byte[] wrap(URI cmkUri, String name, byte[] plaintext, KeyContext context) {
    wrapCalls.incrementAndGet();
    admit(cmkUri, name);
    return FakeKmsCipher.encrypt(name, plaintext, context);
  }

  /** Applies the switches in the documented order; returns only if the call may proceed. */
  private void admit(URI cmkUri, String name) {
    Duration delay = latency;
    if (!delay.isZero()) {
      try {
        TimeUnit.NANOSECONDS.sleep(delay.toNanos());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new KmsUnavailableException(
            "fake-kms call for CMK " + cmkUri + " was interrupted during its latency", e);
      }
    }
    if (throttleAll) {
      Duration hint = retryAfter;
      throw KmsUnavailableException.throttled(
          "fake-kms throttled the call (throttleAllCalls): CMK " + cmkUri + " was not reached",
          hint.isZero() ? null : hint,
          null);
    }
    if (failAll) {
      throw new KmsUnavailableException(
          "fake-kms is unavailable (failAllCalls): CMK " + cmkUri + " was not reached");
    }
    if (failNext.getAndUpdate(n -> n > 0 ? n - 1 : 0) > 0) {
      throw new KmsUnavailableException(
          "fake-kms failed transiently (failNextCalls): CMK " + cmkUri + " was not reached");
    }
    if (deleted.contains(name)) {
      throw new KeyAccessDeniedException("fake-kms CMK " + cmkUri + " not found: it was deleted");
    }
    if (disabled.contains(name)) {
      throw new KeyAccessDeniedException("fake-kms CMK " + cmkUri + " is disabled");
    }
    if (denied.contains(name)) {
      throw new KeyAccessDeniedException("fake-kms denied access to CMK " + cmkUri);
    }
  }

  /** The CMK name of a well-formed URI; the name, not the URI, keys the switches. */
  private static String nameOf(URI cmkUri) {
    requireNonNull(cmkUri, "cmkUri");
    String authority = cmkUri.getRawAuthority();
    if (!SCHEME.equalsIgnoreCase(cmkUri.getScheme())
        || cmkUri.isOpaque()
        || authority == null
        || !NAME.matcher(authority).matches()
        || !cmkUri.getRawPath().isEmpty()
        || cmkUri.getRawQuery() != null
        || cmkUri.getRawFragment() != null) {
      throw new KeyManagerConfigException("malformed CMK URI " + cmkUri + ": " + EXPECTED_FORM);
    }
    return authority;
  }
}
