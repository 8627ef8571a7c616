/**
 * Binds a {@link dev.keymanager.KeyManager} to a Micrometer registry: {@link
 * dev.keymanager.micrometer.KeyManagerMetrics}.
 *
 * <p>Arguments and return values are non-null unless documented otherwise.
 */
package dev.keymanager.micrometer;
