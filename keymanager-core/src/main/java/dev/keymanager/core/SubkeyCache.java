package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;

/**
 * The bound on unwrap subkeys across every cached KEK of one key manager: a count of subkeys (each
 * holds its 32 bytes and the AES-GCM ciphers keyed with them), evicting the least useful first,
 * whichever KEK they came from. A KEK's own subkey index ({@link KekSubkeys}) finds a subkey on the
 * hot path; this cache only decides which subkeys stay, and tells the owning KEK when one goes.
 *
 * <p>Keys are the subkey objects themselves (identity), values the KEK whose index holds them. A
 * hit is reported here for one lookup in {@value #TOUCH_ONE_IN} (Caffeine's frequency sketch and
 * LRU order only need a sample), so a hot subkey costs the hot path one thread-local random number
 * most of the time and no shared write.
 *
 * <p>Never call into this cache while holding a {@link KekSubkeys} lock: eviction calls back into
 * the owner ({@link KekSubkeys#evicted}), which takes its lock.
 */
final class SubkeyCache {
  /** The default bound; the builder's {@code maximumCachedSubkeys}. */
  static final long DEFAULT_MAXIMUM = 20_000;

  private static final int TOUCH_ONE_IN = 8; // a power of two

  private final Cache<CachedKek.Subkey, KekSubkeys> entries;
  private final LongAdder derivations = new LongAdder();

  SubkeyCache(long maximum) {
    this.entries =
        Caffeine.newBuilder()
            .maximumSize(maximum)
            // Evict on the thread that added, so the evicted subkey is wiped now (once no unwrap
            // holds it), not whenever a pool thread gets to it.
            .executor(Runnable::run)
            .<CachedKek.Subkey, KekSubkeys>removalListener(
                (subkey, owner, cause) -> {
                  if (subkey != null && owner != null) {
                    owner.evicted(subkey);
                  }
                })
            .build();
  }

  /** Counts {@code subkey}, indexed by {@code owner}; may evict others (theirs or other KEKs'). */
  void add(CachedKek.Subkey subkey, KekSubkeys owner) {
    derivations.increment();
    entries.put(subkey, owner);
  }

  /** Reports a hit on {@code subkey}, sampled. */
  void touch(CachedKek.Subkey subkey) {
    if ((ThreadLocalRandom.current().nextInt() & (TOUCH_ONE_IN - 1)) == 0) {
      var unused = entries.getIfPresent(subkey); // records the access
    }
  }

  /** Forgets subkeys whose KEK is being wiped; their owner is told as for an eviction. */
  void removeAll(List<CachedKek.Subkey> subkeys) {
    entries.invalidateAll(subkeys);
  }

  /** How many unwrap subkeys were derived and added so far, for tests. */
  @VisibleForTesting
  long derivations() {
    return derivations.sum();
  }

  /** The approximate number of unwrap subkeys held, for tests and sizing. */
  long size() {
    entries.cleanUp();
    return entries.estimatedSize();
  }
}
