package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.keymanager.DataKey;
import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.RewrapSink;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.KekIdListing;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsUnwrapper;
import java.net.URI;
import java.time.Duration;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link KeyManager}: KEK records in a {@link KekStore}, plaintext KEKs in a {@link KekCache},
 * DEKs wrapped by {@link DekCipher}, KMS calls through a {@link KmsRegistry}.
 *
 * <p>Which version is primary is cached with the same hard TTL as the KEKs themselves, so the hot
 * path reads no store. Changes made by this instance take effect at once; changes made by another
 * process sharing the store (a rotation, a disable) take effect here within the hard TTL, the same
 * bound as a CMK revocation.
 */
final class DefaultKeyManager implements KeyManager {
  private static final Logger log = LoggerFactory.getLogger(DefaultKeyManager.class);

  static final int KEK_LENGTH = 32;
  static final int DEK_LENGTH = 32;
  static final int MIN_DEK_LENGTH = 16;
  static final int MAX_DEK_LENGTH = 64;

  /** Context keys binding a KEK's KMS ciphertext to its id and version. */
  static final String CONTEXT_KEK_ID = "keymanager:kek-id";

  static final String CONTEXT_KEK_VERSION = "keymanager:kek-version";

  private final KekStore store;
  private final KmsRegistry kms;
  private final KekCache cache;
  private final Cache<String, KekRef> primaries;
  private final KmsAudit audit;
  private final Stats stats;
  private final java.time.InstantSource clock;
  private final KmsExecutor executor;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final KekLifecycle lifecycle;
  private final KekStateChanges states;
  private final Rewrapper rewrapper;
  private final Duration loadWait;

  DefaultKeyManager(KeyManagers.Builder config, KmsRegistry kms) {
    // Every read of every component is checked to answer for the KEK asked for.
    this.store = CheckedKekStore.of(config.store());
    this.kms = kms;
    this.clock = config.clock();
    this.stats = new Stats();
    this.audit = new KmsAudit(stats, config.auditListeners(), clock);
    this.executor = new KmsExecutor(config.kmsThreads());
    this.cache =
        new KekCache(
            config.cacheSettings(),
            config.ticker(),
            stats,
            executor,
            store.toString(),
            this::unwrapKek);
    this.loadWait = config.cacheSettings().loadWait();
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
  }

  /** The KMS context that binds a KEK's wrapped material to the KEK id and version. */
  static KeyContext kekContext(KekRef ref) {
    return KeyContext.of(
        Map.of(CONTEXT_KEK_ID, ref.id(), CONTEXT_KEK_VERSION, Integer.toString(ref.version())));
  }

  @Override
  public KeyEncryptionKey createKek(String kekId, URI cmkUri) {
    checkOpen();
    return lifecycle.create(kekId, cmkUri);
  }

  @Override
  public Optional<KeyEncryptionKey> describeKek(String kekId) {
    checkOpen();
    List<KeyEncryptionKey> versions = store.versions(kekId);
    return versions.isEmpty() ? Optional.empty() : Optional.of(versions.get(versions.size() - 1));
  }

  @Override
  public Optional<KekDescription> describeKekVersions(String kekId) {
    KekRef.checkId(kekId);
    checkOpen();
    return lifecycle.describe(kekId);
  }

  @Override
  public KeyEncryptionKey importKek(KekRef ref, URI cmkUri, byte[] wrappedMaterial) {
    checkOpen();
    return lifecycle.importKek(ref, cmkUri, wrappedMaterial);
  }

  @Override
  public KeyEncryptionKey rotateKek(String kekId) {
    checkOpen();
    return lifecycle.rotate(kekId);
  }

