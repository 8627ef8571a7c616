package dev.keymanager.core;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Policy;
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
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.random.RandomGenerator;
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
 *   <li><b>Jitter.</b> Each entry's refresh time is drawn uniformly from the {@code refreshJitter}
 *       window that ends at {@code hardTtl - refreshAhead} (never later), so key managers started
 *       together spread their refreshes over the window instead of calling the KMS at one instant.
 *   <li><b>Rate control.</b> Every KMS unwrap a load or refresh makes is admitted by the key
 *       manager's {@link KmsRateControl}: an optional token bucket, refreshes yielding to misses,
 *       and one back-off for all KEKs when the KMS throttles.
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

  private static final int RECORD_ONE_IN = 16; // a power of two

  private final Cache<KekRef, CachedKek> entries;
  private final Policy<KekRef, CachedKek> quietly; // entries' policy, for look-ups not recorded
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
  private final SubkeyCache subkeys;
  private final AtomicLong invalidations = new AtomicLong();
  private final ExpiryTimer expiryTimer;
  private final boolean flagsStale; // the expiry timer keeps the ticker's time (ExpiryTimer)
  private final KmsRateControl rates;
  private final long jitterNanos;
  private final RandomGenerator jitterRandom; // null: ThreadLocalRandom
  private final Object installLock = new Object();
  private boolean closed; // guarded by installLock
  private volatile boolean closing;

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

  /**
   * One load in flight, which dependency it is waiting on, and its waiters. A load that produced a
   * KEK keeps a reference to it ({@link #settle}) until its last waiter has taken its own ({@link
   * #leave}), so every waiter gets the key its load produced even if the cache evicted the entry
   * before the waiter woke: under thrash, a miss makes at most one KMS call.
   */
  private static final class Load extends CompletableFuture<CachedKek> {
    volatile boolean atKms;
    private int waiters; // guarded by this
    private boolean settled; // guarded by this
    private CachedKek held; // the load's reference for its waiters; guarded by this

    /** Registers a waiter; false once the load has settled with nothing left to hand out. */
    synchronized boolean addWaiter() {
      if (settled && held == null) {
        return false;
      }
      waiters++;
      return true;
    }

    /** The load's outcome: {@code kek} retained for the waiters, or null (failed or stale). */
    void settle(CachedKek kek) {
      CachedKek unused = null;
      synchronized (this) {
        settled = true;
        held = kek;
        if (waiters == 0) {
          unused = held;
          held = null;
        }
      }
      if (unused != null) {
        unused.release();
      }
    }

    /**
     * A waiter is done: returns the loaded KEK retained for it if {@code take} and the load
     * produced one (evicted meanwhile or not), else null; the last waiter lets the load's reference
     * go.
     */
    CachedKek leave(boolean take) {
      CachedKek mine = null;
      CachedKek unused = null;
      synchronized (this) {
        if (take && held != null) {
          held.retainHeld();
          mine = held;
        }
        if (--waiters == 0 && settled) {
          unused = held;
          held = null;
        }
      }
      if (unused != null) {
        unused.release();
      }
      return mine;
    }

    // Set on the loading thread only.
    KmsRateControl.Permit permit = KmsRateControl.Permit.REFUSED;
    boolean kmsCalled;
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
    this.subkeys = new SubkeyCache(settings.maximumSubkeys());
    this.jitterNanos = settings.refreshJitter().toNanos();
    this.jitterRandom = settings.jitterRandom();
    this.rates =
        new KmsRateControl(
            ticker,
            stats,
            settings.kmsRate(),
            settings.kmsBurst(),
            KmsRateControl.maxBackoff(settings.hardTtl(), settings.refreshAhead()));
    this.expiryTimer = new ExpiryTimer(ticker, this::expire);
    this.flagsStale = expiryTimer.keepsTickerTime();
    this.entries =
        Caffeine.newBuilder()
            // No Caffeine expiry: the expiry timer removes each entry at its hard TTL, and every
            // use checks the KEK's own deadline (CachedKek.isExpired), which starts when its KMS
            // call began. So a look-up reads no clock and the node keeps no write time.
            .maximumSize(settings.maximumSize())
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
    this.quietly = entries.policy();
    this.denials =
        Caffeine.newBuilder()
            .maximumSize(settings.negativeTtl().isZero() ? 0 : settings.maximumSize())
            .expireAfterWrite(settings.negativeTtl())
            .ticker(ticker)
            .build();
  }

  /**
   * The tunables of the cache, validated by the builder.
   *
   * @param refreshJitter the window before {@code hardTtl - refreshAhead} each refresh time is
   *     drawn from; zero for none
   * @param kmsRate KMS unwraps per second the token bucket allows, or 0 for no bucket
   * @param kmsBurst the token bucket's size
   * @param jitterRandom the jitter's random source, for reproducible simulations; null for {@link
   *     ThreadLocalRandom}; used under its own lock
   */
  record CacheSettings(
      Duration hardTtl,
      Duration refreshAhead,
      Duration refreshJitter,
      Duration negativeTtl,
      Duration loadWait,
      long maximumSize,
      long maximumSubkeys,
      Jca jca,
      double kmsRate,
      int kmsBurst,
      RandomGenerator jitterRandom) {}

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
      CachedKek loaded = take(ref, load(ref, null));
      if (loaded != null) {
        return loaded;
      }
      // Stale (an invalidation raced the load) or expired while we were waiting: look again.
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
    Load load = load(ref, null);
    joined.set(load);
    load.whenComplete(
        (loaded, failure) -> {
          CachedKek mine = load.leave(failure == null);
          if (failure != null) {
            result.completeExceptionally(forCaller(failure));
          } else if (mine != null && !mine.isExpired(ticker.read())) {
            handOver(mine, result);
          } else {
            if (mine != null) {
              mine.release();
            }
            missAsync(ref, result, joined); // stale or expired meanwhile: look again
          }
        });
  }

  /**
   * Waits for {@code load}, which the caller has joined, and takes the KEK it produced, retained,
   * even if evicted since; null if the load was stale or the KEK expired meanwhile.
   */
  private CachedKek take(KekRef ref, Load load) {
    boolean completed = false;
    try {
      await(ref, load);
      completed = true;
    } finally {
      if (!completed) {
        load.leave(false);
      }
    }
    CachedKek mine = load.leave(true);
    if (mine != null && mine.isExpired(ticker.read())) {
      mine.release();
      return null;
    }
    return mine;
  }

  /** Completes {@code result} with a retained KEK, or releases it if the caller has timed out. */
  private static void handOver(CachedKek kek, CompletableFuture<CachedKek> result) {
    if (!result.complete(kek)) {
      kek.release();
    }
  }

  /**
   * A retained, unexpired cached KEK, or null; drops an expired entry it finds. The look-up is
   * quiet: only one in {@value #RECORD_ONE_IN} is reported to Caffeine's eviction policy (its
   * frequency sketch and LRU order only need a sample), so a hit writes nothing shared most of the
   * time, rather than an entry in Caffeine's read buffer whose drain, on the caller's thread,
   * writes the policy's shared structures.
   */
  private CachedKek cached(KekRef ref, boolean countHit) {
    CachedKek kek = lookUp(ref);
    if (kek != null) {
      if (flagsStale && kek.isCurrent() && kek.tryRetain()) {
        // Not flagged by the timer: before its refresh time and hard TTL, no clock read needed.
        if (countHit) {
          stats.hits.increment();
        }
        return kek;
      }
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

  /** The entry for {@code ref}, unretained, reporting one look-up in {@value #RECORD_ONE_IN}. */
  private CachedKek lookUp(KekRef ref) {
    CachedKek kek = quietly.getIfPresentQuietly(ref);
    if (kek != null && (ThreadLocalRandom.current().nextInt() & (RECORD_ONE_IN - 1)) == 0) {
      var unused = entries.getIfPresent(ref); // records the access
    }
    return kek;
  }

  /**
   * The subkey of KEK {@code ref} already derived for the salt at {@code saltOffset} of {@code
   * encoded} (an unwrap subkey or this process's wrap subkey), <em>not</em> retained, or null; also
   * null with an injected clock, whose time no timer follows. For an unwrap hit, which takes no
   * reference count and checks the subkey's {@linkplain CachedKek.Subkey#entry() entry} once it has
   * its cipher ({@link DekCipher#unwrapIfDerived}); it counts the hit with {@link #countHit()}, and
   * on null calls {@link #acquire}. One hit in {@value #RECORD_ONE_IN} is still reported to the
   * eviction policy, as {@link #lookUp} does.
   */
  CachedKek.Subkey derivedSubkey(KekRef ref, byte[] encoded, int saltOffset) {
    if (!flagsStale) {
      return null;
    }
    CachedKek.Subkey found = subkeys.index().find(ref, encoded, saltOffset);
    if (found != null) {
      subkeys.touch(found);
      if ((ThreadLocalRandom.current().nextInt() & (RECORD_ONE_IN - 1)) == 0) {
        var unused = entries.getIfPresent(ref); // records the access
      }
    }
    return found;
  }

  /** Counts a hit found through {@link #derivedSubkey}. */
  void countHit() {
    stats.hits.increment();
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
      load(kek.ref(), kek);
    }
  }

  /**
   * The load in flight for {@code ref}, or a new one on the executor: a refresh of {@code
   * refreshing}, or a miss if that is null. A refresh the rate control refuses is not started (the
   * returned load is complete and stale) and is tried again when the rate control says.
   */
  private Load load(KekRef ref, CachedKek refreshing) {
    boolean refresh = refreshing != null;
    Load mine = new Load();
    if (!refresh) {
      mine.addWaiter();
    }
    for (; ; ) {
      Load running = inflight.get(ref);
      if (running == null) {
        running = inflight.putIfAbsent(ref, mine);
        if (running == null) {
          break;
        }
      }
      if (refresh || running.addWaiter()) {
        return running;
      }
      // It settled (and left the map) between our look-up and our join: look again.
    }
    if (!refresh) {
      // A miss that raced with a load finishing: that load installed its KEK before it left the
      // single-flight map, so look once more before asking the KMS again.
      CachedKek cached = entries.getIfPresent(ref);
      if (cached != null && !cached.isExpired(ticker.read()) && cached.tryRetain()) {
        inflight.remove(ref, mine);
        mine.settle(cached);
        mine.complete(cached);
        return mine;
      }
    }
    if (refresh) {
      long now = ticker.read();
      KmsRateControl.Permit permit = rates.tryRefresh(now);
      if (permit == KmsRateControl.Permit.REFUSED) {
        refreshing.deferRefresh(rates.nextRefreshTry(now));
        inflight.remove(ref, mine);
        mine.settle(null);
        mine.complete(STALE);
        return mine;
      }
      mine.permit = permit;
    }
    try {
      executor.execute(() -> runLoad(ref, refresh, mine));
    } catch (RejectedExecutionException e) {
      rates.answered(mine.permit, null, false, ticker.read());
      inflight.remove(ref, mine);
      mine.settle(null);
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
      byte[] plaintext =
          loader.load(
              ref,
              () -> {
                future.atKms = true;
                if (!refresh) {
                  rates.admitMiss(ref, start + loadWaitNanos, loadWaitNanos, () -> closing);
                  future.permit = KmsRateControl.Permit.CALL;
                }
                future.kmsCalled = true;
              });
      CachedKek kek =
          new CachedKek(ref, plaintext, start + ttlNanos, refreshAt(start), jca, subkeys);
      kek.retainHeld(); // the load's reference for its waiters (Load.settle); new, so never dropped
      result = install(kek, generation, refresh ? stats.refreshes : stats.loads);
      if (result == STALE) {
        kek.release(); // dropped by install: wiped now
      }
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
    rates.answered(future.permit, failure, future.kmsCalled, ticker.read());
    // Leave the single-flight map before waking the waiters, so a caller that saw this failure
    // and tries again starts a new load instead of joining this finished one.
    inflight.remove(ref, future);
    future.settle(result);
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
      // A refresh unwrapped the same KEK bytes: keep its wrap salt, counter and unwrap subkeys.
      kek.adoptSubkeys(entries.asMap().get(kek.ref()), ticker.read());
      entries.put(kek.ref(), kek); // the cache's reference; a replaced entry is released
      kek.subkeys().installedIn(kek); // unwrap hits check this entry from now on
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
    } else if (shared instanceof KmsUnavailableException u) {
      return u.isThrottled()
          ? KmsUnavailableException.throttled(message, u.retryAfter().orElse(null), shared)
          : new KmsUnavailableException(message, shared);
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
   * Whether an entry that is {@linkplain CachedKek#isCurrent() current} is known to be before its
   * refresh time and hard TTL without reading the ticker (the expiry timer flags it in time).
   */
  boolean flagsStale() {
    return flagsStale;
  }

  /**
   * What the expiry timer runs at an entry's hard TTL: drops {@code kek} once its hard TTL has
   * passed, whether or not anything touches the cache, so an idle process keeps no expired
   * plaintext ({@link ExpiryTimer}). Returns false if it is not due yet (the timer tries again).
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
    CachedKek kek = new CachedKek(ref, plaintext, now + ttlNanos, refreshAt(now), jca, subkeys);
    install(kek, invalidations.get(), null); // a creation: neither a load nor a refresh
  }

  /**
   * The refresh time of an entry whose KMS unwrap began at {@code start}: {@code hardTtl -
   * refreshAhead} after it, less a uniform draw from the jitter window.
   */
  private long refreshAt(long start) {
    long latest = start + ttlNanos - refreshAheadNanos;
    if (jitterNanos <= 0 || refreshAheadNanos <= 0) {
      return latest;
    }
    long jitter;
    if (jitterRandom == null) {
      jitter = ThreadLocalRandom.current().nextLong(jitterNanos + 1);
    } else {
      synchronized (jitterRandom) {
        jitter = jitterRandom.nextLong(jitterNanos + 1);
      }
    }
    return latest - jitter;
  }

  /**
   * Starts a new invalidation generation, so loads that began before it are not cached. Under the
   * install lock: an install checks the generation and puts its entry under that lock, so it either
   * put its entry before this (and the invalidation that follows removes it) or sees the new
   * generation and drops its entry; never puts it after an invalidation that returned.
   */
  private void newGeneration() {
    synchronized (installLock) {
      invalidations.incrementAndGet();
    }
  }

  /**
   * Drops and wipes {@code ref}'s plaintext and any remembered denial; loads already running for it
   * are not cached. For lifecycle changes.
   */
  void invalidate(KekRef ref) {
    newGeneration();
    entries.invalidate(ref);
    denials.invalidate(ref);
  }

  /**
   * Drops and wipes every cached version of {@code kekId} and its remembered denials; loads already
   * running are not cached. For change notices from the store, which name a KEK, not the versions
   * this cache holds.
   */
  void invalidateKek(String kekId) {
    newGeneration();
    entries.asMap().keySet().removeIf(ref -> ref.id().equals(kekId));
    denials.asMap().keySet().removeIf(ref -> ref.id().equals(kekId));
  }

  /**
   * Drops and wipes every entry and remembered denial; loads already running are not cached. For a
   * store's change feed that may have lost notices.
   */
  void invalidateAll() {
    newGeneration();
    entries.invalidateAll();
    denials.invalidateAll();
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

  /** What {@link dev.keymanager.KeyManagerStats} reports of the cache's occupancy. */
  record Occupancy(long cachedKeks, long loadsInFlight, Optional<Duration> oldestKekTimeLeft) {}

  /**
   * The unexpired cached KEKs, the loads running and the least time left before a cached KEK's hard
   * TTL, in one pass over the entries. Reads only, as {@link #size()}; costs one step per cached
   * KEK, so it is for monitoring, not the data path.
   */
  Occupancy occupancy() {
    long now = ticker.read();
    long live = 0;
    long least = Long.MAX_VALUE;
    for (CachedKek kek : entries.asMap().values()) {
      if (!kek.isExpired(now)) {
        live++;
        least = Math.min(least, kek.expiresAt() - now);
      }
    }
    return new Occupancy(
        live, inflight.size(), live == 0 ? Optional.empty() : Optional.of(Duration.ofNanos(least)));
  }

  /** The bound on unwrap subkeys across all KEKs, for tests. */
  @VisibleForTesting
  SubkeyCache subkeys() {
    return subkeys;
  }

  /** Drops and wipes every entry; loads still running are not cached. */
  @Override
  public void close() {
    closing = true;
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
