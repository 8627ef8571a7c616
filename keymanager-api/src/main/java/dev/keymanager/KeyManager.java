package dev.keymanager;

import java.net.URI;
import java.util.List;
import java.util.Optional;

/**
 * Manages key-encryption keys (KEKs) and wraps and unwraps data keys (DEKs) under them.
 *
 * <p>A KEK is created under a customer master key (CMK) named by a URI such as {@code
 * aws-kms://arn:aws:kms:...} and kept in a {@link dev.keymanager.spi.KekStore} only in wrapped
 * form. The first operation that needs it unwraps it through the CMK's KMS and caches the plaintext
 * for at most the configured hard TTL; DEK wraps and unwraps under a cached KEK are local AES-GCM
 * operations with no network call. Once the hard TTL has passed since the last successful KMS
 * unwrap, a KEK is not used again until the KMS unwraps it anew, so a customer who revokes their
 * CMK stops all access within that bound.
 *
 * <p>Implementations are thread-safe. Obtain one from {@code dev.keymanager.core.KeyManagers} and
 * close it when done: closing overwrites every cached KEK and releases KMS clients.
 *
 * <p>Every method may throw {@link KmsUnavailableException} (retryable) or {@link
 * KeyAccessDeniedException} when it needs the KMS, and {@link KekStoreException} when the store
 * fails; each method lists only its other failures.
 */
public interface KeyManager extends AutoCloseable {

  /**
   * Creates version 1 of a new KEK: 32 random bytes, wrapped by the CMK at {@code cmkUri} and
   * stored. The plaintext goes into the cache, so the first DEK operation needs no KMS call.
   *
   * @throws KekStateException if a KEK with this id exists already
   * @throws KeyManagerConfigException if no provider handles the URI's scheme, the URI is
   *     malformed, or the provider cannot wrap
   * @throws IllegalArgumentException if the id is not a valid KEK id ({@link KekRef#checkId})
   */
  KeyEncryptionKey createKek(String kekId, URI cmkUri);

  /** The record of the KEK's primary (newest) version, if the KEK exists. Makes no KMS call. */
  Optional<KeyEncryptionKey> describeKek(String kekId);

  /** The ids of every KEK in the store, sorted. Makes no KMS call. */
  List<String> listKeks();

  /**
   * Generates a random 256-bit DEK and wraps it under the KEK's primary version, bound to {@code
   * context}. The caller owns the result and must close it.
   *
   * @throws KekStateException if the KEK does not exist or its primary version is not {@link
   *     KekState#ENABLED}
   */
  DataKey generateDek(String kekId, KeyContext context);

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

  /** Counters of the KEK cache and KMS calls since this key manager was built. */
  KeyManagerStats stats();

  /**
   * Overwrites every cached KEK (each once its in-flight users finish), stops background work and
   * closes the KMS providers this key manager opened. Later calls fail with {@link
   * IllegalStateException}. Idempotent.
   */
  @Override
  void close();
}
