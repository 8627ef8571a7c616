package dev.keymanager.core;

import dev.keymanager.internal.KekLiveness;

/**
 * The liveness check of one handle on a DEK (a {@code DataKey}, a stream, a channel): may the KEK
 * version it came from still be used, as a fresh unwrap would decide?
 *
 * <p>The fast path reads the cache entry the handle last saw: not flagged stale, which the cache
 * does when it drops it (lifecycle changes, KMS denials seen by a refresh, replacement by a
 * refresh, size eviction and close) and the expiry timer does at its refresh time and shortly
 * before its hard TTL ({@link ExpiryTimer}). That is one volatile read and no clock read on the
 * system ticker; with an injected clock the ticker is compared too, since no timer can know when a
 * hand-advanced clock passes a time. Anything else takes the slow path, which asks the cache
 * exactly as an unwrap does: the first use in the refresh window starts the background refresh (so
 * a handle that is the only traffic on its KEK keeps it fresh and never waits on the KMS), a
 * refreshed entry is found, an entry that expired for lack of traffic is unwrapped again through
 * the KMS (single flight), and a denial, a state change or an outage past the hard TTL throws. The
 * first failure is kept: every later check throws the same type, so a handle that failed stays
 * failed even once access is back.
 *
 * <p>For one thread at a time (as the handles are); a racing second thread at worst takes the slow
 * path too. Holds no lease: the entry it remembers is wiped as usual once the cache lets go.
 */
final class HandleLiveness implements KekLiveness {
  private final KekCache cache;
  private final boolean readClock; // the timer's flag alone is not enough (an injected clock)
  private CachedKek entry; // the entry last seen live; its fields are final or volatile
  private RuntimeException failure; // the first failure, kept; one thread at a time

  HandleLiveness(KekCache cache, CachedKek entry) {
    this.cache = cache;
    this.entry = entry;
    this.readClock = !cache.flagsStale();
  }

  @Override
  public void check() {
    CachedKek e = entry;
    if (failure == null && e.isCurrent() && (!readClock || e.isFresh(cache.now()))) {
      return;
    }
    slowCheck();
  }

  private void slowCheck() {
    RuntimeException failed = failure;
    if (failed != null) {
      throw KekCache.forCaller(failed);
    }
    CachedKek fresh;
    try {
      fresh = cache.acquire(entry.ref());
    } catch (RuntimeException e) {
      failure = e;
      throw KekCache.forCaller(e);
    }
    fresh.release(); // only its liveness is wanted
    entry = fresh;
  }

  @Override
  public String toString() {
    return "HandleLiveness[" + entry.ref() + (failure != null ? ", failed" : "") + "]";
  }
}
