package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.keymanager.DataKey;
import dev.keymanager.DataKeyService;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekAdmin;
import dev.keymanager.KekNotFoundException;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.RewrapSink;
import dev.keymanager.WarmUpReport;
import dev.keymanager.WarmUpScope;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.PrimaryVersions;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.AuditListener;
import dev.keymanager.spi.KekChangeSubscription;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsUnwrapper;
import java.net.URI;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link KeyManager}: KEK records in a {@link KekStore}, plaintext KEKs in a {@link KekCache},
 * DEKs wrapped by {@link DekCipher}, KMS calls through a {@link KmsRegistry}.
 *
 * <p>Which version is primary is cached with the same hard TTL as the KEKs themselves, so the hot
 * path reads no store. Changes made by this instance take effect at once; changes made by another
 * process sharing the store (a rotation, a disable) take effect here when the store's change feed
 * announces them ({@link StoreChangeFollower}), and at the latest within the hard TTL, the same
 * bound as a CMK revocation.
 */
final class DefaultKeyManager implements KeyManager, Jca.Source, PrimaryVersions {
  private static final Logger log = LoggerFactory.getLogger(DefaultKeyManager.class);

  static final int KEK_LENGTH = 32;
  static final int DEK_LENGTH = 32;
  static final int MIN_DEK_LENGTH = 16;
  static final int MAX_DEK_LENGTH = 64;

  /** Context keys binding a KEK's KMS ciphertext to its id and version. */
  static final String CONTEXT_KEK_ID = KekAdmin.KMS_CONTEXT_KEK_ID;

  static final String CONTEXT_KEK_VERSION = KekAdmin.KMS_CONTEXT_KEK_VERSION;

  private final KekStore store;
  private final KmsRegistry kms;
  private final KekCache cache;
  private final Cache<String, KekRef> primaries;
  private final KmsAudit audit;
  private final Stats stats;
  private final java.time.InstantSource clock;
  private final Executor executor;
  private final KmsExecutor ownedExecutor; // null when the user brought their own
  private final DefaultKekAdmin admin;
  private final DataPathView dataPath;
  private final WarmUp warmer;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final KekLifecycle lifecycle;
  private final KekStateChanges states;
  private final Rewrapper rewrapper;
  private final Duration loadWait;
  private final Duration hardTtl;
  private final StoreChangeFollower follower; // null when not following the store's feed
  private final KekChangeSubscription subscription; // null when not following the store's feed
  private final Jca jca;

  DefaultKeyManager(KeyManagers.Builder config, KmsRegistry kms) {
    // Every read of every component is checked to answer for the KEK asked for.
    this.store = CheckedKekStore.of(config.store());
    this.kms = kms;
    this.clock = config.clock();
    this.stats = new Stats();
    this.audit = new KmsAudit(stats, config.auditListeners(), clock);
    this.ownedExecutor = config.kmsExecutor() == null ? new KmsExecutor(config.kmsThreads()) : null;
    this.executor = ownedExecutor != null ? ownedExecutor : config.kmsExecutor();
    KekCache.CacheSettings settings = config.cacheSettings();
    this.jca = settings.jca();
    this.cache =
        new KekCache(settings, config.ticker(), stats, executor, store.toString(), this::unwrapKek);
    this.loadWait = settings.loadWait();
    this.hardTtl = settings.hardTtl();
    this.primaries =
        Caffeine.newBuilder()
            .expireAfterWrite(config.hardTtl())
            .maximumSize(config.maximumCachedKeks())
            .ticker(config.ticker())
            .build();
    this.lifecycle = new KekLifecycle(store, kms, cache, audit, clock, primaries::invalidate);
    this.states =
        new KekStateChanges(
            store,
            cache,
            audit,
            clock,
            config.minimumDestructionWindow(),
            config.maximumDestructionWindow(),
            primaries::invalidate);
    this.rewrapper = new Rewrapper(lifecycle, cache, audit, clock);
    this.admin = new DefaultKekAdmin(store, lifecycle, states, stats, this::checkOpen);
    this.dataPath = new DataPathView(this, jca, this);
    this.warmer = new WarmUp(store, cache, primaries::put, settings.loadWait());
    StoreChangeFollower f = new StoreChangeFollower(cache, primaries);
    this.subscription = config.storeChangeNotices() ? store.subscribe(f).orElse(null) : null;
    this.follower = subscription != null ? f : null;
  }

