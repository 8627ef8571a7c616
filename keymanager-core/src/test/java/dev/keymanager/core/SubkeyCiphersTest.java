package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

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
  void afterWipeNothingIsPooled() {
    Cipher kept = ciphers.take();
    Cipher pooled = ciphers.take();
    ciphers.give(pooled);

    ciphers.wipe();
    ciphers.give(kept); // scrubbed, not pooled

    Cipher next = ciphers.take();
    assertThat(next).isNotSameAs(pooled).isNotSameAs(kept);
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