  @Override
  public KekDescription setMinimumDecryptionVersion(String kekId, int version) {
    checkOpen();
    return states.setMinimumDecryptionVersion(kekId, version);
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
  public KekDescription changeCmk(String kekId, URI newCmkUri) {
    checkOpen();
    return lifecycle.changeCmk(kekId, newCmkUri);
  }

  @Override
  public KekDescription disableKek(String kekId) {
    checkOpen();
    return states.disable(kekId);
  }

  @Override
  public KekDescription enableKek(String kekId) {
    checkOpen();
    return states.enable(kekId);
  }

  @Override
  public KekDescription scheduleKekDestruction(String kekId, Duration pendingWindow) {
    checkOpen();
    return states.scheduleDestruction(kekId, pendingWindow);
  }

  @Override
  public KekDescription cancelKekDestruction(String kekId) {
    checkOpen();
    return states.cancelDestruction(kekId);
  }

  @Override
  public KekDescription destroyKek(String kekId) {
    checkOpen();
    return states.destroy(kekId);
  }

  @Override
  public List<String> destroyDueKeks() {
    checkOpen();
    return states.destroyDue(
        unreadable -> {
          stats.unreadableRecords.increment();
          log.warn("destroyDueKeks skipped an unreadable KEK: {}", unreadable);
        });
  }

  @Override
  public List<String> listKeks() {
    checkOpen();
    KekIdListing listing = store.listKekIds();
    for (String unreadable : listing.unreadable()) {
      stats.unreadableRecords.increment();
      log.warn("Listing KEKs skipped an unreadable KEK record: {}", unreadable);
    }
    return listing.ids();
  }

  @Override
  public DataKey generateDek(String kekId, KeyContext context) {
    requireNonNull(context, "context");
    byte[] dek = Randoms.bytes(DEK_LENGTH);
    try {
      WrappedKey wrapped = wrap(kekId, dek, context);
      return ApiBridge.newDataKey(dek, wrapped);
    } catch (RuntimeException e) {
      Arrays.fill(dek, (byte) 0);
      throw e;
    }
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

  @Override
  public DataKey unwrapDek(WrappedKey wrappedKey, KeyContext context) {
    requireNonNull(wrappedKey, "wrappedKey");
    requireNonNull(context, "context");
    checkOpen();
    CachedKek kek = cache.acquire(wrappedKey.kek());
    try {
      return ApiBridge.newDataKey(DekCipher.unwrap(kek, wrappedKey, context), wrappedKey);
    } finally {
      kek.release();
    }
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
      throw new KekStoreException(
          "Waited "
              + loadWait.toMillis()
              + " ms for KEK store "
              + store
              + " to list the versions of KEK "
              + kekId
              + "; the call may be retried. A store on a connection pool should time out sooner"
              + " than loadTimeout (the pool's connection timeout), so an outage is reported with"
              + " the store's own error",
          true,
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KekStoreException(
          "Interrupted while waiting for KEK store " + store + " to read KEK " + kekId, true, e);
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

  private KekRef readPrimary(String kekId) {
    List<KeyEncryptionKey> versions = store.versions(kekId);
    if (versions.isEmpty()) {
      throw new KekStateException(kekId, null, "No KEK with id " + kekId + " exists");
    }
    return versions.get(versions.size() - 1).ref();
  }

  /**
   * The cache loader, run on the KMS executor: one KMS unwrap of a stored, usable KEK version. The
   * caller owns the returned plaintext.
   */
  private byte[] unwrapKek(KekRef ref, Runnable kmsStarted) {
    KeyEncryptionKey record =
        store
            .find(ref.id(), ref.version())
            .orElseThrow(
                () ->
                    new KekStateException(
                        ref.id(), null, "No KEK " + ref + " exists in the store"));
    if (!record.state().isUsable()) {
      throw new KekStateException(
          ref.id(), record.state(), "KEK " + ref + " is " + record.state() + "; it cannot be used");
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

  String kmsThreadPrefixForTest() {
    return executor.threadPrefix();
  }

  KekCache cacheForTest() {
    return cache;
  }

  /** Waits for background loads and refreshes to finish; for tests on a manual clock. */
  void awaitBackgroundLoads() {
    cache.awaitIdle(java.time.Duration.ofSeconds(30));
  }

  @Override
  public KeyManagerStats stats() {
    return stats.snapshot();
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      cache.close();
      primaries.invalidateAll();
      executor.close();
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
