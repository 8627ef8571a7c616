/**
 * Service-provider interfaces that KMS and store modules implement.
 *
 * <p>A KMS module ships a {@link dev.keymanager.spi.KmsProvider} listed in {@code
 * META-INF/services/dev.keymanager.spi.KmsProvider} and declared with {@code provides} in its
 * {@code module-info.java}. A store module implements {@link dev.keymanager.spi.KekStore}. The
 * conformance suites in {@code keymanager-testkit} check both.
 *
 * <p>As in {@code dev.keymanager}, nothing is {@code null} unless documented.
 */
package dev.keymanager.spi;
