package dev.keymanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.internal.ApiBridge;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class DataKeyTest {

  private static WrappedKey wrapped() {
    return ApiBridge.wrappedKeys()
        .adopt(
            ApiBridge.wrappedKeys()
                .newEncoding(WrapAlgorithm.AES256_GCM_HKDF_SHA256, new KekRef("k", 1), 48));
  }

  @Test
  void closeOverwritesTheBytesAndBlocksFurtherUse() {
    byte[] owned = new byte[32];
    Arrays.fill(owned, (byte) 7);
    DataKey dek = ApiBridge.newDataKey(owned, wrapped());

    byte first = dek.use(b -> b[0]);
    assertThat(first).isEqualTo((byte) 7);
    dek.close();

    assertThat(owned).containsOnly(0);
    assertThatThrownBy(() -> dek.use(b -> b)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void toStringIsRedacted() {
    byte[] owned = new byte[32];
    Arrays.fill(owned, (byte) 0x41);
    try (DataKey dek = ApiBridge.newDataKey(owned, wrapped())) {
      assertThat(dek.toString()).contains("redacted").doesNotContain("AAAA").doesNotContain("41");
    }
  }
}
