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
  void twoUsersAtOnceGrowThePaddedSlotsAndKeepBothCiphers() {
    Cipher a = ciphers.take();
    Cipher b = ciphers.take(); // a second operation while the first runs
    ciphers.give(a);
    ciphers.give(b);

    assertThat(ciphers.isStriped()).isTrue();
    assertThat(java.util.List.of(ciphers.take(), ciphers.take())).containsExactlyInAnyOrder(a, b);
  }
}
