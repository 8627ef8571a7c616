package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The promises of the KEK cache (issue 3), each proven on a manual clock: single flight, the
 * revocation bound on both paths, transient outages, the negative cache, owned threads, stats and
 * the audit line.
 */
class KekCacheTest {
  private static final URI CMK = FakeKms.cmk("customer-1");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");
  private static final Duration TTL = Duration.ofMinutes(5);

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final KekStore store = KekStores.inMemory();
  private final List<KeyManager> opened = new ArrayList<>();

  @AfterEach
  void closeAll() {
    opened.forEach(KeyManager::close);
  }

  private KeyManagers.Builder builder() {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .hardTtl(TTL)
        .clock(clock);
  }

  private DefaultKeyManager open(KeyManagers.Builder builder) {
    DefaultKeyManager keys = (DefaultKeyManager) builder.build();
    opened.add(keys);
    return keys;
  }

  /** A KEK created elsewhere and a DEK wrapped under it: the returned manager has it cold. */
  private WrappedKey wrappedUnderColdKek(String kekId, byte[] dek) {
    try (KeyManager creator = builder().build()) {
      creator.admin().createKek(kekId, CMK);
      return creator.wrapDek(kekId, dek, CONTEXT);
    }
  }

  private static byte[] bytes(DataKey dek) {
    try (dek) {
      return dek.use(byte[]::clone);
    }
  }

  // Proof 1
  @Test
  void aThousandConcurrentMissesMakeOneKmsCall() throws Exception {
    byte[] dek = new byte[32];
    new Random(1).nextBytes(dek);
    WrappedKey wrapped = wrappedUnderColdKek("orders", dek);
    DefaultKeyManager keys = open(builder());
    kms.resetCounts();
    kms.latency(Duration.ofMillis(50));

    int callers = 1000;
    CountDownLatch start = new CountDownLatch(1);
    AtomicInteger correct = new AtomicInteger();
    TestThreads threads =
        TestThreads.start(
            callers,
            () -> {
              start.await();
              if (Arrays.equals(bytes(keys.unwrapDek(wrapped, CONTEXT)), dek)) {
                correct.incrementAndGet();
              }
            });
    start.countDown();
    threads.join();

    assertThat(correct.get()).isEqualTo(callers);
    assertThat(kms.unwrapCalls()).isEqualTo(1);
    assertThat(keys.stats().loads()).isEqualTo(1);
    assertThat(keys.stats().misses() + keys.stats().hits()).isEqualTo(callers);
    System.out.printf(
        "single flight: %d callers, %d KMS unwrap call(s)%n", callers, kms.unwrapCalls());
  }

  @Test
  void waitersOfAFailedLoadShareItsErrorAsTheirOwnException() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", new byte[32]);
    DefaultKeyManager keys = open(builder());
    kms.resetCounts();
    kms.latency(Duration.ofMillis(100));
    kms.failNextCalls(1);

    int callers = 8;
    CyclicBarrier barrier = new CyclicBarrier(callers);
    List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
    TestThreads.start(
            callers,
            () -> {
              barrier.await();
              try {
                keys.unwrapDek(wrapped, CONTEXT).close();
              } catch (RuntimeException e) {
                errors.add(e);
              }
            })
        .join();

