package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Ticker;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekNotFoundException;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.core.internal.Jca;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Plaintext KEKs by id and version: the revocation bound, refresh-ahead, single flight and the
 * negative cache.
 *
 * <ul>
 *   <li><b>Hard TTL.</b> A KEK is used only before {@code hardTtl} has passed since the KMS unwrap
 *       that produced it began ({@link CachedKek#isExpired}); checked on every use, not left to the
 *       cache's own clean-up.
 *   <li><b>Refresh-ahead.</b> The first use after {@code hardTtl - refreshAhead} starts one
 *       background unwrap. Success replaces the entry (a new hard TTL). A <em>denial</em> or any
 *       other permanent failure (KEK disabled or gone from the store, corrupt record) evicts the
 *       entry at once. A <em>transient</em> failure keeps the entry until its hard TTL, and the
 *       refresh is retried by a later use after {@code hardTtl / 32}.
 *   <li><b>Single flight.</b> A miss starts at most one load per KEK; every concurrent miss waits
 *       for it, at most {@code loadWait}, and shares its result or its error (each caller gets its
 *       own exception instance, with the shared one as cause).
 *   <li><b>Negative cache.</b> A KMS denial is remembered for {@code negativeTtl}: misses in that
 *       time fail at once without a KMS call. Transient failures are never remembered.
 *   <li><b>Wiping.</b> Expiry, size eviction, invalidation, replacement by a refresh and {@link
 *       #close()} drop the cache's reference; the last holder overwrites the bytes ({@link
 *       CachedKek}). An operation holds its own reference, so it never runs on zeroed bytes.
 * </ul>
 *
 * <p>Loads run on the key manager's KMS executor, never under a lock a caller holds. A load that
 * raced with an invalidation (a lifecycle change) is not cached: its waiters look again.
 */
final class KekCache implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KekCache.class);

  /** Completes a load future when the load raced with an invalidation: waiters look again. */
  private static final CachedKek STALE = null;

  private final Cache<KekRef, CachedKek> entries;
  private final Cache<KekRef, KeyAccessDeniedException> denials;
  private final ConcurrentHashMap<KekRef, Load> inflight = new ConcurrentHashMap<>();
  private final Loader loader;
  private final String storeName;
  private final Executor executor;
  private final Ticker ticker;
  private final Stats stats;
  private final long ttlNanos;
  private final long refreshAheadNanos;
  private final long refreshRetryNanos;
  private final long loadWaitNanos;
  private final Jca jca;
  private final AtomicLong invalidations = new AtomicLong();
  private final ExpiryTimer expiryTimer;
  private final Object installLock = new Object();
  private boolean closed; // guarded by installLock

  /**
   * Loads one KEK version: reads its record from the store, then unwraps it through the KMS, and
   * returns the plaintext, which the cache then owns. Runs on the cache's executor.
   */
  interface Loader {
    /**
     * @param kmsStarted to be run once the store read is done, just before the KMS call, so that a
     *     waiter who gives up can say which of the two it was waiting on
     */
    byte[] load(KekRef ref, Runnable kmsStarted);
  }

  /** One load in flight, and which dependency it is waiting on. */
  private static final class Load extends CompletableFuture<CachedKek> {
    volatile boolean atKms;
  }

  /**
   * @param storeName names the KEK store in the message of a load that outlasts the bounded wait
   *     while still reading the store
   */
  KekCache(
      CacheSettings settings,
      Ticker ticker,
      Stats stats,
      Executor executor,
      String storeName,
      Loader loader) {
    this.ticker = ticker;
    this.storeName = storeName;
    this.stats = stats;
    this.executor = executor;
    this.loader = loader;
    this.ttlNanos = settings.hardTtl().toNanos();
    this.refreshAheadNanos = settings.refreshAhead().toNanos();
    this.refreshRetryNanos = Math.max(1, ttlNanos / 32);
    this.loadWaitNanos = settings.loadWait().toNanos();
    this.jca = settings.jca();
    this.expiryTimer = new ExpiryTimer(ticker, this::expire);
    this.entries =
        Caffeine.newBuilder()
            // Clean-up only: every use checks the KEK's own deadline (CachedKek.isExpired), which
            // starts when its KMS call began, a little before this write. Fixed expiry, unlike a
            // per-entry Expiry, writes nothing to the entry on a read, so hot readers on several
            // cores share no written cache line here.
            .expireAfterWrite(settings.hardTtl())
            .maximumSize(settings.maximumSize())
            .ticker(ticker)
            // Release on the thread that removed the entry, so the bytes are overwritten now
            // rather than whenever a pool thread gets to it.
            .executor(Runnable::run)
            .removalListener(
                (KekRef ref, CachedKek kek, RemovalCause cause) -> {
                  if (kek != null) {
                    if (cause != RemovalCause.REPLACED) {
                      stats.evictions.increment();
                    }
                    kek.drop();
                  }
                })
            .build();
    this.denials =
        Caffeine.newBuilder()
            .maximumSize(settings.negativeTtl().isZero() ? 0 : settings.maximumSize())
            .expireAfterWrite(settings.negativeTtl())
            .ticker(ticker)
            .build();
  }

  /** The tunables of the cache, validated by the builder. */
  record CacheSettings(
      Duration hardTtl,
      Duration refreshAhead,
      Duration negativeTtl,
      Duration loadWait,
      long maximumSize,
      Jca jca) {}

  /**
   * A retained, unexpired KEK for {@code ref}, loading it on a miss. The caller must {@link
   * CachedKek#release()} it.
   *
   * @throws KeyAccessDeniedException if the KMS denied the unwrap, now or within the negative TTL
   * @throws KmsUnavailableException if the KMS failed transiently, or the load took longer than the
   *     bounded wait while waiting on the KMS
   * @throws KekStoreException (retryable) if the load took longer than the bounded wait while still
   *     reading the KEK's record from the store; the store's own failure as it raised it
   */
  CachedKek acquire(KekRef ref) {
    CachedKek hit = cached(ref, true);
    if (hit != null) {
      return hit;
    }
    stats.misses.increment();
    for (; ; ) {
      KeyAccessDeniedException denied = denials.getIfPresent(ref);
      if (denied != null) {
        throw deniedAgain(ref, denied);
      }
      CachedKek loaded = await(ref, load(ref, false));
      if (loaded != STALE && loaded.tryRetain()) {
        if (!loaded.isExpired(ticker.read())) {
          return loaded;
        }
        loaded.release();
      }
      // Stale, already evicted, or expired while we were waiting: look again.
      hit = cached(ref, false);
      if (hit != null) {
        return hit;
      }
    }
  }

  /**
   * As {@link #acquire}, without blocking: a hit is a completed future (on the caller's thread); a
   * miss joins or starts the load on the executor (the same single flight as {@link #acquire}) and
   * completes there, with the same exceptions, or with {@link KmsUnavailableException} once the
   * bounded wait has passed. The caller must release the KEK the future yields.
   */
  CompletableFuture<CachedKek> acquireAsync(KekRef ref) {
    CachedKek hit = cached(ref, true);
    if (hit != null) {
      return CompletableFuture.completedFuture(hit);
    }
    stats.misses.increment();
    CompletableFuture<CachedKek> result = new CompletableFuture<>();
    AtomicReference<Load> joined = new AtomicReference<>(); // for the timeout's message
    CompletableFuture.delayedExecutor(loadWaitNanos, TimeUnit.NANOSECONDS)
        .execute(
            () -> {
              if (!result.isDone()) {
                result.completeExceptionally(waitedTooLong(ref, joined.get(), null));
              }
            });
    missAsync(ref, result, joined);
    return result;
  }

  private void missAsync(
      KekRef ref, CompletableFuture<CachedKek> result, AtomicReference<Load> joined) {
    if (result.isDone()) {
      return; // timed out
    }
    CachedKek hit = cached(ref, false);
    if (hit != null) {
      handOver(hit, result);
      return;
    }
    KeyAccessDeniedException denied = denials.getIfPresent(ref);
    if (denied != null) {
      result.completeExceptionally(deniedAgain(ref, denied));
      return;
    }
    Load load = load(ref, false);
    joined.set(load);
    load.whenComplete(
        (loaded, failure) -> {
          if (failure != null) {
            result.completeExceptionally(forCaller(failure));
          } else if (loaded != STALE && loaded.tryRetain()) {
            if (!loaded.isExpired(ticker.read())) {
              handOver(loaded, result);
            } else {
              loaded.release();
              missAsync(ref, result, joined);
            }
          } else {
            missAsync(ref, result, joined); // stale or evicted meanwhile: look again
          }
        });
  }

  /** Completes {@code result} with a retained KEK, or releases it if the caller has timed out. */
  private static void handOver(CachedKek kek, CompletableFuture<CachedKek> result) {
    if (!result.complete(kek)) {
      kek.release();
    }
  }

  /** A retained, unexpired cached KEK, or null; drops an expired entry it finds. */
  private CachedKek cached(KekRef ref, boolean countHit) {
    CachedKek kek = entries.getIfPresent(ref);
    if (kek != null) {
      long now = ticker.read();
      if (!kek.isExpired(now) && kek.tryRetain()) {
        if (countHit) {
          stats.hits.increment();
        }
        maybeRefresh(kek, now);
        return kek;
      }
      // Past its hard TTL, or evicted and overwritten between the lookup and the retain.
      entries.asMap().remove(ref, kek);
    }
    return null;
  }

  private static KeyAccessDeniedException deniedAgain(KekRef ref, KeyAccessDeniedException denied) {
    return new KeyAccessDeniedException(
        "Not asking the KMS again yet for KEK "
            + ref
            + ": it denied access within the negative TTL ("
            + denied.getMessage()
            + ")",
        denied);
  }

  /**
   * The failure of a wait for {@code load} that outlasted the bounded wait: the store's (retryable)
   * while the load was still reading the record, the KMS's once it had called the KMS.
   */
  private KeyManagerException waitedTooLong(KekRef ref, Load load, Throwable cause) {
    if (load != null && !load.atKms) {
      return KekStoreException.retryable(
          "Waited "
              + Duration.ofNanos(loadWaitNanos).toMillis()
              + " ms for KEK store "
              + storeName
              + " to read KEK "
              + ref
              + " (no KMS call was made yet); the read goes on in the background and fills the"
              + " cache if it succeeds. The call may be retried. A store on a connection pool"
              + " should time out sooner than loadTimeout (the pool's connection timeout), so"
              + " an outage is reported with the store's own error",
          cause);
    }
    return new KmsUnavailableException(
        "Waited "
            + Duration.ofNanos(loadWaitNanos).toMillis()
            + " ms for the KMS to unwrap KEK "
            + ref
            + "; the call goes on in the background and fills the cache if it succeeds",
        cause);
  }

  private void maybeRefresh(CachedKek kek, long now) {
    if (refreshAheadNanos > 0 && kek.claimRefresh(now, refreshRetryNanos)) {
      load(kek.ref(), true);
    }
  }

  /** The load in flight for {@code ref}, or a new one on the executor. */
  private Load load(KekRef ref, boolean refresh) {
    Load running = inflight.get(ref);
    if (running != null) {
      return running;
    }
    Load mine = new Load();
    running = inflight.putIfAbsent(ref, mine);
    if (running != null) {
      return running;
    }
    if (!refresh) {
      // A miss that raced with a load finishing: that load installed its KEK before it left the
      // single-flight map, so look once more before asking the KMS again.
      CachedKek cached = entries.getIfPresent(ref);
      if (cached != null && !cached.isExpired(ticker.read())) {
        inflight.remove(ref, mine);
        mine.complete(cached);
        return mine;
      }
    }
    try {
      executor.execute(() -> runLoad(ref, refresh, mine));
    } catch (RejectedExecutionException e) {
      inflight.remove(ref, mine);
      mine.completeExceptionally(new IllegalStateException("key manager is closed", e));
    }
    return mine;
  }

  private void runLoad(KekRef ref, boolean refresh, Load future) {
    long generation = invalidations.get();
    CachedKek result = STALE;
    Throwable failure = null;
    try {
      long start = ticker.read();
      byte[] plaintext = loader.load(ref, () -> future.atKms = true);
      CachedKek kek =
          new CachedKek(
              ref, plaintext, start + ttlNanos, start + ttlNanos - refreshAheadNanos, jca);
      result = install(kek, generation, refresh ? stats.refreshes : stats.loads);
    } catch (KeyAccessDeniedException e) {
      denials.put(ref, e);
      evictAfterPermanentFailure(ref, refresh, e);
      failure = e;
    } catch (KeyManagerException e) {
      if (e.isRetryable()) {
        if (refresh) {
          log.warn("Refresh of KEK {} failed transiently; serving until its hard TTL", ref);
        }
      } else {
        evictAfterPermanentFailure(ref, refresh, e);
      }
      failure = e;
    } catch (RuntimeException | Error e) {
      failure = e;
    }
    // Leave the single-flight map before waking the waiters, so a caller that saw this failure
    // and tries again starts a new load instead of joining this finished one.
    inflight.remove(ref, future);
    if (failure == null) {
      future.complete(result);
    } else {
      future.completeExceptionally(failure);
    }
  }

  /** Caches a loaded KEK, unless the cache closed or was invalidated since the load began. */
  private CachedKek install(CachedKek kek, long generation, LongAdder counter) {
    synchronized (installLock) {
      if (closed || invalidations.get() != generation) {
        kek.drop();
        return STALE;
      }
      entries.put(kek.ref(), kek); // the cache's reference; a replaced entry is released
      expiryTimer.schedule(kek);
    }
    denials.invalidate(kek.ref());
    if (counter != null) {
      counter.increment();
    }
    return kek;
  }

  private void evictAfterPermanentFailure(KekRef ref, boolean refresh, KeyManagerException e) {
    if (refresh) {
      log.warn("Refresh of KEK {} failed permanently; evicting it now: {}", ref, e.getMessage());
    }
    entries.invalidate(ref);
  }

  /**
   * Waits for a load, at most the bounded wait, and rethrows its failure as the caller's own. A
   * load that outlasts the wait is reported as the fault of what it is waiting on: the store (a
   * retryable {@link KekStoreException}) or the KMS ({@link KmsUnavailableException}).
   */
  private CachedKek await(KekRef ref, Load load) {
    try {
      return load.get(loadWaitNanos, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      throw waitedTooLong(ref, load, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KmsUnavailableException(
          "Interrupted while waiting for the KMS to unwrap KEK " + ref, e);
    } catch (ExecutionException e) {
      throw forCaller(e.getCause());
    }
  }

  /**
   * A new exception of the same type for this caller, with the shared one as its cause, so that no
   * two threads ever throw (and mutate) the same instance.
   */
  static RuntimeException forCaller(Throwable shared) {
    String message = shared.getMessage();
    if (shared instanceof KeyAccessDeniedException) {
      return new KeyAccessDeniedException(message, shared);
    } else if (shared instanceof KmsUnavailableException) {
      return new KmsUnavailableException(message, shared);
    } else if (shared instanceof InvalidCiphertextException) {
      return new InvalidCiphertextException(message, shared);
    } else if (shared instanceof KekStateException) {
      if (shared instanceof KekNotFoundException n) {
        return new KekNotFoundException(n.kekId(), n.version().orElse(0), message, shared);
      }
      KekStateException s = (KekStateException) shared;
      return new KekStateException(s.kekId(), s.state().orElse(null), message, shared);
    } else if (shared instanceof KekStoreException s) {
      return KekStoreException.sameKindAs(s, message, shared);
    } else if (shared instanceof KeyManagerConfigException) {
      return new KeyManagerConfigException(message, shared);
    } else if (shared instanceof IllegalStateException) {
      return new IllegalStateException(message, shared);
    }
    return new IllegalStateException("Loading a KEK failed unexpectedly", shared);
  }

  /** The ticker's time now: what handles compare with their entry's hard TTL. */
  long now() {
    return ticker.read();
  }

  /**
   * The expiry timer's task: drops {@code kek} once its hard TTL has passed, whether or not
   * anything touches the cache, so an idle process keeps no expired plaintext ({@link
   * ExpiryTimer}). Returns false if it is not due yet (the timer tries again).
   */
  private boolean expire(CachedKek kek) {
    if (!kek.isExpired(ticker.read())) {
      return false;
    }
    entries.asMap().remove(kek.ref(), kek); // the removal listener drops it: wiped when unused
    return true;
  }

  /** Caches a KEK just created, so its first use needs no KMS call. */
  void put(KekRef ref, byte[] plaintext) {
    long now = ticker.read();
    CachedKek kek =
        new CachedKek(ref, plaintext, now + ttlNanos, now + ttlNanos - refreshAheadNanos, jca);
    install(kek, invalidations.get(), null); // a creation: neither a load nor a refresh
  }

  /**
   * Drops and wipes {@code ref}'s plaintext and any remembered denial; loads already running for it
   * are not cached. For lifecycle changes.
   */
  void invalidate(KekRef ref) {
    invalidations.incrementAndGet();
    entries.invalidate(ref);
    denials.invalidate(ref);
  }

  /**
   * Waits until no load or refresh is running, for tests that advance a manual clock and need the
   * background work a use started to have finished.
   */
  @VisibleForTesting
  void awaitIdle(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!inflight.isEmpty()) {
      for (Load f : inflight.values()) {
        try {
          f.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (ExecutionException | CancellationException e) {
          // its failure is the caller's to observe through the cache
        } catch (TimeoutException e) {
          throw new IllegalStateException("KEK loads still running after " + timeout, e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted", e);
        }
      }
    }
  }

  /**
   * The approximate number of cached KEK versions, expired ones not yet cleaned up included. Reads
   * only: no clean-up runs, so nothing is evicted or wiped by asking (this feeds {@code toString}).
   */
  long size() {
    return entries.estimatedSize();
  }

  /** Drops and wipes every entry; loads still running are not cached. */
  @Override
  public void close() {
    synchronized (installLock) {
      closed = true;
    }
    expiryTimer.close();
    entries.invalidateAll();
    entries.cleanUp();
    denials.invalidateAll();
    IllegalStateException closedException = new IllegalStateException("key manager is closed");
    inflight.values().forEach(f -> f.completeExceptionally(closedException));
  }
}
