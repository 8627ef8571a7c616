package dev.keymanager;

import dev.keymanager.spi.AuditListener;

/**
 * A built key manager: the {@linkplain DataKeyService data path} directly, {@linkplain KekAdmin KEK
 * administration} through {@link #admin()}. Obtain one from {@code dev.keymanager.core.KeyManagers}
 * and close it when done: closing overwrites every cached KEK and releases KMS clients.
 *
 * <pre>{@code
 * try (KeyManager keys = KeyManagers.builder().kekStore(store).build()) {
 *   keys.admin().createKek("orders", cmk);            // administration
 *   DataKeyService dataPath = keys.dataPathOnly();    // hand this to readers and writers
 *   try (DataKey dek = dataPath.generateDek("orders", context)) {
 *     // ...
 *   }
 * }
 * }</pre>
 *
 * <p>Least privilege: give a component that only reads and writes data {@link #dataPathOnly()}, a
 * view that implements only {@link DataKeyService} and cannot be cast to reach {@link #admin()}, so
 * a read-only node can never destroy a KEK by mistake. Implementations are thread-safe.
 */
public interface KeyManager extends DataKeyService, AutoCloseable {
  /**
   * KEK administration served by this key manager (same store, cache and KMS providers). Changes
   * made through it take effect in this key manager at once.
   */
  KekAdmin admin();

  /**
   * A view of this key manager's data path only: it delegates every {@link DataKeyService} call
   * here and is not a {@link KeyManager} nor a {@link KekAdmin}, so a holder cannot reach
   * administration nor close the key manager. Valid until this key manager is closed.
   */
  DataKeyService dataPathOnly();

  /**
   * Adds a listener that receives the {@link dev.keymanager.spi.AuditEvent} of every KMS call and
   * KEK lifecycle step that ends from now on, after the listeners given to the builder, for
   * bindings made once the key manager exists (a metrics registry). The listener stays for the life
   * of this key manager. Thread-safe; the contract of {@link AuditListener} applies.
   */
  void addAuditListener(AuditListener listener);

  /**
   * Overwrites every cached KEK (each once its in-flight users finish), stops background work and
   * closes the KMS providers and executor this key manager owns. Later calls of the data path and
   * of {@link #admin()}'s operations fail with {@link IllegalStateException}; {@link #stats()}
   * stays readable. Idempotent.
   */
  @Override
  void close();
}
