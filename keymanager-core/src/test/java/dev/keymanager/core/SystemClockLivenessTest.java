package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * On the system clock a hit and a handle's liveness check read no clock until the expiry timer
 * flags the entry stale ({@link ExpiryTimer}); these tests run on real time (a short hard TTL) and
 * check that the flag keeps the revocation bound, starts the refresh from a handle's use, and that
 * a drop still fails the next use at once. The manual-clock proofs are in {@link
 * HandleRevocationTest}.
 */
class SystemClockLivenessTest {
  private static final URI CMK = FakeKms.cmk("system-clock");
  private static final KeyContext CONTEXT = KeyContext.of("table", "system-clock");
  private static final Duration TTL = Duration.ofMillis(1500);

  private final FakeKms kms = new FakeKms();
  private final KekStore store = KekStores.inMemory();
  private final KeyManager writer =
      KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
  private KeyManager reader;

  @AfterEach
  void close() {
    if (reader != null) {
      reader.close();
    }
    writer.close();
  }

  private KeyManager reader(Duration refreshAhead) {
    reader =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .hardTtl(TTL)
            .refreshAhead(refreshAhead)
            .negativeTtl(Duration.ZERO)
            .build();
    return reader;
  }

  private WrappedKey wrappedUnder(String kekId) {
    writer.admin().createKek(kekId, CMK);
    try (DataKey dek = writer.generateDek(kekId, CONTEXT)) {
      return dek.wrappedKey();
    }
  }

  @Test
  void aHeldKeyIsUsableUntilTheHardTtlOfItsUnwrapAndNotOneUseLonger() {
    WrappedKey wrapped = wrappedUnder("bound");
    KeyManager keys = reader(Duration.ZERO);
    long unwrapStart = System.nanoTime(); // the KMS call starts after this: the TTL runs from it
    DataKey dek = keys.unwrapDek(wrapped, CONTEXT);
    // The KMS call, and so the hard TTL, started between these two readings.
    long unwrapEnd = System.nanoTime();
    kms.disable(CMK); // nothing renews the KEK now
    long ttl = TTL.toNanos();
    long giveUp = unwrapStart + ttl + TimeUnit.SECONDS.toNanos(10);
    long uses = 0;
    long failedAt = -1;
    while (failedAt < 0) {
      long before = System.nanoTime();
      assertThat(before).as("still usable long after the hard TTL").isLessThan(giveUp);
      try {
        assertThat(dek.<Integer>use(b -> b.length)).isEqualTo(32);
        uses++;
        assertThat(before - unwrapEnd)
            .as("a use succeeded a hard TTL after the unwrap returned")
            .isLessThan(ttl);
      } catch (KeyAccessDeniedException e) {
        failedAt = System.nanoTime();
      }
    }
    assertThat(failedAt - unwrapStart).as("failed before the hard TTL").isGreaterThanOrEqualTo(ttl);
    assertThat(uses).isPositive();
    assertThatThrownBy(() -> dek.use(b -> b.length)).isInstanceOf(KeyAccessDeniedException.class);
  }

  @Test
  void aHandleThatIsTheOnlyTrafficRefreshesItsKekWithoutEverFailing() {
    WrappedKey wrapped = wrappedUnder("refreshed");
    KeyManager keys = reader(Duration.ofMillis(1000)); // flagged stale at 0.5 s, refreshed then
    DataKey dek = keys.unwrapDek(wrapped, CONTEXT);
    long calls = kms.unwrapCalls();
    long end = System.nanoTime() + 3 * TTL.toNanos();
    while (System.nanoTime() - end < 0) {
      assertThat(dek.<Integer>use(b -> b.length)).isEqualTo(32);
    }
    assertThat(kms.unwrapCalls())
        .as("refreshes started by the handle's uses alone (two TTLs at least)")
        .isGreaterThanOrEqualTo(calls + 2);
  }

  @Test
  void aDropFailsTheNextUseAtOnce() {
    WrappedKey wrapped = wrappedUnder("dropped");
    KeyManager keys = reader(Duration.ZERO);
    DataKey dek = keys.unwrapDek(wrapped, CONTEXT);
    assertThat(dek.<Integer>use(b -> b.length)).isEqualTo(32);
    keys.admin().disableKek("dropped");
    assertThatThrownBy(() -> dek.use(b -> b.length)).isInstanceOf(KekStateException.class);
  }

  /**
   * An unwrap whose subkey is derived already retains that subkey alone, not its KEK's cache entry
   * (the entry's lease never sees the worker threads); a disable that returned still fails every
   * unwrap that starts after it, on that path too, while two threads unwrap in a loop.
   */
  @Test
  void aDisableThatReturnedFailsEveryLaterUnwrapOnTheSubkeyHitPath() throws Exception {
    WrappedKey wrapped = wrappedUnder("hit-path");
    reader =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
    KeyManager keys = reader;
    keys.unwrapDek(wrapped, CONTEXT).close(); // loads the KEK and derives the subkey
    CachedKek.Subkey subkey =
        ((DefaultKeyManager) keys)
            .cache()
            .derivedSubkey(
                wrapped.kek(),
                dev.keymanager.internal.ApiBridge.wrappedKeys().encoding(wrapped),
                dev.keymanager.internal.ApiBridge.wrappedKeys().parametersOffset(wrapped));
    assertThat(subkey).isNotNull();
    CachedKek entry = subkey.entry();
    assertThat(entry.isCurrent()).isTrue();
    long hits = keys.stats().hits();

    AtomicBoolean disabled = new AtomicBoolean();
    AtomicLong before = new AtomicLong();
    AtomicLong lateSuccesses = new AtomicLong();
    TestThreads threads =
        TestThreads.start(
            2,
            () -> {
              int failedAfter = 0;
              while (failedAfter < 1_000) {
                boolean after = disabled.get();
                try (DataKey dek = keys.unwrapDek(wrapped, CONTEXT)) {
                  (after ? lateSuccesses : before).incrementAndGet();
                } catch (KekStateException e) {
                  failedAfter += after ? 1 : 0;
                }
              }
            });
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (before.get() < 20_000 && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    assertThat(entry.isStriped()).isFalse(); // two threads, yet no lease taken on the entry
    keys.admin().disableKek("hit-path");
    disabled.set(true);
    threads.join();
    assertThat(before.get()).isGreaterThanOrEqualTo(20_000);
    assertThat(lateSuccesses.get()).isZero();
    assertThat(keys.stats().hits()).isGreaterThanOrEqualTo(hits + before.get());
    assertThat(entry.isCurrent()).isFalse();
  }
}
