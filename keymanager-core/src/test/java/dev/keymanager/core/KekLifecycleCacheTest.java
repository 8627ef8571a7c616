package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.benmanes.caffeine.cache.Ticker;
import dev.keymanager.KekRef;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What lifecycle steps do to the plaintext KEKs in the cache. */
class KekLifecycleCacheTest {
  private static final URI CMK = FakeKms.cmk("cache");

  private final FakeKms kms = new FakeKms();
  private final Stats stats = new Stats();
  private final KekStore store = KekStores.inMemory();
  private final KekCache cache =
      new KekCache(Duration.ofMinutes(5), 100, Ticker.systemTicker(), stats);
  private final List<String> primaryChanges = new ArrayList<>();
  private final KekLifecycle lifecycle =
      new KekLifecycle(
          store,
          KmsRegistry.of(List.of(kms), List.of(), Set.of()),
          cache,
          new KmsAudit(stats),
          new MutableClock(),
          Duration.ZERO,
          Duration.ofDays(30),
          primaryChanges::add);

  private CachedKek cached(KekRef ref) {
    return cache.acquire(
        ref,
        r -> {
          throw new AssertionError(r + " should have been cached");
        });
  }

  @Test
  void destructionOverwritesCachedCopiesOnceTheirLastUserReleasesThem() {
    lifecycle.create("orders", CMK);
    lifecycle.rotate("orders");
    CachedKek inFlight = cached(new KekRef("orders", 1)); // an operation still running
    CachedKek idle = cached(new KekRef("orders", 2));
    idle.release();

    lifecycle.scheduleDestruction("orders", Duration.ZERO);
    lifecycle.destroy("orders");

    assertThat(idle.isWiped()).isTrue();
    assertThat(idle.kekBytesForWrap()).containsOnly(0);
    assertThat(inFlight.isWiped()).isFalse(); // never runs on zeroed bytes
    inFlight.release();
    assertThat(inFlight.isWiped()).isTrue();
    assertThat(inFlight.kekBytesForWrap()).containsOnly(0);
    assertThat(cache.size()).isZero();
  }

  @Test
  void rotationCachesTheNewVersionAndKeepsTheOldOne() {
    lifecycle.create("orders", CMK);
    lifecycle.rotate("orders");

    cached(new KekRef("orders", 1)).release();
    cached(new KekRef("orders", 2)).release();
    assertThat(primaryChanges).containsExactly("orders", "orders");
    assertThat(kms.unwrapCalls()).isZero();
  }

  @Test
  void retiringAVersionDropsOnlyThatVersion() {
    lifecycle.create("orders", CMK);
    lifecycle.rotate("orders");
    CachedKek v1 = cached(new KekRef("orders", 1));
    v1.release();

    lifecycle.setMinimumDecryptionVersion("orders", 2);

    assertThat(v1.isWiped()).isTrue();
    cached(new KekRef("orders", 2)).release();
  }
}
