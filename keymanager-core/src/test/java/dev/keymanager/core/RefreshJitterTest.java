package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RefreshJitterTest {
  private static final URI CMK = FakeKms.cmk("jitter");
  private static final KeyContext CONTEXT = KeyContext.of(Map.of("t", "jitter"));

  private final MutableClock clock = new MutableClock();
  private final FakeKms kms = new FakeKms();
  private final KekStore store = KekStores.inMemory();

  private KeyManagers.Builder builder(Duration jitter) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .clock(clock)
        .hardTtl(Duration.ofSeconds(60))
        .refreshAhead(Duration.ofSeconds(12))
        .refreshJitter(jitter)
        .kmsExecutor(Runnable::run)
        .jitterRandom(new SplittableRandom(3));
  }

  /** Refreshes started by second, using all 100 KEKs once a second for 48 s after loading them. */
  private long[] refreshesBySecond(Duration jitter) {
    List<WrappedKey> deks = new ArrayList<>();
    try (KeyManager admin = builder(Duration.ZERO).build()) {
      for (int i = 0; i < 100; i++) {
        admin.admin().createKek("kek-" + i + "-" + jitter.toSeconds(), CMK);
        deks.add(admin.generateDek("kek-" + i + "-" + jitter.toSeconds(), CONTEXT).wrappedKey());
      }
    }
    try (KeyManager keys = builder(jitter).build()) {
      deks.forEach(d -> keys.unwrapDek(d, CONTEXT).close()); // loaded at t = 0
      long[] refreshes = new long[49];
      for (int second = 1; second <= 48; second++) {
        clock.advance(Duration.ofSeconds(1));
        deks.forEach(d -> keys.unwrapDek(d, CONTEXT).close());
        refreshes[second] = keys.stats().refreshes();
      }
      return refreshes;
    }
  }

  @Test
  void refreshTimesSpreadOverTheWindowAndNeverComeAfterHardTtlMinusRefreshAhead() {
    long[] refreshes = refreshesBySecond(Duration.ofSeconds(24));

    assertThat(refreshes[23]).as("before the window opens at 24 s").isZero();
    assertThat(refreshes[36]).as("half way through the window").isBetween(25L, 75L);
    assertThat(refreshes[48]).as("every KEK by hardTtl - refreshAhead, once").isEqualTo(100);
  }

  @Test
  void withoutJitterEveryKekRefreshesAtHardTtlMinusRefreshAhead() {
    long[] refreshes = refreshesBySecond(Duration.ZERO);

    assertThat(refreshes[47]).isZero();
    assertThat(refreshes[48]).isEqualTo(100);
  }
}
