package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekRef;
import dev.keymanager.core.internal.Jca;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The salt index: a subkey is found by its whole salt and its KEK, through additions, removals and
 * the rebuilds they cause, and never for another KEK or for a salt that shares only its first
 * bytes.
 */
class SaltIndexTest {
  private static final SubkeyCache UNUSED = new SubkeyCache(16);
  private final SaltIndex index = new SaltIndex();
  private final KekSubkeys orders = new KekSubkeys(new KekRef("orders", 1), Jca.DEFAULT, UNUSED);
  private final KekSubkeys invoices =
      new KekSubkeys(new KekRef("invoices", 1), Jca.DEFAULT, UNUSED);

  private static CachedKek.Subkey subkey(byte[] salt, KekSubkeys owner) {
    return new CachedKek.Subkey(salt, 0, new byte[32], Jca.DEFAULT, owner);
  }

  private static byte[] salt(Random random) {
    byte[] salt = new byte[CachedKek.SALT_LENGTH];
    random.nextBytes(salt);
    return salt;
  }

  /** The salt inside a wrapped-key-like encoding, at an offset, as the hit path reads it. */
  private CachedKek.Subkey find(KekRef kek, byte[] salt) {
    byte[] encoded = new byte[7 + salt.length + 5];
    System.arraycopy(salt, 0, encoded, 7, salt.length);
    return index.find(kek, encoded, 7);
  }

  @Test
  void aSubkeyIsFoundByItsSaltAndKekOnly() {
    Random random = new Random(1);
    byte[] salt = salt(random);
    CachedKek.Subkey s = subkey(salt, orders);
    index.add(s);

    assertThat(find(orders.ref, salt)).isSameAs(s);
    assertThat(find(new KekRef("orders", 1), salt)).as("an equal ref").isSameAs(s);
    assertThat(find(new KekRef("orders", 2), salt)).isNull();
    assertThat(find(invoices.ref, salt)).isNull();
    byte[] samePrefix = salt.clone();
    samePrefix[31] ^= 1;
    assertThat(find(orders.ref, samePrefix)).isNull();

    index.remove(s);
    assertThat(find(orders.ref, salt)).isNull();
    assertThat(index.size()).isZero();
  }

  @Test
  void theSameSaltUnderTwoKeksFindsEachKeksOwn() {
    byte[] salt = salt(new Random(2));
    CachedKek.Subkey ofOrders = subkey(salt, orders);
    CachedKek.Subkey ofInvoices = subkey(salt, invoices);
    index.add(ofOrders);
    index.add(ofInvoices);

    assertThat(find(orders.ref, salt)).isSameAs(ofOrders);
    assertThat(find(invoices.ref, salt)).isSameAs(ofInvoices);
    index.remove(ofOrders);
    assertThat(find(orders.ref, salt)).isNull();
    assertThat(find(invoices.ref, salt)).isSameAs(ofInvoices);
  }

  @Test
  void everyLiveSubkeyIsFoundThroughGrowthRemovalsAndShrinking() {
    Random random = new Random(3);
    List<CachedKek.Subkey> live = new ArrayList<>();
    List<byte[]> salts = new ArrayList<>();
    List<byte[]> gone = new ArrayList<>();
    for (int round = 0; round < 20_000; round++) {
      boolean add =
          live.isEmpty() || (round < 12_000 ? random.nextInt(4) != 0 : random.nextInt(3) == 0);
      if (add) {
        byte[] salt = salt(random);
        if (random.nextInt(8) == 0) {
          salt[0] = 42; // many salts share their first bytes: long chains in one place
          salt[1] = 0;
          salt[2] = 0;
          salt[3] = 0;
          salt[4] = 42;
          salt[5] = 0;
          salt[6] = 0;
          salt[7] = 0;
        }
        CachedKek.Subkey s = subkey(salt, random.nextBoolean() ? orders : invoices);
        index.add(s);
        live.add(s);
        salts.add(salt);
      } else {
        int at = random.nextInt(live.size());
        index.remove(live.get(at));
        gone.add(salts.get(at));
        live.remove(at);
        salts.remove(at);
      }
      if (round % 1_000 == 999) {
        assertThat(index.size()).isEqualTo(live.size());
        for (int i = 0; i < live.size(); i++) {
          CachedKek.Subkey s = live.get(i);
          KekRef kek = s.isOf(orders.ref) ? orders.ref : invoices.ref;
          assertThat(find(kek, salts.get(i))).isSameAs(s);
        }
        for (byte[] salt : gone) {
          assertThat(find(orders.ref, salt)).isNull();
          assertThat(find(invoices.ref, salt)).isNull();
        }
      }
    }
    for (CachedKek.Subkey s : live) {
      index.remove(s);
    }
    assertThat(index.size()).isZero();
    assertThat(find(orders.ref, salts.get(0))).isNull();
  }
}