  /** The KMS context that binds a KEK's wrapped material to the KEK id and version. */
  static KeyContext kekContext(KekRef ref) {
    return KekAdmin.kmsContextFor(ref);
  }

  @Override
  public Jca jca() {
    return jca;
  }

  @Override
  public boolean mayStillBePrimary(KekRef ref) {
    return ref.equals(primaries.getIfPresent(ref.id()));
  }

  @Override
  public KekAdmin admin() {
    return admin;
  }

  @Override
  public DataKeyService dataPathOnly() {
    return dataPath;
  }

  @Override
  public WrappedKey rewrapDek(WrappedKey wrappedKey, KeyContext context) {
    checkOpen();
    return rewrapper.rewrap(wrappedKey, context);
  }

  @Override
  public RewrapProgress rewrapDeks(
      Iterator<RewrapRequest> requests, RewrapProgress resumeFrom, RewrapSink sink) {
    checkOpen();
    return rewrapper.rewrapAll(requests, resumeFrom, sink);
  }

  @Override
  public WarmUpReport warmUp(Collection<String> kekIds, WarmUpScope scope) {
    checkOpen();
    return warmer.warmUp(kekIds, scope);
  }

  @Override
  public DataKey generateDek(String kekId, KeyContext context) {
    requireNonNull(context, "context");
    return generate(kekId, context);
  }

  @Override
  public WrappedKey wrapDek(String kekId, byte[] dek, KeyContext context) {
    requireNonNull(dek, "dek");
    requireNonNull(context, "context");
    if (dek.length < MIN_DEK_LENGTH || dek.length > MAX_DEK_LENGTH) {
      throw new IllegalArgumentException(
          "DEK must be " + MIN_DEK_LENGTH + " to " + MAX_DEK_LENGTH + " bytes: " + dek.length);
    }
    return wrap(kekId, dek, context);
  }

  private WrappedKey wrap(String kekId, byte[] dek, KeyContext context) {
    checkOpen();
    KekRef primary = primaries.get(kekId, this::loadPrimary);
    CachedKek kek = cache.acquire(primary);
    try {
      return DekCipher.wrap(kek, dek, context);
    } finally {
      kek.release();
    }
  }

  /** Generates and wraps a DEK; the data key checks its KEK's liveness on every use. */
  private DataKey generate(String kekId, KeyContext context) {
    checkOpen();
    KekRef primary = primaries.get(kekId, this::loadPrimary);
    CachedKek kek = cache.acquire(primary);
    byte[] dek = Randoms.bytes(DEK_LENGTH);
    try {
      WrappedKey wrapped = DekCipher.wrap(kek, dek, context);
      return ApiBridge.newDataKey(dek, wrapped, new HandleLiveness(cache, kek));
    } catch (RuntimeException e) {
      Arrays.fill(dek, (byte) 0);
      throw e;
    } finally {
      kek.release();
    }
  }

  @Override
  public DataKey unwrapDek(WrappedKey wrappedKey, KeyContext context) {
    requireNonNull(wrappedKey, "wrappedKey");
    requireNonNull(context, "context");
    checkOpen();
    DataKey hit = unwrapWithDerivedSubkey(wrappedKey, context);
    if (hit != null) {
      return hit;
    }
    CachedKek kek = acquireNamed(wrappedKey);
    try {
      return ApiBridge.newDataKey(
          DekCipher.unwrap(kek, wrappedKey, context), wrappedKey, new HandleLiveness(cache, kek));
    } finally {
      kek.release();
    }
  }

