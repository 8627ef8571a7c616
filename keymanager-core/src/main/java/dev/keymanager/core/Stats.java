package dev.keymanager.core;

import dev.keymanager.KeyManagerStats;
import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;

/** The counters behind {@link KeyManagerStats}; LongAdders, since hits come from every thread. */
final class Stats {
  final LongAdder hits = new LongAdder();
  final LongAdder misses = new LongAdder();
  final LongAdder loads = new LongAdder();
  final LongAdder kmsCalls = new LongAdder();
  final LongAdder denials = new LongAdder();
  final LongAdder transientFailures = new LongAdder();
  final LongAdder refreshes = new LongAdder();
  final LongAdder evictions = new LongAdder();
  final LongAdder unreadableRecords = new LongAdder();
  final LongAdder throttledCalls = new LongAdder();
  final LongAdder deferredCalls = new LongAdder();

  /** The counters now, with the cache's occupancy read from {@code cache}. */
  KeyManagerStats snapshot(KekCache cache, Duration hardTtl) {
    KekCache.Occupancy occupancy = cache.occupancy();
    return new KeyManagerStats(
        hits.sum(),
        misses.sum(),
        loads.sum(),
        kmsCalls.sum(),
        denials.sum(),
        transientFailures.sum(),
        refreshes.sum(),
        evictions.sum(),
        unreadableRecords.sum(),
        throttledCalls.sum(),
        deferredCalls.sum(),
        occupancy.cachedKeks(),
        occupancy.loadsInFlight(),
        hardTtl,
        occupancy.oldestKekTimeLeft());
  }
}
