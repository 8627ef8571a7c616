package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Cache;
import dev.keymanager.KekRef;
import dev.keymanager.spi.KekChangeListener;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows a store's change feed: drops (and so wipes, once unused) what the key manager caches for
 * a KEK another writer changed, through the same invalidation a local lifecycle change uses.
 *
 * <p>A head notice (state, primary or minimum version changed) drops the KEK's cached primary
 * version and every cached version of it, since the notice does not say which versions the change
 * left usable; the next use reads the head again, and unwraps again through the KMS only if the
 * version is still usable. A version notice drops that version. A feed that may have lost notices
 * drops everything. Loads running when a notice arrives are not cached (the cache's invalidation
 * generation), so a load that read the record before the change cannot install it after. Handles
 * already open see the drop on their next liveness check.
 */
final class StoreChangeFollower implements KekChangeListener {
  private static final Logger log = LoggerFactory.getLogger(StoreChangeFollower.class);

  private final KekCache cache;
  private final Cache<String, KekRef> primaries;
  private final LongAdder notices = new LongAdder();

  StoreChangeFollower(KekCache cache, Cache<String, KekRef> primaries) {
    this.cache = cache;
    this.primaries = primaries;
  }

  @Override
  public void headChanged(String kekId) {
    notices.increment();
    // The primary first: a use between the two drops then reads the new head before any KEK.
    primaries.invalidate(kekId);
    cache.invalidateKek(kekId);
    log.debug("Store notice: head of KEK {} changed; dropped its cached versions", kekId);
  }

  @Override
  public void versionChanged(KekRef ref) {
    notices.increment();
    cache.invalidate(ref);
    log.debug("Store notice: KEK {} changed; dropped it", ref);
  }

  @Override
  public void changesMayHaveBeenMissed() {
    notices.increment();
    primaries.invalidateAll();
    cache.invalidateAll();
    log.info(
        "KEK store change feed (re)started; dropped every cached KEK, since notices may be lost");
  }

  /** How many notices arrived, for tests. */
  @VisibleForTesting
  long notices() {
    return notices.sum();
  }
}
