package dev.keymanager.testkit;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;

/**
 * One CMK of a {@link FakeKms}, as both unwrapper and wrapper. Holds no key: every call goes
 * through the fake, so that its switches and counters see it. Thread-safe.
 */
final class FakeKmsKey implements KmsUnwrapper, KmsWrapper {
  private final FakeKms kms;
  private final URI cmkUri;
  private final String name;

  FakeKmsKey(FakeKms kms, URI cmkUri, String name) {
    this.kms = kms;
    this.cmkUri = cmkUri;
    this.name = name;
  }

  @Override
  public URI cmkUri() {
    return cmkUri;
  }

  @Override
  public byte[] unwrap(byte[] ciphertext, KeyContext context) {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    return kms.unwrap(cmkUri, name, ciphertext, context);
  }

  @Override
  public byte[] wrap(byte[] plaintext, KeyContext context) {
    requireNonNull(plaintext, "plaintext");
    requireNonNull(context, "context");
    return kms.wrap(cmkUri, name, plaintext, context);
  }

  @Override
  public String toString() {
    return "FakeKmsKey[" + cmkUri + "]";
  }
}
