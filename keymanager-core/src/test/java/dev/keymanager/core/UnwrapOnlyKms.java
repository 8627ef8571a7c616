package dev.keymanager.core;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.Optional;

/** A provider with unwrap rights only, as a customer grants for imported KEKs. */
final class UnwrapOnlyKms implements KmsProvider {
  private final KmsProvider delegate;

  UnwrapOnlyKms(KmsProvider delegate) {
    this.delegate = delegate;
  }

  @Override
  public String scheme() {
    return delegate.scheme();
  }

  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return delegate.unwrapper(cmkUri);
  }

  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return Optional.empty();
  }
}
