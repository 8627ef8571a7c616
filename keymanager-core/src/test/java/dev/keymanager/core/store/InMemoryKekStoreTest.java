package dev.keymanager.core.store;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KekStoreContract;
import org.junit.jupiter.api.Test;

class InMemoryKekStoreTest extends KekStoreContract {
  @Override
  protected KekStore newStore() {
    return KekStores.inMemory();
  }

  @Override
  protected KeyManager keyManager(KekStore store, KmsProvider kms) {
    return KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
  }

  @Test
  void useAfterCloseThrowsIllegalStateException() {
    KekStore store = KekStores.inMemory();
    store.close();
    store.close(); // idempotent

    assertThatThrownBy(() -> store.find("a", 1)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> store.kekIds("", 1)).isInstanceOf(IllegalStateException.class);
  }
}
