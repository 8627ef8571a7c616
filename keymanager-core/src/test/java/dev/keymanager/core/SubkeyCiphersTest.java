package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.core.internal.Jca;
import javax.crypto.Cipher;
import org.junit.jupiter.api.Test;

class SubkeyCiphersTest {
  /** A pool with no subkey around it; {@link #drop()} ends it at once, as a last release would. */
  private static final class Pool extends SubkeyCiphers {
    private final boolean encrypts;

    Pool(byte[] key, Jca jca, boolean encrypts) {
      super(key, jca);
      this.encrypts = encrypts;
    }

    Pool(byte[] key, Jca jca) {
      this(key, jca, true);
    }

    @Override
    boolean encrypts() {
      return encrypts;
    }

    @Override
    void onEnd() {
      wipeCiphers();
    }
  }

  private final Pool ciphers = new Pool(new byte[32], Jca.DEFAULT);

  @Test
  void aCipherGivenBackIsLentAgain() {
    Cipher first = ciphers.take();
    ciphers.give(first);

    assertThat(ciphers.take()).isSameAs(first);
  }

  @Test
  void concurrentBorrowersGetDistinctCiphersAndAllFitBack() {
    Cipher a = ciphers.take();
    Cipher b = ciphers.take();
    Cipher c = ciphers.take();
    assertThat(a).isNotSameAs(b).isNotSameAs(c);
    assertThat(b).isNotSameAs(c);
    ciphers.give(a);
    ciphers.give(b);
    ciphers.give(c);

    assertThat(java.util.List.of(ciphers.take(), ciphers.take(), ciphers.take()))
        .containsExactlyInAnyOrder(a, b, c);
  }

  @Test
  void afterWipeNothingIsPooledAndTheScrubbedCiphersGoBackToTheProvider() {
    Jca jca = Jca.of(java.security.Security.getProvider("SunJCE"));
    Pool own = new Pool(new byte[32], jca);
    Cipher kept = own.take();
    Cipher pooled = own.take();
    own.give(pooled);

    own.drop(); // no holder: wipes now
    own.give(kept); // scrubbed, not pooled

    // Both were re-keyed with zeros and handed to the Jca, which lends them to the next subkey.
    assertThat(java.util.List.of(jca.aesGcm(), jca.aesGcm()))
        .containsExactlyInAnyOrder(kept, pooled);
    assertThat(jca.aesGcm()).isNotSameAs(kept).isNotSameAs(pooled);
  }

  @Test
  void oneUserAtATimeKeepsOneCipherAndNoPaddedSlots() {
    Cipher first = ciphers.take();
    ciphers.give(first);
    for (int i = 0; i < 100; i++) {
      Cipher c = ciphers.take();
      assertThat(c).isSameAs(first);
      ciphers.give(c);
    }

    assertThat(ciphers.hasCipherSlots()).isFalse();
  }

  @Test
  void aSecondThreadGrowsThePaddedSlotsAndTakesTheSameCipher() throws Exception {
    assertThat(ciphers.tryRetain()).isTrue(); // each operation retains the subkey first
    Cipher first = ciphers.take();
    ciphers.give(first);
    ciphers.release();
    Cipher[] seen = new Cipher[1];
    Thread second =
        new Thread(
            () -> {
              assertThat(ciphers.tryRetain()).isTrue(); // a second thread: grows the stripes
              seen[0] = ciphers.take();
              ciphers.give(seen[0]);
              ciphers.release();
            });
    second.start();
    second.join();

    assertThat(ciphers.hasCipherSlots()).isTrue();
    assertThat(seen[0]).isSameAs(first); // no second cipher: one user at a time
    assertThat(ciphers.take()).isSameAs(first);
  }

  @Test
  void aDecryptOnlyScrubHandsTheProviderAWorkingZeroKeyedCipher() throws Exception {
    Jca jca = Jca.of(java.security.Security.getProvider("SunJCE"));
    byte[] key = new byte[32];
    java.util.Arrays.fill(key, (byte) 7);
    Pool own = new Pool(key, jca, false);
    Cipher c = own.take();
    c.init(Cipher.DECRYPT_MODE, own, new javax.crypto.spec.GCMParameterSpec(128, new byte[12]));
    own.give(c);

    own.drop(); // no holder: wipes now

    // Re-keyed with zeros: it now decrypts what an all-zero key encrypted, not what key 7 did.
    Cipher zero = Cipher.getInstance("AES/GCM/NoPadding");
    byte[] iv = new byte[12];
    iv[0] = 1;
    zero.init(
        Cipher.ENCRYPT_MODE,
        new javax.crypto.spec.SecretKeySpec(new byte[32], "AES"),
        new javax.crypto.spec.GCMParameterSpec(128, iv));
    byte[] sealed = zero.doFinal(new byte[16]);
    Cipher back = jca.aesGcm();
    assertThat(back).isSameAs(c);
    back.init(
        Cipher.DECRYPT_MODE,
        new javax.crypto.spec.SecretKeySpec(new byte[32], "AES"),
        new javax.crypto.spec.GCMParameterSpec(128, iv));
    assertThat(back.doFinal(sealed)).containsOnly(0);
  }

