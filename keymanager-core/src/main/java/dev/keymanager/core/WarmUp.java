package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WarmUpReport;
import dev.keymanager.WarmUpScope;
import dev.keymanager.spi.KekStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;

/**
 * {@link dev.keymanager.DataKeyService#warmUp}: reads the named KEKs' records, then starts every
 * KMS unwrap at once through the cache's asynchronous path (so the KMS executor runs them in
 * parallel and a concurrent miss shares them), and waits for them all.
 */
final class WarmUp {
  private final KekStore store;
  private final KekCache cache;
  private final BiConsumer<String, KekRef> primaries;
  private final Duration loadWait;

  WarmUp(KekStore store, KekCache cache, BiConsumer<String, KekRef> primaries, Duration loadWait) {
    this.store = store;
    this.cache = cache;
    this.primaries = primaries;
    this.loadWait = loadWait;
  }

  WarmUpReport warmUp(Iterable<String> kekIds, WarmUpScope scope) {
    requireNonNull(kekIds, "kekIds");
    requireNonNull(scope, "scope");
    LinkedHashSet<String> ids = new LinkedHashSet<>();
    for (String id : kekIds) {
      KekRef.checkId(id);
      ids.add(id);
    }
    Map<String, KeyManagerException> failures = new LinkedHashMap<>();
    Map<KekRef, CompletableFuture<CachedKek>> loads = new LinkedHashMap<>();
    for (String id : ids) {
      try {
        for (KekRef ref : versionsToLoad(id, scope)) {
          loads.put(ref, cache.acquireAsync(ref));
        }
      } catch (KeyManagerException e) {
        failures.put(id, e);
      }
    }
    List<KekRef> loaded = new ArrayList<>();
    long deadline = System.nanoTime() + loadWait.toNanos();
    for (Map.Entry<KekRef, CompletableFuture<CachedKek>> load : loads.entrySet()) {
      KekRef ref = load.getKey();
      try {
        load.getValue()
            .get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)
            .release();
        loaded.add(ref);
      } catch (ExecutionException e) {
        failures.putIfAbsent(ref.id(), asKeyManagerException(e.getCause()));
      } catch (TimeoutException e) {
        // The load goes on and fills the cache if it succeeds; release what it yields then.
        load.getValue().thenAccept(CachedKek::release);
        failures.putIfAbsent(
            ref.id(),
            new KmsUnavailableException(
                "Warm-up waited " + loadWait.toMillis() + " ms for the KMS to unwrap KEK " + ref,
                e));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        load.getValue().thenAccept(CachedKek::release);
        failures.putIfAbsent(
            ref.id(), new KmsUnavailableException("Interrupted while warming up KEK " + ref, e));
      }
    }
    return new WarmUpReport(loaded, failures);
  }

  private List<KekRef> versionsToLoad(String id, WarmUpScope scope) {
    List<KeyEncryptionKey> versions = store.versions(id);
    if (versions.isEmpty()) {
      throw new KekStateException(id, null, "No KEK with id " + id + " exists");
    }
    KeyEncryptionKey primary = versions.get(versions.size() - 1);
    primaries.accept(id, primary.ref());
    if (scope == WarmUpScope.PRIMARY_VERSIONS) {
      if (!primary.state().isUsable()) {
        throw new KekStateException(
            id,
            primary.state(),
            "KEK " + primary.ref() + " is " + primary.state() + "; it cannot be used");
      }
      return List.of(primary.ref());
    }
    List<KekRef> usable = new ArrayList<>();
    for (KeyEncryptionKey v : versions) {
      if (v.state().isUsable()) {
        usable.add(v.ref());
      }
    }
    if (usable.isEmpty()) {
      throw new KekStateException(
          id, primary.state(), "KEK " + id + " has no version that may be used");
    }
    return usable;
  }

  private static KeyManagerException asKeyManagerException(Throwable failure) {
    if (failure instanceof KeyManagerException e) {
      return e;
    }
    if (failure instanceof RuntimeException e) {
      throw e; // the key manager closed, or a bug: not a per-KEK outcome
    }
    throw new IllegalStateException("Warming up a KEK failed unexpectedly", failure);
  }
}
