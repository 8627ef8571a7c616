package dev.keymanager.spi;

import java.net.URI;
import java.util.Optional;

/**
 * A factory of {@link KmsUnwrapper}s and {@link KmsWrapper}s for the CMK URIs of one scheme, such
 * as {@code aws-kms}. Key managers find providers with {@link java.util.ServiceLoader} or take them
 * explicitly from their builder; an explicit provider wins over a discovered one for its scheme.
 *
 * <p>Creating a provider must be cheap and must not contact the KMS: clients are opened lazily,
 * reused for every CMK they can serve, and released in {@link #close()}, which the key manager
 * calls when it closes. Implementations are thread-safe.
 */
public interface KmsProvider extends AutoCloseable {
  /** The URI scheme this provider serves, lower case, such as {@code "aws-kms"}. */
  String scheme();

  /**
   * An unwrapper for the CMK at {@code cmkUri}, whose scheme is {@link #scheme()}.
   *
   * @throws dev.keymanager.KeyManagerConfigException if the URI is malformed for this scheme,
   *     naming the expected form
   */
  KmsUnwrapper unwrapper(URI cmkUri);

  /**
   * A wrapper for the CMK at {@code cmkUri}, or empty if this provider only unwraps.
   *
   * @throws dev.keymanager.KeyManagerConfigException if the URI is malformed for this scheme
   */
  Optional<KmsWrapper> wrapper(URI cmkUri);

  /** Releases clients and threads this provider opened. Idempotent; the default does nothing. */
  @Override
  default void close() {}
}
