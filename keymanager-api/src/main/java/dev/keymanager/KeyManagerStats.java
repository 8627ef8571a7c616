package dev.keymanager;

import static java.util.Objects.requireNonNull;

import java.time.Duration;
import java.util.Optional;

/**
 * A snapshot of a key manager's KEK cache and KMS counters since it was built, and of the cache's
 * occupancy now.
 *
 * @param hits KEK lookups served from the cache
 * @param misses KEK lookups that found no usable cached entry
 * @param loads KEKs unwrapped through the KMS and put in the cache
 * @param kmsCalls calls made to a KMS (unwraps and wraps, successful or not)
 * @param denials KMS calls that were refused ({@link KeyAccessDeniedException})
 * @param transientFailures KMS calls that failed transiently ({@link KmsUnavailableException})
 * @param refreshes background re-unwraps of cached KEKs before their hard TTL
 * @param evictions cached KEKs dropped (expiry, size, invalidation, denial, close); each one
 *     overwritten once its last in-flight user finishes
 * @param unreadableRecords KEK records (or KEKs) that {@link KekAdmin#listKeks()} or {@link
 *     KekAdmin#destroyDueKeks()} could not read and skipped, each logged as a warning; counted
 *     every time one is skipped, so any increase means a corrupt record needs an operator
 * @param throttledCalls KMS calls the KMS refused for its request quota ({@link
 *     KmsUnavailableException#isThrottled()}); included in {@code transientFailures}
 * @param deferredCalls KMS calls the key manager's own rate control held back: refreshes postponed
 *     (the token bucket was empty or the key manager was backing off from throttling) and misses
 *     that waited for, or were refused, a permit
 * @param cachedKeks KEK versions cached now and not past their hard TTL (0 once closed)
 * @param loadsInFlight KEK unwraps running now on the KMS executor: misses and background
 *     refreshes, one per KEK version however many callers wait on it
 * @param hardTtl the configured hard TTL: how long a KEK is used after the KMS unwrap that produced
 *     it (the revocation bound)
 * @param oldestKekTimeLeft the time left before the hard TTL of the cached KEK unwrapped (or last
 *     refreshed) longest ago, empty when nothing is cached. It falls from {@code hardTtl} towards
 *     zero while refreshes fail and jumps back when one succeeds; compare it with {@code hardTtl}
 *     to see how close an outage is to failing reads
 */
public record KeyManagerStats(
    long hits,
    long misses,
    long loads,
    long kmsCalls,
    long denials,
    long transientFailures,
    long refreshes,
    long evictions,
    long unreadableRecords,
    long throttledCalls,
    long deferredCalls,
    long cachedKeks,
    long loadsInFlight,
    Duration hardTtl,
    Optional<Duration> oldestKekTimeLeft) {

  /** Checks for nulls. */
  public KeyManagerStats {
    requireNonNull(hardTtl, "hardTtl");
    requireNonNull(oldestKekTimeLeft, "oldestKekTimeLeft");
  }
}
