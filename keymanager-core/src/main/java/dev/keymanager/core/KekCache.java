package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Ticker;
import dev.keymanager.KekRef;
import java.time.Duration;
import java.util.function.Function;

/**
 * Plaintext KEKs by id and version, each usable for at most the hard TTL after the KMS unwrap that
 * produced it. Expiry, size eviction, invalidation and {@link #close()} drop the cache's reference,
 * and the last holder overwrites the bytes ({@link CachedKek}).
 *
 * <p>Concurrent misses on one KEK run the loader once (Caffeine's per-key compute); the others wait
 * for it and share its result or its exception.
 */
final class KekCache implements AutoCloseable {
  private final Cache<KekRef, CachedKek> cache;
  private final Stats stats;

  KekCache(Duration hardTtl, long maximumSize, Ticker ticker, Stats stats) {
    this.stats = stats;
    this.cache =
        Caffeine.newBuilder()
            .expireAfterWrite(hardTtl)
            .maximumSize(maximumSize)
            .ticker(ticker)
            // Release on the thread that removed the entry, so the bytes are overwritten now
            // rather than whenever a pool thread gets to it.
            .executor(Runnable::run)
            .removalListener(
                (KekRef ref,
                    CachedKek kek,
                    com.github.benmanes.caffeine.cache.RemovalCause cause) -> {
                  if (kek != null) {
                    stats.evictions.increment();
                    kek.release();
                  }
                })
            .build();
  }

  /**
   * A retained KEK for {@code ref}, loading it with {@code loader} on a miss. The caller must
   * {@link CachedKek#release()} it.
   */
  CachedKek acquire(KekRef ref, Function<KekRef, CachedKek> loader) {
    for (; ; ) {
      CachedKek kek = cache.getIfPresent(ref);
      if (kek != null) {
        stats.hits.increment();
      } else {
        stats.misses.increment();
        kek = cache.get(ref, loader);
      }
      if (kek.tryRetain()) {
        return kek;
      }
      // Evicted and overwritten between the lookup and the retain: drop the stale mapping if it
      // is still there and look again.
      cache.asMap().remove(ref, kek);
    }
  }

  /** Caches a KEK just created, so its first use needs no KMS call. */
  void put(CachedKek kek) {
    cache.put(kek.ref(), kek);
  }

  void invalidate(KekRef ref) {
    cache.invalidate(ref);
  }

  /** Drops every cached version of {@code kekId}; each is overwritten once its users finish. */
  void invalidateAll(String kekId) {
    cache.invalidateAll(cache.asMap().keySet().stream().filter(r -> r.id().equals(kekId)).toList());
  }

  long size() {
    cache.cleanUp();
    return cache.estimatedSize();
  }

  @Override
  public void close() {
    cache.invalidateAll();
    cache.cleanUp();
  }
}