  @Test
  void theSubkeyIsItsOwnKeyCopiedInOverwrittenByItsWipeAndNeverSerialised() {
    byte[] bytes = new byte[32];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) (i + 1);
    }
    byte[] expected = bytes.clone();
    Pool own = new Pool(bytes, Jca.DEFAULT, false);

    assertThat(bytes).as("the caller's array, overwritten once copied in").containsOnly(0);
    assertThat(own.getAlgorithm()).isEqualTo("AES");
    assertThat(own.getFormat()).isEqualTo("RAW");
    byte[] copy = own.getEncoded();
    assertThat(copy).isEqualTo(expected);
    assertThat(own.getEncoded()).as("a fresh copy each time").isNotSameAs(copy);
    assertThat(own.toString()).doesNotContain("1, 2, 3").doesNotContain("0102");
    assertThatThrownBy(
            () ->
                new java.io.ObjectOutputStream(new java.io.ByteArrayOutputStream())
                    .writeObject(own))
        .isInstanceOf(java.io.NotSerializableException.class);

    own.wipeKey();
    assertThat(own.getEncoded()).containsOnly(0);
  }

  @Test
  void aKeyThatIsNotAes256IsRefused() {
    assertThatThrownBy(() -> new Pool(new byte[16], Jca.DEFAULT, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("a subkey is 32 bytes");
  }

  @Test
  void twoUsersAtOnceGrowThePaddedSlotsAndKeepBothCiphers() {
    Cipher a = ciphers.take();
    Cipher b = ciphers.take(); // a second operation while the first runs
    ciphers.give(a);
    ciphers.give(b);

    assertThat(ciphers.hasCipherSlots()).isTrue();
    assertThat(java.util.List.of(ciphers.take(), ciphers.take())).containsExactlyInAnyOrder(a, b);
  }

  @Test
  void aSubkeyReplacingAnEvictedOneTakesItsIdleCipherRekeyedWithItsOwnKey() throws Exception {
    Jca jca = Jca.of(java.security.Security.getProvider("SunJCE"));
    byte[] oldKey = new byte[32];
    java.util.Arrays.fill(oldKey, (byte) 7);
    byte[] newKey = new byte[32];
    java.util.Arrays.fill(newKey, (byte) 9);
    Pool evicted = new Pool(oldKey.clone(), jca, false);
    Pool replacing = new Pool(newKey.clone(), jca, false);
    Cipher c = evicted.take();
    evicted.give(c);

    replacing.adoptCipherOf(evicted);
    evicted.drop();

    assertThat(replacing.take()).isSameAs(c);
    // Keyed for decryption under the new key: it opens what key 9 sealed.
    byte[] iv = new byte[12];
    byte[] underNew = seal(newKey, iv);
    c.init(Cipher.DECRYPT_MODE, replacing, new javax.crypto.spec.GCMParameterSpec(128, iv));
    assertThat(c.doFinal(underNew)).containsOnly(0);
  }

  @Test
  void aWrapSubkeysCipherIsNeverHandedOn() {
    Pool wrap = new Pool(new byte[32], Jca.DEFAULT, true);
    Pool replacing = new Pool(new byte[32], Jca.DEFAULT, false);
    Cipher c = wrap.take();
    wrap.give(c);

    replacing.adoptCipherOf(wrap);

    assertThat(wrap.take()).isSameAs(c); // still the wrap subkey's: it may hold GCM's encrypt key
  }

  private static byte[] seal(byte[] key, byte[] iv) throws Exception {
    Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
    gcm.init(
        Cipher.ENCRYPT_MODE,
        new javax.crypto.spec.SecretKeySpec(key, "AES"),
        new javax.crypto.spec.GCMParameterSpec(128, iv));
    return gcm.doFinal(new byte[16]);
  }
}
