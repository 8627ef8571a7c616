package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekRef;
import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What lifecycle steps do to the plaintext KEKs in the cache. */
class KekLifecycleCacheTest {
  private static final URI CMK = FakeKms.cmk("cache");

  private final FakeKms kms = new FakeKms();
  private final KeyManager keys =
      KeyManagers.builder()
          .kekStore(KekStores.inMemory())
          .kmsProvider(kms)
          .discoverProviders(false)
          .clock(new MutableClock())
          .minimumDestructionWindow(Duration.ZERO)
          .build();
  private final KekCache cache = ((DefaultKeyManager) keys).cache();

  @AfterEach
  void tearDown() {
    keys.close();
  }

  @Test
  void destructionOverwritesCachedCopiesOnceTheirLastUserReleasesThem() {
    keys.admin().createKek("orders", CMK);
    keys.admin().rotateKek("orders");
    CachedKek inFlight = cache.acquire(new KekRef("orders", 1)); // an operation still running
    CachedKek idle = cache.acquire(new KekRef("orders", 2));
    idle.release();
    assertThat(kms.unwrapCalls()).isZero(); // both were cached when created

    keys.admin().scheduleKekDestruction("orders", Duration.ZERO);
    keys.admin().destroyKek("orders");

    assertThat(idle.isWiped()).isTrue();
    assertThat(idle.kekBytesForWrap()).containsOnly(0);
    assertThat(inFlight.isWiped()).isFalse(); // never runs on zeroed bytes
    inFlight.release();
    assertThat(inFlight.isWiped()).isTrue();
    assertThat(inFlight.kekBytesForWrap()).containsOnly(0);
    assertThat(cache.size()).isZero();
  }

  @Test
  void disablingDropsEveryCachedVersionAtOnce() {
    keys.admin().createKek("orders", CMK);
    keys.admin().rotateKek("orders");
    CachedKek v1 = cache.acquire(new KekRef("orders", 1));
    v1.release();

    keys.admin().disableKek("orders");

    assertThat(v1.isWiped()).isTrue();
    assertThat(cache.size()).isZero();
  }

  @Test
  void retiringAVersionDropsOnlyThatVersion() {
    keys.admin().createKek("orders", CMK);
    keys.admin().rotateKek("orders");
    CachedKek v1 = cache.acquire(new KekRef("orders", 1));
    v1.release();
    CachedKek v2 = cache.acquire(new KekRef("orders", 2));
    v2.release();

    keys.admin().setMinimumDecryptionVersion("orders", 2);

    assertThat(v1.isWiped()).isTrue();
    assertThat(v2.isWiped()).isFalse();
    assertThat(kms.unwrapCalls()).isZero();
  }
}
