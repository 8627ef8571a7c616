package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.benmanes.caffeine.cache.Ticker;
import dev.keymanager.KekRef;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.core.KmsRateControl.Permit;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class KmsRateControlTest {
  private static final long SECOND = 1_000_000_000L;
  private static final KekRef REF = new KekRef("orders", 1);

  private final AtomicLong time = new AtomicLong(1_000 * SECOND);
  private final Ticker ticker = time::get;
  private final Stats stats = new Stats();

  private KmsRateControl control(double rate, int burst) {
    return new KmsRateControl(ticker, stats, rate, burst, Duration.ofSeconds(10));
  }

  private long now() {
    return time.get();
  }

  private static KmsUnavailableException throttled(Duration retryAfter) {
    return KmsUnavailableException.throttled("throttled", retryAfter, null);
  }

  @Test
  void theBucketAdmitsItsBurstThenDefersRefreshesUntilItRefills() {
    KmsRateControl rates = control(1.0, 3);

    for (int i = 0; i < 3; i++) {
      assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);
    }
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.REFUSED);
    assertThat(rates.nextRefreshTry(now())).isEqualTo(now() + SECOND);
    time.addAndGet(SECOND / 2);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.REFUSED);
    time.addAndGet(SECOND / 2);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);
    assertThat(stats.deferredCalls.sum()).isEqualTo(2);
  }

  @Test
  void withoutARateEveryRefreshIsAdmitted() {
    KmsRateControl rates = control(0, 0);

    for (int i = 0; i < 1_000; i++) {
      assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);
    }
    rates.admitMiss(REF, now(), SECOND, () -> false);
    assertThat(stats.deferredCalls.sum()).isZero();
  }

  @Test
  void aMissReservesThePermitAheadOfRefreshesAndWaitsForIt() {
    AtomicLong reads = new AtomicLong();
    // A clock that moves 100 ms per read: the miss's wait follows the ticker.
    KmsRateControl moving =
        new KmsRateControl(
            () -> time.addAndGet(reads.incrementAndGet() > 1 ? SECOND / 10 : 0),
            stats,
            1.0,
            1,
            Duration.ofSeconds(10));
    assertThat(moving.tryRefresh(time.get())).isEqualTo(Permit.CALL); // the bucket is empty
    long start = time.get();

    moving.admitMiss(REF, start + 5 * SECOND, 60 * SECOND, () -> false);

    assertThat(time.get() - start).isBetween(SECOND, 2 * SECOND); // waited for the next permit
    // The miss took the refilled permit: a refresh now finds none.
    assertThat(moving.tryRefresh(time.get())).isEqualTo(Permit.REFUSED);
    assertThat(stats.deferredCalls.sum()).isEqualTo(2); // the waiting miss and the refresh
  }

  @Test
  void aMissWhosePermitComesAfterItsDeadlineFailsAtOnceAndKeepsNoPermit() {
    KmsRateControl rates = control(1.0, 1);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);

    assertThatThrownBy(() -> rates.admitMiss(REF, now() + SECOND / 2, SECOND, () -> false))
        .isInstanceOf(KmsUnavailableException.class)
        .hasMessageContaining("orders v1")
        .hasMessageContaining("kmsRateLimit")
        .matches(e -> !((KmsUnavailableException) e).isThrottled());
    assertThat(stats.deferredCalls.sum()).isEqualTo(1);

    time.addAndGet(SECOND); // one permit refilled, none reserved by the refused miss
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);
  }

  @Test
  void aThrottledAnswerBacksOffEveryRefreshThenOneProbeAsksAgain() {
    KmsRateControl rates = control(0, 0);
    rates.answered(Permit.CALL, throttled(null), true, now());

    assertThat(rates.backingOff(now())).isTrue();
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.REFUSED);
    assertThat(rates.nextRefreshTry(now())).isEqualTo(now() + SECOND);
    time.addAndGet(SECOND);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.PROBE);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.REFUSED); // the probe is out

    // Each throttled probe doubles the back-off, up to the cap of 10 s.
    long[] expected = {2, 4, 8, 10, 10};
    for (long seconds : expected) {
      rates.answered(Permit.PROBE, throttled(null), true, now());
      time.addAndGet(seconds * SECOND - 1);
      assertThat(rates.tryRefresh(now()))
          .as("within a %d s back-off", seconds)
          .isEqualTo(Permit.REFUSED);
      time.addAndGet(1);
      assertThat(rates.tryRefresh(now())).isEqualTo(Permit.PROBE);
    }
    rates.answered(Permit.PROBE, null, true, now());

    assertThat(rates.backingOff(now())).isFalse();
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);
  }

  @Test
  void throttledAnswersToCallsMadeTogetherDoNotStackTheBackOff() {
    KmsRateControl rates = control(0, 0);
    for (int i = 0; i < 8; i++) {
      rates.answered(Permit.CALL, throttled(null), true, now());
    }
    time.addAndGet(SECOND);

    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.PROBE);
  }

  @Test
  void theRetryAfterHintLengthensTheBackOffUpToTheCap() {
    KmsRateControl rates = control(0, 0);
    rates.answered(Permit.CALL, throttled(Duration.ofSeconds(5)), true, now());
    assertThat(rates.nextRefreshTry(now())).isEqualTo(now() + 5 * SECOND);

    time.addAndGet(5 * SECOND);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.PROBE);
    rates.answered(Permit.PROBE, throttled(Duration.ofMinutes(5)), true, now());
    assertThat(rates.nextRefreshTry(now())).isEqualTo(now() + 10 * SECOND);
  }

  @Test
  void aMissDuringALongerBackOffFailsAtOnceAsThrottled() {
    KmsRateControl rates = control(0, 0);
    rates.answered(Permit.CALL, throttled(Duration.ofSeconds(8)), true, now());

    assertThatThrownBy(() -> rates.admitMiss(REF, now() + SECOND, SECOND, () -> false))
        .isInstanceOf(KmsUnavailableException.class)
        .hasMessageContaining("throttled")
        .matches(e -> ((KmsUnavailableException) e).isThrottled());
    // A miss is not held back by the probe once the back-off is over.
    time.addAndGet(8 * SECOND);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.PROBE);
    rates.admitMiss(REF, now() + SECOND, SECOND, () -> false);
  }

  @Test
  void anAnswerOtherThanThrottlingEndsTheBackOffAndALoadThatNeverCalledChangesNothing() {
    KmsRateControl rates = control(0, 0);
    rates.answered(Permit.CALL, throttled(null), true, now());
    time.addAndGet(SECOND);
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.PROBE);

    rates.answered(Permit.PROBE, new IllegalStateException("store failed"), false, now());
    assertThat(rates.tryRefresh(now()))
        .as("the probe ended; still throttled")
        .isEqualTo(Permit.PROBE);
    rates.answered(
        Permit.PROBE, new dev.keymanager.KeyAccessDeniedException("denied"), true, now());
    assertThat(rates.backingOff(now())).isFalse();
    assertThat(rates.tryRefresh(now())).isEqualTo(Permit.CALL);
  }

  @Test
  void theBuilderRejectsBadRatesAndJitterLongerThanTheRefreshInterval() {
    KeyManagers.Builder b = KeyManagers.builder();
    assertThatThrownBy(() -> b.kmsRateLimit(0, 1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.kmsRateLimit(Double.NaN, 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.kmsRateLimit(Double.POSITIVE_INFINITY, 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.kmsRateLimit(1, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.refreshJitter(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);

    assertThatThrownBy(
            () ->
                KeyManagers.builder()
                    .kekStore(dev.keymanager.core.store.KekStores.inMemory())
                    .discoverProviders(false)
                    .hardTtl(Duration.ofMinutes(5))
                    .refreshAhead(Duration.ofMinutes(1))
                    .refreshJitter(Duration.ofMinutes(4).plusNanos(1))
                    .build())
        .isInstanceOf(dev.keymanager.KeyManagerConfigException.class)
        .hasMessageContaining("refreshJitter");
  }
}
