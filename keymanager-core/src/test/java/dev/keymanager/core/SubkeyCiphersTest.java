package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.LentKey;
import javax.crypto.Cipher;
import org.junit.jupiter.api.Test;

class SubkeyCiphersTest {
  private final SubkeyCiphers ciphers = new SubkeyCiphers(LentKey.aes(new byte[32]));

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
    SubkeyCiphers own = new SubkeyCiphers(LentKey.aes(new byte[32]), jca);
    Cipher kept = own.take();
    Cipher pooled = own.take();
    own.give(pooled);

    own.wipe();
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

    assertThat(ciphers.isStriped()).isFalse();
  }

  @Test
  void aSecondThreadGrowsThePaddedSlotsAndTakesTheSameCipher() throws Exception {
    Cipher first = ciphers.take();
    ciphers.give(first);
    Cipher[] seen = new Cipher[1];
    Thread second =
        new Thread(
            () -> {
              seen[0] = ciphers.take();
              ciphers.give(seen[0]);
            });
    second.start();
    second.join();

    assertThat(ciphers.isStriped()).isTrue();
    assertThat(seen[0]).isSameAs(first); // no second cipher: one user at a time
    assertThat(ciphers.take()).isSameAs(first);
  }

  @Test
  void aDecryptOnlyScrubHandsTheProviderAWorkingZeroKeyedCipher() throws Exception {
    Jca jca = Jca.of(java.security.Security.getProvider("SunJCE"));
    byte[] key = new byte[32];
    java.util.Arrays.fill(key, (byte) 7);
    SubkeyCiphers own = new SubkeyCiphers(LentKey.aes(key), jca, false);
    Cipher c = own.take();
    c.init(
        Cipher.DECRYPT_MODE, own.key(), new javax.crypto.spec.GCMParameterSpec(128, new byte[12]));
    own.give(c);

    own.wipe();

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
        LentKey.aes(new byte[32]),
        new javax.crypto.spec.GCMParameterSpec(128, iv));
    assertThat(back.doFinal(sealed)).containsOnly(0);
  }

  @Test
  void twoUsersAtOnceGrowThePaddedSlotsAndKeepBothCiphers() {
    Cipher a = ciphers.take();
    Cipher b = ciphers.take(); // a second operation while the first runs
    ciphers.give(a);
    ciphers.give(b);

    assertThat(ciphers.isStriped()).isTrue();
    assertThat(java.util.List.of(ciphers.take(), ciphers.take())).containsExactlyInAnyOrder(a, b);
  }
}
