/**
 * The keymanager implementation: build a {@link dev.keymanager.KeyManager} with {@link
 * dev.keymanager.core.KeyManagers#builder()} and a store from {@link
 * dev.keymanager.core.store.KekStores}; encrypt payloads with {@link
 * dev.keymanager.core.envelope.EnvelopeCipher}.
 */
module dev.keymanager.core {
  requires transitive dev.keymanager.api;
  requires com.github.benmanes.caffeine;
  requires com.google.crypto.tink;
  requires org.slf4j;

  exports dev.keymanager.core;
  exports dev.keymanager.core.envelope;
  exports dev.keymanager.core.store;

  uses dev.keymanager.spi.KmsProvider;

  provides dev.keymanager.spi.KmsProvider with
      dev.keymanager.core.internal.LocalKmsProvider;
}