  /**
   * The hit path of an unwrap: if the subkey for this KEK and salt is derived already (found by
   * salt, {@link KekCache#derivedSubkey}) and its KEK's entry is current, unwraps with a cipher
   * from that subkey's pool, taking no reference count ({@link DekCipher#unwrapIfDerived}); else
   * null, with nothing done, and the caller takes the entry.
   */
  private DataKey unwrapWithDerivedSubkey(WrappedKey wrappedKey, KeyContext context) {
    CachedKek.Subkey subkey =
        cache.derivedSubkey(
            wrappedKey.kek(),
            ApiBridge.wrappedKeys().encoding(wrappedKey),
            ApiBridge.wrappedKeys().parametersOffset(wrappedKey));
    if (subkey == null) {
      return null;
    }
    byte[] dek;
    try {
      dek = DekCipher.unwrapIfDerived(subkey, wrappedKey, context);
    } catch (InvalidCiphertextException e) {
      cache.countHit();
      throw e;
    }
    if (dek == null) {
      return null;
    }
    cache.countHit();
    // The entry the hit checked, or its successor: the handle's liveness starts from it.
    return ApiBridge.newDataKey(dek, wrappedKey, new HandleLiveness(cache, subkey.entry()));
  }

  /**
   * The KEK a wrapped key names. A name this store does not have is tamper evidence to the caller,
   * like any other altered byte ({@link InvalidCiphertextException}): an engine must never read
   * corruption as a missing key. The message still tells a missing version of a known KEK, or a KEK
   * this store never had, from a failed authentication.
   */
  private CachedKek acquireNamed(WrappedKey wrappedKey) {
    try {
      return cache.acquire(wrappedKey.kek());
    } catch (KekNotFoundException e) {
      throw tamperEvidence(wrappedKey, e);
    }
  }

  private static InvalidCiphertextException tamperEvidence(
      WrappedKey wrappedKey, KekNotFoundException e) {
    return new InvalidCiphertextException(
        "Wrapped DEK names "
            + (e.version().isPresent() ? "a KEK version" : "a KEK")
            + " this store does not have (KEK "
            + wrappedKey.kek()
            + "): the wrapped key was altered, or it comes from another store",
        e);
  }

