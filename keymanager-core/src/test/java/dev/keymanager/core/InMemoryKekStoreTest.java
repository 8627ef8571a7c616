package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.KekStoreContract;
import org.junit.jupiter.api.Test;

class InMemoryKekStoreTest extends KekStoreContract {
  @Override
  protected KekStore newStore() {
    return KekStores.inMemory();
  }

  @Test
  void useAfterCloseThrowsIllegalStateException() {
    KekStore store = KekStores.inMemory();
    store.close();
    store.close(); // idempotent

    assertThatThrownBy(() -> store.find("a", 1)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(store::kekIds).isInstanceOf(IllegalStateException.class);
  }
}
