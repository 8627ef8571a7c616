/**
 * The keymanager implementation. Public: {@link dev.keymanager.core.KeyManagers} (the builder) and
 * {@link dev.keymanager.core.KekStores} (the built-in stores); everything else is internal.
 *
 * <p>Parameters and results are never {@code null} unless documented.
 */
package dev.keymanager.core;
