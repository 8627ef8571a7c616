package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekRef;
import java.util.Arrays;
import javax.crypto.Cipher;
import org.junit.jupiter.api.Test;

/**
 * The subkey bound's CLOCK eviction ({@link SubkeyCache}): a subkey hit since the hand last passed
 * it stays, the first one not hit goes and is wiped, the one that replaces it takes its idle
 * cipher, and a KEK's wipe takes its subkeys out of the bound.
 */
class SubkeyClockTest {
  private static final KekRef REF = new KekRef("orders", 1);

  private static byte[] salt(int b) {
    byte[] salt = new byte[CachedKek.SALT_LENGTH];
    Arrays.fill(salt, (byte) b);
    return salt;
  }

  private static byte[] kekBytes() {
    byte[] kek = new byte[32];
    Arrays.fill(kek, (byte) 5);
    return kek;
  }

  /** The subkey for {@code salt}, derived or found (a hit), released again. */
  private static CachedKek.Subkey use(CachedKek kek, byte[] salt) {
    CachedKek.Subkey s = kek.unwrapKey(salt, 0);
    s.release();
    return s;
  }

  @Test
  void aSubkeyHitSinceTheHandPassedStaysAndTheFirstOneNotHitIsEvictedAndWiped() {
    SubkeyCache bound = new SubkeyCache(2);
    CachedKek kek = new CachedKek(REF, kekBytes(), bound);
    CachedKek.Subkey a = use(kek, salt(1));
    CachedKek.Subkey b = use(kek, salt(2));
    assertThat(use(kek, salt(1))).isSameAs(a); // a hit: sets a's bit

    CachedKek.Subkey c = use(kek, salt(3)); // past the bound: a keeps its place, b goes

    assertThat(b.isEnded()).isTrue();
    assertThat(a.isEnded()).isFalse();
    assertThat(c.isEnded()).isFalse();
    assertThat(bound.size()).isEqualTo(2);
    assertThat(kek.subkeys().unwrapSubkeys()).isEqualTo(2);
    assertThat(use(kek, salt(1))).isSameAs(a);
    assertThat(bound.derivations()).isEqualTo(3);

    // The hand stopped at c's place, and c was never hit: it goes next.
    CachedKek.Subkey d = use(kek, salt(4));
    assertThat(c.isEnded()).isTrue();
    assertThat(a.isEnded()).isFalse();
    assertThat(use(kek, salt(2))).isNotSameAs(b); // derived again
    assertThat(d.isEnded()).isTrue(); // d, never hit, took c's place under the hand: it went
    assertThat(bound.derivations()).isEqualTo(5);
    kek.drop();
  }

  @Test
  void theSubkeyThatReplacesAnEvictedOneTakesItsIdleCipher() {
    SubkeyCache bound = new SubkeyCache(1);
    CachedKek kek = new CachedKek(REF, kekBytes(), bound);
    CachedKek.Subkey a = kek.unwrapKey(salt(1), 0);
    Cipher idle = a.take();
    a.give(idle);
    a.release();

    CachedKek.Subkey b = kek.unwrapKey(salt(2), 0);

    assertThat(a.isEnded()).isTrue();
    assertThat(b.take()).isSameAs(idle);
    b.release();
    kek.drop();
  }

  @Test
  void aSubkeyInUseWhenEvictedEndsAtItsLastRelease() {
    SubkeyCache bound = new SubkeyCache(1);
    CachedKek kek = new CachedKek(REF, kekBytes(), bound);
    CachedKek.Subkey a = kek.unwrapKey(salt(1), 0); // held by an unwrap in flight

    use(kek, salt(2));

    assertThat(a.isDropped()).isTrue();
    assertThat(a.isEnded()).isFalse();
    a.release();
    assertThat(a.isEnded()).isTrue();
    kek.drop();
  }

  @Test
  void aWipedKekTakesItsSubkeysOutOfTheBoundAndLeavesOthers() {
    SubkeyCache bound = new SubkeyCache(100);
    CachedKek first = new CachedKek(REF, kekBytes(), bound);
    CachedKek second = new CachedKek(new KekRef("orders", 2), kekBytes(), bound);
    for (int i = 1; i <= 40; i++) {
      use(first, salt(i));
    }
    CachedKek.Subkey kept = use(second, salt(1));

    first.drop();

    assertThat(bound.size()).isEqualTo(1);
    assertThat(kept.isEnded()).isFalse();
    assertThat(use(second, salt(1))).isSameAs(kept);
    second.drop();
    assertThat(bound.size()).isZero();
    assertThat(kept.isEnded()).isTrue();
  }
}
