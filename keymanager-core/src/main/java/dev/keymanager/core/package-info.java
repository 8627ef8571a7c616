/**
 * The keymanager implementation. Public: {@link dev.keymanager.core.KeyManagers} (the builder) and
 * {@link dev.keymanager.core.store.KekStores} (the built-in stores); everything else is internal.
 *
 * <p>Parameters and results are never {@code null} unless documented.
 *
 * <h2>Map of the package</h2>
 *
 * <table>
 *   <caption>What lives where</caption>
 *   <tr><th>concern</th><th>classes</th></tr>
 *   <tr><td>building</td><td>{@code KeyManagers} (builder, defaults), {@code KmsRegistry}
 *       (providers by scheme), {@code KmsExecutor} (the owned KMS threads), {@code Jca} (the JCA
 *       provider for AES-GCM and HMAC)</td></tr>
 *   <tr><td>the data path</td><td>{@code DefaultKeyManager} (blocking and asynchronous
 *       generate, wrap, unwrap), {@code DataPathView} (the data-path-only view), {@code DekCipher}
 *       (the DEK wrap format), {@code Rewrapper} (rewrap, bulk rewrap), {@code WarmUp}</td></tr>
 *   <tr><td>the KEK cache</td><td>{@code KekCache} (hard TTL, refresh-ahead, single flight,
 *       negative cache, blocking and asynchronous acquire), {@code CachedKek} and {@code Lease}
 *       (reference-counted plaintext, wiped by the last holder), {@code KekSubkeys}, {@code
 *       SubkeyCiphers} and {@code Hkdf} (per-salt subkeys and their ciphers), {@code SubkeyCache}
 *       (the bound on subkeys across KEKs), {@code Stats}</td></tr>
 *   <tr><td>administration</td><td>{@code DefaultKekAdmin} (the {@code KekAdmin} served by
 *       {@code KeyManager.admin()}), {@code KekLifecycle} (create, import, rotate, change CMK),
 *       {@code KekStateChanges} (disable, enable, minimum version, destruction)</td></tr>
 *   <tr><td>stores</td><td>{@code CheckedKekStore} (checks that every record a store returns is
 *       the one asked for); the stores themselves are in {@code dev.keymanager.core.store}</td></tr>
 *   <tr><td>audit and KMS calls</td><td>{@code KmsAudit} (one event per KMS call and lifecycle
 *       step), {@code LocalKms} (the development {@code local-kms} master key)</td></tr>
 *   <tr><td>tests only</td><td>members marked {@code @VisibleForTesting}</td></tr>
 * </table>
 *
 * <p>Sub-packages: {@code envelope} (payload encryption, public), {@code store} (the built-in KEK
 * stores, public) and {@code internal} (the development KMS provider, random numbers, lent keys;
 * not exported).
 */
package dev.keymanager.core;
