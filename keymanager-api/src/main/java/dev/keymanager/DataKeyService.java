package dev.keymanager;

import java.util.Collection;
import java.util.Iterator;
import java.util.concurrent.CompletionStage;

/**
 * The data path: generate, wrap, unwrap and rewrap data keys (DEKs) under cached KEKs, without
 * blocking or asynchronously, warm the cache, read the statistics. This is all a component that
 * reads and writes data needs; KEK administration is {@link KekAdmin}, reached only through {@link
 * KeyManager#admin()}. {@link KeyManager#dataPathOnly()} gives a view of this interface that cannot
 * be cast back to the key manager, to hand to such a component.
 *
 * <p>A DEK wrap or unwrap under a cached KEK is a local AES-GCM operation with no network call. The
 * first use of a KEK version unwraps it through the CMK's KMS and caches the plaintext for at most
 * the hard TTL; past it, the KEK is not used until the KMS unwraps it anew, so a customer who
 * revokes their CMK stops all access within that bound.
 *
 * <p>Implementations are thread-safe. Every method may throw {@link KmsUnavailableException}
 * (retryable) or {@link KeyAccessDeniedException} when it needs the KMS, {@link KekStoreException}
 * when the store fails, and {@link IllegalStateException} once the key manager is closed; each
 * method lists only its other failures.
 */
public interface DataKeyService {
  /**
   * How many requests {@link #rewrapDeks} handles between two {@link RewrapSink#progress} calls.
   */
  int REWRAP_PROGRESS_INTERVAL = 1000;

  /**
   * Rewraps a DEK under its KEK's primary version without touching the data it protects: the DEK
   * stays the same, only its wrapping changes. A key already under the primary version is returned
   * as it is. Local AES work only, unless a KEK version is not cached.
   *
   * @throws InvalidCiphertextException as {@link #unwrapDek}
   * @throws KekStateException if the key's version or the primary version is not usable
   */
  WrappedKey rewrapDek(WrappedKey wrappedKey, KeyContext context);

  /**
   * Rewraps many DEKs, as {@link #rewrapDek} does each, handing every changed key to {@code sink}
   * for the caller to store. Keys of several KEKs may be mixed. Stops at the first failure (of a
   * rewrap, of the sink, or of the iterator) and reports it in the result instead of throwing, with
   * the position to resume at; to skip a request that can never succeed (a corrupt key), resume at
   * the position after it. See {@link RewrapProgress} for the resume token.
   *
   * <pre>{@code
   * RewrapProgress p = keys.rewrapDeks(requests.iterator(), RewrapProgress.START,
   *     (position, before, after) -> table.replaceKey(before, after));
   * if (!p.isComplete()) {
   *   saveForLater(p.position());   // resume with RewrapProgress.resumeAt(position)
   * }
   * }</pre>
   *
   * @param resumeFrom where to start: {@link RewrapProgress#START}, or the progress of an earlier
   *     run over the same requests in the same order
   * @return the progress at the end of the iterator or at the first failure
   */
  RewrapProgress rewrapDeks(
      Iterator<RewrapRequest> requests, RewrapProgress resumeFrom, RewrapSink sink);

  /**
   * Generates a random 256-bit DEK and wraps it under the KEK's primary version, bound to {@code
   * context}. The caller owns the result and must close it.
   *
   * @throws KekStateException if the KEK does not exist or its primary version is not {@link
   *     KekState#ENABLED}
   */
  DataKey generateDek(String kekId, KeyContext context);

  /**
   * Generates a DEK as {@link #generateDek} does, without blocking the caller: done on the calling
   * thread when the KEK's primary version is cached, otherwise the store read and the KMS call run
   * on the key manager's KMS executor (single flight shared with the blocking path). Failures
   * complete the stage exceptionally with the exceptions {@link #generateDek} throws; only null
   * arguments throw.
   */
  CompletionStage<DataKey> generateDekAsync(String kekId, KeyContext context);

  /**
   * Wraps a caller-supplied DEK under the KEK's primary version, bound to {@code context}. The
   * caller's array is read, not kept or modified.
   *
   * @throws KekStateException if the KEK does not exist or its primary version is not enabled
   * @throws IllegalArgumentException if {@code dek} is not 16 to 64 bytes long
   */
  WrappedKey wrapDek(String kekId, byte[] dek, KeyContext context);

  /**
   * Unwraps a DEK. The caller owns the result and must close it.
   *
   * @throws InvalidCiphertextException if the wrapped key was tampered with, was made under another
   *     KEK, or {@code context} differs from the one it was wrapped with
   * @throws KekStateException if its KEK version does not exist or is not enabled
   */
  DataKey unwrapDek(WrappedKey wrappedKey, KeyContext context);

  /**
   * Unwraps a DEK without blocking the caller, for event-loop threads (Netty, a Kafka proxy) that
   * must never park. When the KEK version is cached, the unwrap is done on the calling thread and
   * the returned stage is already complete. On a miss, the KMS call runs on the key manager's KMS
   * executor and the stage completes there; concurrent misses on one KEK version, blocking or
   * asynchronous, share one KMS call. The caller owns the data key the stage yields and must close
   * it.
   *
   * <p>Failures complete the stage exceptionally with the same exceptions {@link #unwrapDek} throws
   * (the exception itself, not wrapped in a {@link java.util.concurrent.CompletionException}; a
   * dependent stage sees it wrapped, as usual for {@code CompletionStage}); a KMS call that takes
   * longer than the load timeout completes it with {@link KmsUnavailableException}. Only null
   * arguments throw.
   */
  CompletionStage<DataKey> unwrapDekAsync(WrappedKey wrappedKey, KeyContext context);

  /**
   * Loads the named KEKs into the cache before traffic arrives: the primary version of each, or
   * with {@link WarmUpScope#ENABLED_VERSIONS} every version that may still unwrap. The KMS calls
   * run in parallel on the KMS executor (as many at once as it has threads); this call waits for
   * all of them, each at most the load timeout, and reports per KEK what failed instead of
   * throwing.
   *
   * <pre>{@code
   * WarmUpReport report = keys.warmUp(List.of("orders", "invoices"), WarmUpScope.PRIMARY_VERSIONS);
   * if (!report.isComplete()) {
   *   report.failures().forEach((kekId, e) -> log.warn("KEK {} is not warm: {}", kekId, e.getMessage()));
   * }
   * }</pre>
   *
   * @throws IllegalArgumentException if an id is not a valid KEK id
   * @throws IllegalStateException if the key manager is closed
   */
  WarmUpReport warmUp(Collection<String> kekIds, WarmUpScope scope);

  /**
   * Counters of the KEK cache and KMS calls since this key manager was built. Still readable after
   * the key manager is closed: the counters then stay as they were at the close.
   */
  KeyManagerStats stats();
}
