package dev.keymanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.internal.ApiBridge;
import java.io.ByteArrayOutputStream;
import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
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

  @Test
  void useKeyLendsAnAesKeyOverTheSameBytesAndDestroysItAfterTheCall() throws Exception {
    byte[] owned = new byte[32];
    Arrays.fill(owned, (byte) 9);
    byte[] expectedBytes = owned.clone();
    AtomicReference<SecretKey> kept = new AtomicReference<>();
    try (DataKey dek = ApiBridge.newDataKey(owned, wrapped())) {
      byte[] ciphertext =
          dek.useKey(
              key -> {
                kept.set(key);
                assertThat(key.getAlgorithm()).isEqualTo("AES");
                assertThat(key.getFormat()).isEqualTo("RAW");
                assertThat(key.isDestroyed()).isFalse();
                return encrypt(key);
              });
      byte[] sameWithBytes =
          dek.useForBytes(b -> encrypt(new javax.crypto.spec.SecretKeySpec(b, "AES")));
      assertThat(ciphertext).isEqualTo(sameWithBytes);
    }
    SecretKey leaked = kept.get();
    assertThat(leaked.isDestroyed()).isTrue();
    assertThatThrownBy(leaked::getEncoded)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("destroyed");
    assertThat(leaked.toString()).contains("redacted").doesNotContain("9, 9");
    assertThat(expectedBytes).isNotEqualTo(owned); // the data key's close wiped its bytes
  }

  @Test
  void useKeyDestroysTheLentKeyWhenTheFunctionThrows() {
    AtomicReference<SecretKey> kept = new AtomicReference<>();
    try (DataKey dek = ApiBridge.newDataKey(new byte[32], wrapped())) {
      assertThatThrownBy(
              () ->
                  dek.useKey(
                      key -> {
                        kept.set(key);
                        throw new IllegalArgumentException("boom");
                      }))
          .hasMessage("boom");
    }
    assertThat(kept.get().isDestroyed()).isTrue();
  }

  @Test
  void useKeyOnAClosedDataKeyFails() {
    DataKey dek = ApiBridge.newDataKey(new byte[32], wrapped());
    dek.close();
    assertThatThrownBy(() -> dek.useKey(k -> k)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> dek.useForBytes(b -> b)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void theLentKeyRefusesToBeSerialised() {
    try (DataKey dek = ApiBridge.newDataKey(new byte[32], wrapped())) {
      dek.useKey(
          key -> {
            assertThatThrownBy(
                    () -> new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(key))
                .isInstanceOf(NotSerializableException.class);
            return null;
          });
    }
  }

  @Test
  void useForBytesReadsPlainlyInAssertJ() {
    byte[] owned = new byte[32];
    Arrays.fill(owned, (byte) 3);
    try (DataKey dek = ApiBridge.newDataKey(owned, wrapped())) {
      // assertThat(dek.use(b -> ...)) is ambiguous among AssertJ's overloads; this is not.
      assertThat(dek.useForBytes(b -> Arrays.copyOf(b, 2))).containsExactly(3, 3);
    }
  }

  private static byte[] encrypt(SecretKey key) {
    try {
      Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
      cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, new byte[12]));
      return cipher.doFinal(new byte[] {1, 2, 3});
    } catch (java.security.GeneralSecurityException e) {
      throw new AssertionError(e);
    }
  }
}
