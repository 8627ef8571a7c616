package dev.keymanager.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.WrapAlgorithm;
import dev.keymanager.WrappedKey;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

class ApiBridgeTest {
  /**
   * Tries to hijack the data-key accessor from its own static initialiser, as an attacker would.
   */
  static final class Hijacker {
    static final List<byte[]> stolen = new ArrayList<>();
    static final RuntimeException refusal;

    static {
      RuntimeException caught = null;
      try {
        ApiBridge.registerDataKeys(
            (bytes, wrapped) -> {
              stolen.add(bytes.clone());
              return null;
            });
      } catch (RuntimeException e) {
        caught = e;
      }
      refusal = caught;
    }
  }

  @Test
  void aForeignRegistrationFromAStaticInitialiserIsRefused() {
    assertThat(Hijacker.refusal)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("Only dev.keymanager.DataKey's static initialiser")
        .hasMessageContaining(Hijacker.class.getName());

    WrappedKey wrapped = someWrappedKey();
    try (DataKey dek = ApiBridge.newDataKey(new byte[32], wrapped)) {
      assertThat(dek).isNotNull();
      assertThat(dek.wrappedKey()).isSameAs(wrapped);
    }
    assertThat(Hijacker.stolen).isEmpty();
  }

  @Test
  void aForeignRegistrationFromOrdinaryCodeIsRefusedForEveryAccessor() {
    BiFunction<byte[], WrappedKey, DataKey> thief = (bytes, wrapped) -> null;
    assertThatThrownBy(() -> ApiBridge.registerDataKeys(thief))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("refused a call from " + ApiBridgeTest.class.getName());
    assertThatThrownBy(() -> ApiBridge.registerContextEncoding(context -> new byte[0]))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("Only dev.keymanager.KeyContext's static initialiser");
    assertThatThrownBy(() -> ApiBridge.registerWrappedKeys(ApiBridge.wrappedKeys()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("Only dev.keymanager.WrappedKey's static initialiser");
  }

  @Test
  void theOffsetsAreReachableOnlyThroughTheBridge() throws NoSuchMethodException {
    WrappedKey wrapped = someWrappedKey();
    ApiBridge.WrappedKeys keys = ApiBridge.wrappedKeys();

    assertThat(keys.parametersOffset(wrapped)).isEqualTo(5 + "orders".length() + 4);
    assertThat(keys.ciphertextOffset(wrapped))
        .isEqualTo(
            keys.parametersOffset(wrapped)
                + WrapAlgorithm.AES256_GCM_HKDF_SHA256.parametersLength());
    assertThat(
            java.lang.reflect.Modifier.isPublic(
                WrappedKey.class.getDeclaredMethod("parametersOffset").getModifiers()))
        .isFalse();
    assertThat(
            java.lang.reflect.Modifier.isPublic(
                WrappedKey.class.getDeclaredMethod("ciphertextOffset").getModifiers()))
        .isFalse();
  }

  @Test
  void theContextEncodingIsServedByKeyContextsOwnAccessor() {
    KeyContext context = KeyContext.of("table", "orders");
    assertThat(ApiBridge.contextEncoding(context)).isEqualTo(context.encode());
  }

  private static WrappedKey someWrappedKey() {
    ApiBridge.WrappedKeys keys = ApiBridge.wrappedKeys();
    KekRef kek = new KekRef("orders", 1);
    byte[] encoding = keys.newEncoding(WrapAlgorithm.AES256_GCM_HKDF_SHA256, kek, 48);
    return keys.adopt(encoding, WrapAlgorithm.AES256_GCM_HKDF_SHA256, kek);
  }
}
