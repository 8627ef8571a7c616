package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.WrappedKey;
import dev.keymanager.internal.ApiBridge;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class CachedKekTest {
  private static final KekRef REF = new KekRef("orders", 1);

  private static byte[] kekBytes() {
    byte[] b = new byte[32];
    Arrays.fill(b, (byte) 0x33);
    return b;
  }

  @Test
  void anOperationHoldingALeaseOutlivesEviction() {
    byte[] kek = kekBytes();
    CachedKek cached = new CachedKek(REF, kek);
    assertThat(cached.tryRetain()).isTrue(); // an operation in flight

    cached.drop(); // the cache evicts
    WrappedKey wrapped = DekCipher.wrap(cached, new byte[32], KeyContext.empty());
    byte[] back = DekCipher.unwrap(cached, wrapped, KeyContext.empty());

    assertThat(back).containsOnly(0);
    assertThat(kek).containsOnly(0x33);
    cached.release(); // the operation ends: last holder

    assertThat(kek).containsOnly(0);
    assertThat(cached.tryRetain()).isFalse();
    assertThat(cached.isWiped()).isTrue();
  }

  @Test
  void aSecondInstanceUnwrapsUnderItsOwnDerivedSubkey() {
    CachedKek writer = new CachedKek(REF, kekBytes());
    CachedKek reader = new CachedKek(REF, kekBytes());
    byte[] dek = new byte[32];
    Arrays.fill(dek, (byte) 9);

    for (int i = 0; i < 40; i++) { // more salts than the reader has slots
      CachedKek w = new CachedKek(REF, kekBytes());
      WrappedKey wrapped = DekCipher.wrap(w, dek, KeyContext.empty());
      assertThat(DekCipher.unwrap(reader, wrapped, KeyContext.empty())).isEqualTo(dek);
      w.drop();
    }
    WrappedKey wrapped = DekCipher.wrap(writer, dek, KeyContext.empty());
    assertThat(DekCipher.unwrap(reader, wrapped, KeyContext.empty())).isEqualTo(dek);
    assertThat(DekCipher.unwrap(writer, wrapped, KeyContext.empty())).isEqualTo(dek);
  }

  @Test
  void noncesUnderOneSubkeyCountUp() {
    CachedKek cached = new CachedKek(REF, kekBytes());
    WrappedKey a = DekCipher.wrap(cached, new byte[32], KeyContext.empty());
    WrappedKey b = DekCipher.wrap(cached, new byte[32], KeyContext.empty());
    byte[] ea = a.encode();
    byte[] eb = b.encode();
    int salt = ApiBridge.wrappedKeys().parametersOffset(a);

    assertThat(Arrays.copyOfRange(ea, salt, salt + 32))
        .isEqualTo(Arrays.copyOfRange(eb, salt, salt + 32));
    assertThat(eb[salt + 32 + 11] - ea[salt + 32 + 11]).isEqualTo(1);
  }

  @Test
  void releasingMoreThanRetainedIsABug() {
    CachedKek cached = new CachedKek(REF, kekBytes());
    cached.drop();

    assertThatThrownBy(cached::release).isInstanceOf(IllegalStateException.class);
    assertThat(cached.toString()).doesNotContain("33");
  }
}