    assertThat(kms.unwrapCalls()).isEqualTo(1);
    assertThat(errors).hasSize(callers).allMatch(e -> e instanceof KmsUnavailableException);
    assertThat(errors.stream().distinct()).hasSize(callers); // one instance per caller
    assertThat(errors.stream().map(Throwable::getCause).distinct()).hasSize(1);
    keys.unwrapDek(wrapped, CONTEXT).close(); // not remembered: the next miss asks again
    assertThat(kms.unwrapCalls()).isEqualTo(2);
  }

  @Test
  void aCallerWaitsForASlowKmsOnlyAsLongAsTheLoadTimeout() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", new byte[32]);
    DefaultKeyManager keys = open(builder().loadTimeout(Duration.ofMillis(100)));
    kms.latency(Duration.ofSeconds(1));

    long start = System.nanoTime();
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KmsUnavailableException.class)
        .hasMessageContaining("Waited 100 ms")
        .hasMessageContaining("orders v1");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(900));

    kms.latency(Duration.ZERO);
    keys.awaitBackgroundLoads(); // the slow call finishes and fills the cache
    long calls = kms.unwrapCalls();
    keys.unwrapDek(wrapped, CONTEXT).close();
    assertThat(kms.unwrapCalls()).isEqualTo(calls);
  }

  // Proof 2, path A: no refresh, so access ends exactly at the hard TTL after the last unwrap.
  @Test
  void withoutRefreshARevokedCmkStopsAccessAtTheHardTtlAfterTheLastUnwrap() {
    List<Double> latencies = revocationTrials(Duration.ZERO, 120);
    // The bound: never more than the hard TTL after revocation, since the last unwrap came before.
    assertThat(latencies).allMatch(f -> f >= 0 && f <= 1.0);
    report("revocation, refresh off", latencies);
  }

  // Proof 2, path B: with refresh-ahead, the first refresh after the revocation sees the denial.
  @Test
  void withRefreshARevokedCmkStopsAccessAtTheFirstRefreshAfterIt() {
    List<Double> latencies = revocationTrials(TTL.dividedBy(5), 120);
    // The refresh window opens at 0.8 TTL after each unwrap, and refreshes renew the TTL, so the
    // denial is seen at most 0.8 TTL (plus one step of traffic) after the revocation.
    assertThat(latencies).allMatch(f -> f >= 0 && f <= 0.8 + 2 * STEP_FRACTION);
    report("revocation, refresh-ahead 0.2 TTL", latencies);
  }

  private static final int STEPS_PER_TTL = 100;
  private static final double STEP_FRACTION = 1.0 / STEPS_PER_TTL;

  /**
   * Steady traffic (one unwrap per step of TTL/100) on one KEK; the CMK is disabled at a random
   * instant in the first two TTLs. Returns, per trial, the time from the revocation to the first
   * failed unwrap as a fraction of the TTL, after checking that every failure is an access denial
   * and that no unwrap succeeds later than one hard TTL after the last successful KMS call.
   */
  private List<Double> revocationTrials(Duration refreshAhead, int trials) {
    Random random = new Random(42);
    Duration step = TTL.dividedBy(STEPS_PER_TTL);
    List<Double> latencies = new ArrayList<>();
    for (int trial = 0; trial < trials; trial++) {
      kms.enable(CMK);
      String kekId = "kek-" + refreshAhead.toSeconds() + "-" + trial;
      DefaultKeyManager keys =
          open(builder().refreshAhead(refreshAhead).negativeTtl(Duration.ZERO));
      keys.admin().createKek(kekId, CMK);
      WrappedKey wrapped = keys.generateDek(kekId, CONTEXT).wrappedKey();
      long lastKmsSuccess = clock.millis();
      long kmsSuccesses = kms.unwrapCalls();
      int revokeAtStep = random.nextInt(2 * STEPS_PER_TTL);
      long revokedAt = -1;
      for (int s = 0; ; s++) {
        if (s == revokeAtStep) {
          kms.disable(CMK);
          revokedAt = clock.millis();
        }
        long callsBefore = kms.unwrapCalls();
        try {
          keys.unwrapDek(wrapped, CONTEXT).close();
          keys.awaitBackgroundLoads(); // a refresh this use started has finished
          if (kms.unwrapCalls() > callsBefore && revokedAt < 0) {
            lastKmsSuccess = clock.millis(); // this use's load or refresh renewed the TTL
          }
          assertThat(clock.millis() - lastKmsSuccess).isLessThan(TTL.toMillis());
        } catch (KeyAccessDeniedException e) {
          assertThat(revokedAt).as("denied before the revocation").isNotNegative();
          latencies.add((clock.millis() - revokedAt) / (double) TTL.toMillis());
          break;
        }
        clock.advance(step);
      }
      keys.close();
      assertThat(kms.unwrapCalls()).isGreaterThanOrEqualTo(kmsSuccesses);
    }
    return latencies;
  }

  private static void report(String what, List<Double> latencies) {
    List<Double> sorted = new ArrayList<>(latencies);
    sorted.sort(null);
    System.out.printf(
        "%s: %d trials, latency/TTL min=%.3f median=%.3f p90=%.3f max=%.3f%n",
        what,
        sorted.size(),
        sorted.get(0),
        sorted.get(sorted.size() / 2),
        sorted.get(sorted.size() * 9 / 10),
        sorted.get(sorted.size() - 1));
  }

  @Test
  void aDeniedRefreshEvictsAndWipesAtOnce() {
    DefaultKeyManager keys = open(builder().refreshAhead(Duration.ofMinutes(1)));
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    kms.disable(CMK);

    clock.advance(Duration.ofMinutes(4)); // into the refresh window
    keys.unwrapDek(wrapped, CONTEXT).close(); // served, and starts the refresh
    keys.awaitBackgroundLoads();

    assertThat(keys.stats().denials()).isEqualTo(1);
    assertThat(keys.stats().evictions()).isEqualTo(1);
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class);
  }

  @Test
  void aSuccessfulRefreshRenewsTheTtlSoSteadyTrafficNeverWaits() {
    DefaultKeyManager keys = open(builder());
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();

    for (int minute = 0; minute < 60; minute++) {
      clock.advance(Duration.ofMinutes(1));
      keys.unwrapDek(wrapped, CONTEXT).close();
      keys.awaitBackgroundLoads();
    }

    KeyManagerStats stats = keys.stats();
    assertThat(stats.misses()).isZero(); // never waited on the KMS
    assertThat(stats.refreshes()).isGreaterThanOrEqualTo(12); // about one per TTL
    assertThat(stats.loads()).isZero();
  }

  // Proof 3
  @Test
  void aTransientOutageServesUntilTheHardTtlThenFailsRetryablyAndRecovers() {
    DefaultKeyManager keys = open(builder());
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    kms.failAllCalls(true);

    Duration step = Duration.ofSeconds(10);
    Duration elapsed = Duration.ZERO;
    while (elapsed.compareTo(TTL) < 0) {
      keys.unwrapDek(wrapped, CONTEXT).close(); // served from the cache, refreshes failing
      keys.awaitBackgroundLoads();
      clock.advance(step);
      elapsed = elapsed.plus(step);
    }
    assertThat(keys.stats().transientFailures()).isGreaterThan(1); // refreshes were retried

    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KmsUnavailableException.class)
        .satisfies(e -> assertThat(((KmsUnavailableException) e).isRetryable()).isTrue());
    clock.advance(TTL); // a long outage: still failing closed
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KmsUnavailableException.class);

    kms.failAllCalls(false);
    keys.unwrapDek(wrapped, CONTEXT).close(); // recovery, no restart
    assertThat(keys.stats().loads()).isEqualTo(1);
  }

  // Proof 6
  @Test
  void aDenialIsRememberedForTheNegativeTtlAndNotForTransientFailures() {
    WrappedKey wrapped = wrappedUnderColdKek("orders", new byte[32]);
    DefaultKeyManager keys = open(builder().negativeTtl(Duration.ofSeconds(30)));
    kms.disable(CMK);
    kms.resetCounts();

    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class);
    assertThat(kms.unwrapCalls()).isEqualTo(1);
    for (int i = 0; i < 100; i++) {
      clock.advance(Duration.ofMillis(250));
      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasMessageContaining("orders v1")
          .hasCauseInstanceOf(KeyAccessDeniedException.class);
    }
    assertThat(kms.unwrapCalls()).isEqualTo(1); // 100 calls in 25 s: none reached the KMS

    clock.advance(Duration.ofSeconds(6)); // past the negative TTL
    kms.enable(CMK);
    keys.unwrapDek(wrapped, CONTEXT).close();
    assertThat(kms.unwrapCalls()).isEqualTo(2);

    // transient failures are not remembered
    clock.advance(TTL.plusSeconds(1));
    kms.failNextCalls(1);
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KmsUnavailableException.class);
    keys.unwrapDek(wrapped, CONTEXT).close();
    assertThat(kms.unwrapCalls()).isEqualTo(4);
  }

  @Test
  void theSizeBoundEvictsAndWipes() {
    DefaultKeyManager keys = open(builder().maximumCachedKeks(2));
    List<WrappedKey> wrapped = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      keys.admin().createKek("kek-" + i, CMK);
      wrapped.add(keys.generateDek("kek-" + i, CONTEXT).wrappedKey());
    }
    for (WrappedKey w : wrapped) {
      keys.unwrapDek(w, CONTEXT).close(); // still unwraps: reloaded on demand
    }
    assertThat(keys.stats().evictions()).isGreaterThanOrEqualTo(3);
    assertThat(keys.stats().loads()).isGreaterThanOrEqualTo(1);
  }

  @Test
  void closeStopsTheKmsThreadsAndLeavesNone() throws Exception {
    DefaultKeyManager keys = open(builder().kmsThreads(3));
    List<WrappedKey> wrapped = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      wrapped.add(wrappedUnderColdKek("cold-" + i, new byte[32]));
    }
    kms.latency(Duration.ofMillis(20));
    List<Thread> callers = new ArrayList<>();
    for (WrappedKey w : wrapped) {
      Thread t = new Thread(() -> keys.unwrapDek(w, CONTEXT).close());
      t.start();
      callers.add(t);
    }
    for (Thread t : callers) {
      t.join();
    }
    String prefix = keys.kmsThreadPrefix();
    assertThat(kmsThreads(prefix)).isNotEmpty();

    keys.close();

    awaitNoKmsThreads(prefix);
    assertThatThrownBy(() -> keys.unwrapDek(wrapped.get(0), CONTEXT))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }

  private static List<Thread> kmsThreads(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith(prefix) && t.isAlive())
        .toList();
  }

  private static void awaitNoKmsThreads(String prefix) throws InterruptedException {
    // ThreadPoolExecutor reports termination as its last worker leaves its loop; the thread
    // objects take a moment longer to die.
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!kmsThreads(prefix).isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(kmsThreads(prefix)).as("KMS threads alive after close").isEmpty();
  }

  @Test
  void closeWhileALoadIsRunningFailsItsWaitersAndCachesNothing() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", new byte[32]);
    DefaultKeyManager keys = open(builder());
    kms.latency(Duration.ofSeconds(30)); // close() must cut it short
    AtomicReference<Throwable> seen = new AtomicReference<>();
    Thread caller =
        new Thread(
            () -> {
              try {
                keys.unwrapDek(wrapped, CONTEXT).close();
              } catch (Throwable e) {
                seen.set(e);
              }
            });
    caller.start();
    while (kms.unwrapCalls() == 0) {
      Thread.onSpinWait();
    }
    String prefix = keys.kmsThreadPrefix();
    keys.close();
    caller.join();

    assertThat(seen.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    awaitNoKmsThreads(prefix);
  }

  @Test
  void statsCountHitsMissesLoadsAndKmsCalls() {
    WrappedKey wrapped = wrappedUnderColdKek("orders", new byte[32]);
    DefaultKeyManager keys = open(builder());

    keys.unwrapDek(wrapped, CONTEXT).close();
    keys.unwrapDek(wrapped, CONTEXT).close();
    keys.unwrapDek(wrapped, CONTEXT).close();

    KeyManagerStats stats = keys.stats();
    assertThat(stats.misses()).isEqualTo(1);
    assertThat(stats.hits()).isEqualTo(2);
    assertThat(stats.loads()).isEqualTo(1);
    assertThat(stats.kmsCalls()).isEqualTo(1);
    assertThat(stats.denials()).isZero();
    assertThat(stats.transientFailures()).isZero();
    assertThat(stats.refreshes()).isZero();
    assertThat(stats.evictions()).isZero();
  }

  @Test
  void everyKmsCallWritesOneAuditLineWithoutKeyBytes() {
    Logger audit = (Logger) LoggerFactory.getLogger("dev.keymanager.audit");
    ListAppender<ILoggingEvent> lines = new ListAppender<>();
    lines.start();
    audit.addAppender(lines);
    Level before = audit.getLevel();
    audit.setLevel(Level.INFO);
    try {
      WrappedKey wrapped = wrappedUnderColdKek("orders", new byte[32]); // one wrap
      DefaultKeyManager keys = open(builder());
      keys.unwrapDek(wrapped, CONTEXT).close(); // one unwrap
      kms.disable(CMK);
      clock.advance(TTL.plusSeconds(1));
      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class); // one denied unwrap

      List<String> messages =
          lines.list.stream()
              .map(ILoggingEvent::getFormattedMessage)
              .filter(m -> m.startsWith("kms ")) // lifecycle steps (the create) have lines too
              .toList();
      assertThat(messages).hasSize(3);
      assertThat(messages.get(0)).startsWith("kms wrap kek=orders v1 cmk=" + CMK + " outcome=ok");
      assertThat(messages.get(1)).startsWith("kms unwrap kek=orders v1 cmk=" + CMK + " outcome=ok");
      assertThat(messages.get(2))
          .startsWith("kms unwrap kek=orders v1 cmk=" + CMK + " outcome=denied");
      assertThat(messages).allMatch(m -> m.contains("durationMs="));
    } finally {
      audit.detachAppender(lines);
      audit.setLevel(before);
    }
  }

  @Test
  void anOperationInFlightWhenItsKekIsEvictedFinishesWithTheRightKey() {
    DefaultKeyManager keys = open(builder());
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    KekRef ref = wrapped.kek();

    // Hold a lease as an operation in flight would, then evict.
    KekCache cache = keys.cache();
    CachedKek lease = cache.acquire(ref);
    cache.invalidate(ref);
    assertThat(lease.isWiped()).isFalse();
    byte[] dek = DekCipher.unwrap(lease, wrapped, CONTEXT); // the right key, not zeros
    assertThat(dek).hasSize(32);
    lease.release();
    assertThat(lease.isWiped()).isTrue(); // the last release wiped it
  }
}