  @Override
  public CompletionStage<DataKey> unwrapDekAsync(WrappedKey wrappedKey, KeyContext context) {
    requireNonNull(wrappedKey, "wrappedKey");
    requireNonNull(context, "context");
    if (closed.get()) {
      return CompletableFuture.failedFuture(new IllegalStateException("key manager is closed"));
    }
    try {
      DataKey hit = unwrapWithDerivedSubkey(wrappedKey, context);
      if (hit != null) {
        return CompletableFuture.completedFuture(hit);
      }
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    CompletableFuture<CachedKek> acquired =
        cache
            .acquireAsync(wrappedKey.kek())
            .exceptionallyCompose(
                failure -> {
                  Throwable cause =
                      failure instanceof CompletionException && failure.getCause() != null
                          ? failure.getCause()
                          : failure;
                  return CompletableFuture.failedFuture(
                      cause instanceof KekNotFoundException nf
                          ? tamperEvidence(wrappedKey, nf)
                          : cause);
                });
    return withKek(
        acquired,
        kek ->
            ApiBridge.newDataKey(
                DekCipher.unwrap(kek, wrappedKey, context),
                wrappedKey,
                new HandleLiveness(cache, kek)));
  }

  @Override
  public CompletionStage<DataKey> generateDekAsync(String kekId, KeyContext context) {
    requireNonNull(kekId, "kekId");
    requireNonNull(context, "context");
    if (closed.get()) {
      return CompletableFuture.failedFuture(new IllegalStateException("key manager is closed"));
    }
    KekRef primary = primaries.getIfPresent(kekId);
    if (primary != null) {
      return generateUnder(primary, context);
    }
    // The primary version comes from the store: read it on the KMS executor, not the caller's
    // thread (a store may be a database).
    CompletableFuture<DataKey> result = new CompletableFuture<>();
    try {
      executor.execute(
          () -> {
            try {
              // Already on the executor: read here rather than through loadPrimary's hand-off.
              KekRef p = primaries.get(kekId, this::readPrimary);
              relay(generateUnder(p, context), result);
            } catch (RuntimeException | Error e) {
              result.completeExceptionally(e);
            }
          });
    } catch (RejectedExecutionException e) {
      result.completeExceptionally(new IllegalStateException("key manager is closed", e));
    }
    // A store that hangs fails the stage within the same bound as the blocking path.
    CompletableFuture.delayedExecutor(loadWait.toNanos(), TimeUnit.NANOSECONDS)
        .execute(
            () -> {
              if (!result.isDone()) {
                result.completeExceptionally(
                    KekStoreException.retryable(
                        "Waited "
                            + loadWait.toMillis()
                            + " ms for KEK store "
                            + store
                            + " to read the head of KEK "
                            + kekId
                            + "; the call may be retried",
                        null));
              }
            });
    return result;
  }

  private CompletableFuture<DataKey> generateUnder(KekRef primary, KeyContext context) {
    return withKek(
        cache.acquireAsync(primary),
        kek -> {
          byte[] dek = Randoms.bytes(DEK_LENGTH);
          try {
            return ApiBridge.newDataKey(
                dek, DekCipher.wrap(kek, dek, context), new HandleLiveness(cache, kek));
          } catch (RuntimeException e) {
            Arrays.fill(dek, (byte) 0);
            throw e;
          }
        });
  }

  /**
   * Runs {@code op} on the KEK once it is acquired and releases it: at once on this thread for a
   * hit, else on the thread that completes the load. A data key made after the caller's stage was
   * completed otherwise (it cannot be, today) is closed, never leaked.
   */
  private static CompletableFuture<DataKey> withKek(
      CompletableFuture<CachedKek> acquired, Function<CachedKek, DataKey> op) {
    if (acquired.isDone() && !acquired.isCompletedExceptionally()) {
      CachedKek kek = acquired.join();
      try {
        return CompletableFuture.completedFuture(op.apply(kek));
      } catch (RuntimeException e) {
        return CompletableFuture.failedFuture(e);
      } finally {
        kek.release();
      }
    }
    CompletableFuture<DataKey> result = new CompletableFuture<>();
    acquired.whenComplete(
        (kek, failure) -> {
          if (failure != null) {
            // A stage composed on the acquisition relays its failure wrapped: hand out the cause.
            result.completeExceptionally(
                failure instanceof CompletionException && failure.getCause() != null
                    ? failure.getCause()
                    : failure);
            return;
          }
          try {
            DataKey key = op.apply(kek);
            if (!result.complete(key)) {
              key.close();
            }
          } catch (RuntimeException | Error e) {
            result.completeExceptionally(e);
          } finally {
            kek.release();
          }
        });
    return result;
  }

  private static void relay(CompletableFuture<DataKey> from, CompletableFuture<DataKey> to) {
    from.whenComplete(
        (key, failure) -> {
          if (failure != null) {
            to.completeExceptionally(failure);
          } else if (!to.complete(key)) {
            key.close();
          }
        });
  }

  /**
   * Which version of {@code kekId} is primary, read from the store on the KMS executor and waited
   * for at most {@code loadTimeout}, so that a store that hangs fails a miss within the same bound
   * as a KEK load, with a retryable {@link KekStoreException} naming the store.
   */
  private KekRef loadPrimary(String kekId) {
    CompletableFuture<KekRef> read = new CompletableFuture<>();
    try {
      executor.execute(
          () -> {
            try {
              read.complete(readPrimary(kekId));
            } catch (Throwable t) {
              read.completeExceptionally(t);
            }
          });
    } catch (RejectedExecutionException e) {
      throw new IllegalStateException("key manager is closed", e);
    }
    try {
      return read.get(loadWait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      throw KekStoreException.retryable(
          "Waited "
              + loadWait.toMillis()
              + " ms for KEK store "
              + store
              + " to list the versions of KEK "
              + kekId
              + "; the call may be retried. A store on a connection pool should time out sooner"
              + " than loadTimeout (the pool's connection timeout), so an outage is reported with"
              + " the store's own error",
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw KekStoreException.retryable(
          "Interrupted while waiting for KEK store " + store + " to read KEK " + kekId, e);
    } catch (ExecutionException e) {
      // Only this caller sees this failure (no single flight here), so it is thrown as it is.
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw new IllegalStateException("Reading the primary version of " + kekId + " failed", cause);
    }
  }

  /** The primary version named by the KEK's head; refused unless the head says ENABLED. */
  private KekRef readPrimary(String kekId) {
    KekView view = KekView.existing(store, kekId);
    KekState state = view.head().state();
    if (!state.isUsable()) {
      throw new KekStateException(
          kekId, state, "KEK " + kekId + " is " + state + "; no DEK can be wrapped under it");
    }
    return view.primary();
  }

  /**
   * The cache loader, run on the KMS executor: one KMS unwrap of a stored, usable KEK version. The
   * caller owns the returned plaintext.
   */
  private byte[] unwrapKek(KekRef ref, Runnable kmsStarted) {
    KekView view =
        KekView.read(store, ref.id())
            .orElseThrow(
                () ->
                    new KekNotFoundException(
                        ref.id(),
                        0,
                        "No KEK " + ref + " exists in the store: there is no KEK " + ref.id(),
                        null));
    KeyEncryptionKey record =
        view.named().stream()
            .filter(r -> r.version() == ref.version())
            .findFirst()
            .orElseThrow(
                () ->
                    new KekNotFoundException(
                        ref.id(),
                        ref.version(),
                        "No KEK "
                            + ref
                            + " exists in the store (its primary version is "
                            + view.head().primaryVersion()
                            + ")",
                        null));
    if (!view.usable(record)) {
      KekState state = view.stateOf(record);
      throw new KekStateException(
          ref.id(), state, "KEK " + ref + " is " + state + "; it cannot be used");
    }
    URI cmk = record.cmkUri();
    KmsUnwrapper unwrapper = kms.unwrapper(cmk);
    kmsStarted.run();
    byte[] plaintext =
        audit.call(
            "unwrap", ref, cmk, () -> unwrapper.unwrap(record.wrappedMaterial(), kekContext(ref)));
    if (plaintext.length != KEK_LENGTH) {
      Arrays.fill(plaintext, (byte) 0);
      throw new dev.keymanager.InvalidCiphertextException(
          "KMS returned "
              + plaintext.length
              + " bytes for KEK "
              + ref
              + "; expected "
              + KEK_LENGTH);
    }
    return plaintext;
  }

  /** The name every thread of the owned KMS executor starts with. */
  @VisibleForTesting
  String kmsThreadPrefix() {
    if (ownedExecutor == null) {
      throw new IllegalStateException("the KMS executor is the user's own");
    }
    return ownedExecutor.threadPrefix();
  }

  /** The notices received from the store's feed, or -1 if not following one; for tests. */
  @VisibleForTesting
  long storeNotices() {
    return follower != null ? follower.notices() : -1;
  }

  @VisibleForTesting
  KekCache cache() {
    return cache;
  }

  /** Waits for background loads and refreshes to finish; for tests on a manual clock. */
  @VisibleForTesting
  void awaitBackgroundLoads() {
    cache.awaitIdle(java.time.Duration.ofSeconds(30));
  }

  @Override
  public void addAuditListener(AuditListener listener) {
    audit.addListener(listener);
  }

  @Override
  public KeyManagerStats stats() {
    return stats.snapshot(cache, hardTtl);
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      if (subscription != null) {
        subscription.close(); // before the cache: no notice runs on a closed cache
      }
      cache.close();
      primaries.invalidateAll();
      if (ownedExecutor != null) {
        ownedExecutor.close();
      }
      kms.close();
      log.debug("Key manager closed");
    }
  }

  private void checkOpen() {
    if (closed.get()) {
      throw new IllegalStateException("key manager is closed");
    }
  }

  @Override
  public String toString() {
    return "KeyManager[schemes=" + kms.schemes() + ", cached=" + cache.size() + "]";
  }
}
