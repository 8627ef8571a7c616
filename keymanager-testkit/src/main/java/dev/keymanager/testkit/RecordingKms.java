package dev.keymanager.testkit;

import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A KMS provider that passes every call to another one and hands every plaintext KEK crossing the
 * KMS boundary, in either direction, to a sink (as its own copy), so a secret-scan test knows which
 * bytes must never appear in a heap dump, a log line, a metric or an output. For tests only: it
 * keeps key material on purpose.
 */
public final class RecordingKms implements KmsProvider {
  private final KmsProvider delegate;
  private final Consumer<byte[]> sink;

  /**
   * Wraps {@code delegate}.
   *
   * @param delegate the provider that does the work
   * @param sink receives a copy of each plaintext KEK wrapped or unwrapped
   */
  public RecordingKms(KmsProvider delegate, Consumer<byte[]> sink) {
    this.delegate = delegate;
    this.sink = sink;
  }

  @Override
  public String scheme() {
    return delegate.scheme();
  }

  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    KmsUnwrapper u = delegate.unwrapper(cmkUri);
    return new KmsUnwrapper() {
      @Override
      public URI cmkUri() {
        return cmkUri;
      }

      @Override
      public byte[] unwrap(byte[] ciphertext, KeyContext context) {
        byte[] plaintext = u.unwrap(ciphertext, context);
        sink.accept(plaintext.clone());
        return plaintext;
      }
    };
  }

  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return delegate
        .wrapper(cmkUri)
        .map(
            w ->
                new KmsWrapper() {
                  @Override
                  public URI cmkUri() {
                    return cmkUri;
                  }

                  @Override
                  public byte[] wrap(byte[] plaintext, KeyContext context) {
                    sink.accept(plaintext.clone());
                    return w.wrap(plaintext, context);
                  }
                });
  }
}
