package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 24, salts and subkeys: a writer keeps its wrap salt and counter across refreshes; a reader
 * keeps one subkey per salt it meets, across refreshes, in one bound shared by all KEKs; and a
 * KEK's subkeys go with it when a lifecycle change, a denial or the hard TTL ends it.
 */
class SubkeyCacheTest {
  private static final URI CMK = FakeKms.cmk("subkeys");
  private static final KeyContext CONTEXT = KeyContext.of("table", "subkeys");
  private static final Duration TTL = Duration.ofMinutes(5);

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final KekStore store = KekStores.inMemory();
  private final List<KeyManager> opened = new ArrayList<>();

  @AfterEach
  void closeAll() {
    opened.forEach(KeyManager::close);
  }

  private KeyManagers.Builder builder() {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .hardTtl(TTL)
        .refreshAhead(Duration.ofMinutes(1))
        .clock(clock);
  }

  private DefaultKeyManager open(KeyManagers.Builder builder) {
    DefaultKeyManager keys = (DefaultKeyManager) builder.build();
    opened.add(keys);
    return keys;
  }

  private static byte[] salt(WrappedKey w) {
    int at = ApiBridge.wrappedKeys().parametersOffset(w);
    return Arrays.copyOfRange(w.encode(), at, at + CachedKek.SALT_LENGTH);
  }

  private static long counter(WrappedKey w) {
    int at = ApiBridge.wrappedKeys().parametersOffset(w) + CachedKek.SALT_LENGTH + 4;
    return ByteBuffer.wrap(w.encode(), at, 8).getLong();
  }

  /** One DEK under {@code kekId} from each of {@code writers} fresh processes: one salt each. */
  private List<WrappedKey> fromWriters(String kekId, int writers, List<byte[]> deks) {
    List<WrappedKey> wrapped = new ArrayList<>();
    for (int i = 0; i < writers; i++) {
      try (KeyManager writer = builder().build();
          DataKey dek = writer.generateDek(kekId, CONTEXT)) {
        deks.add(dek.use(byte[]::clone));
        wrapped.add(dek.wrappedKey());
      }
    }
    return wrapped;
  }

  private static void unwrapAll(KeyManager keys, List<WrappedKey> wrapped, List<byte[]> deks) {
    for (int i = 0; i < wrapped.size(); i++) {
      try (DataKey dek = keys.unwrapDek(wrapped.get(i), CONTEXT)) {
        assertThat(dek.use(byte[]::clone)).isEqualTo(deks.get(i));
      }
    }
  }

  private static KekSubkeys subkeysOf(DefaultKeyManager keys, KekRef ref) {
    CachedKek kek = keys.cache().acquire(ref);
    try {
      return kek.subkeys();
    } finally {
      kek.release();
    }
  }

  @Test
  void aWriterKeepsItsSaltAndCounterAcrossRefreshes() {
    DefaultKeyManager keys = open(builder());
    keys.admin().createKek("orders", CMK);
    WrappedKey first = keys.generateDek("orders", CONTEXT).wrappedKey();

    for (int minute = 0; minute < 30; minute++) { // six hard TTLs, a refresh in each
      clock.advance(Duration.ofMinutes(1));
      keys.generateDek("orders", CONTEXT).close();
      keys.awaitBackgroundLoads();
    }
    WrappedKey last = keys.generateDek("orders", CONTEXT).wrappedKey();

    assertThat(keys.stats().refreshes()).isGreaterThanOrEqualTo(6);
    assertThat(keys.stats().misses()).isZero();
    assertThat(salt(last)).isEqualTo(salt(first));
    assertThat(counter(last)).isEqualTo(counter(first) + 31);
  }

  @Test
  void aWriterPicksANewSaltOnceItsKekWasDroppedNotReplaced() {
    DefaultKeyManager keys = open(builder());
    keys.admin().createKek("orders", CMK);
    WrappedKey before = keys.generateDek("orders", CONTEXT).wrappedKey();

    clock.advance(TTL.plusSeconds(1)); // no use in the refresh window: the entry expires
    WrappedKey after = keys.generateDek("orders", CONTEXT).wrappedKey();

    assertThat(salt(after)).isNotEqualTo(salt(before));
    assertThat(counter(after)).isZero();
  }

  @Test
  void aReaderKeepsSixtyFourSaltsOfOneKekAndKeepsThemAcrossRefreshes() {
    try (KeyManager creator = builder().build()) {
      creator.admin().createKek("orders", CMK);
    }
    List<byte[]> deks = new ArrayList<>();
    List<WrappedKey> wrapped = fromWriters("orders", 64, deks);
    Set<ByteBuffer> salts = new HashSet<>();
    wrapped.forEach(w -> salts.add(ByteBuffer.wrap(salt(w))));
    assertThat(salts).hasSize(64);
    DefaultKeyManager reader = open(builder());

    unwrapAll(reader, wrapped, deks);
    unwrapAll(reader, wrapped, deks);
    assertThat(reader.cache().subkeys().derivations()).isEqualTo(64); // none derived twice

    for (int minute = 0; minute < 12; minute++) { // two refreshes at least
      clock.advance(Duration.ofMinutes(1));
      unwrapAll(reader, wrapped, deks);
      reader.awaitBackgroundLoads();
    }

    assertThat(reader.stats().refreshes()).isGreaterThanOrEqualTo(2);
    assertThat(reader.cache().subkeys().derivations()).isEqualTo(64);
    assertThat(subkeysOf(reader, new KekRef("orders", 1)).unwrapSubkeys()).isEqualTo(64);
  }

  @Test
  void oneBoundCoversTheSubkeysOfEveryKek() {
    List<byte[]> deks = new ArrayList<>();
    List<WrappedKey> wrapped = new ArrayList<>();
    try (KeyManager creator = builder().build()) {
      for (int k = 0; k < 3; k++) {
        creator.admin().createKek("tenant-" + k, CMK);
      }
    }
    for (int k = 0; k < 3; k++) {
      wrapped.addAll(fromWriters("tenant-" + k, 8, deks));
    }
    DefaultKeyManager reader = open(builder().maximumCachedSubkeys(10));

    unwrapAll(reader, wrapped, deks);
    unwrapAll(reader, wrapped, deks); // still right after evictions: derived again

    assertThat(reader.cache().subkeys().size()).isLessThanOrEqualTo(10);
    int indexed = 0;
    for (int k = 0; k < 3; k++) {
      indexed += subkeysOf(reader, new KekRef("tenant-" + k, 1)).unwrapSubkeys();
    }
    assertThat(indexed).isLessThanOrEqualTo(10);
    assertThat(reader.cache().subkeys().derivations()).isGreaterThan(24);
  }

  @Test
  void disablingAKekWipesItsSubkeysAndLeavesOthers() {
    try (KeyManager creator = builder().build()) {
      creator.admin().createKek("orders", CMK);
      creator.admin().createKek("invoices", CMK);
    }
    List<byte[]> deks = new ArrayList<>();
    List<WrappedKey> orders = fromWriters("orders", 20, deks);
    List<byte[]> invoiceDeks = new ArrayList<>();
    List<WrappedKey> invoices = fromWriters("invoices", 3, invoiceDeks);
    DefaultKeyManager reader = open(builder());
    unwrapAll(reader, orders, deks);
    unwrapAll(reader, invoices, invoiceDeks);
    KekSubkeys ordersSubkeys = subkeysOf(reader, new KekRef("orders", 1));
    assertThat(reader.cache().subkeys().size()).isEqualTo(23);

    reader.admin().disableKek("orders");

    assertThat(ordersSubkeys.isWiped()).isTrue();
    assertThat(ordersSubkeys.unwrapSubkeys()).isZero();
    assertThat(reader.cache().subkeys().size()).isEqualTo(3);
    assertThatThrownBy(() -> reader.unwrapDek(orders.get(0), CONTEXT))
        .isInstanceOf(KekStateException.class);
    unwrapAll(reader, invoices, invoiceDeks);
  }

  @Test
  void aDeniedRefreshWipesTheKeksSubkeys() {
    try (KeyManager creator = builder().build()) {
      creator.admin().createKek("orders", CMK);
    }
    List<byte[]> deks = new ArrayList<>();
    List<WrappedKey> wrapped = fromWriters("orders", 20, deks);
    DefaultKeyManager reader = open(builder());
    unwrapAll(reader, wrapped, deks);
    KekSubkeys subkeys = subkeysOf(reader, new KekRef("orders", 1));
    kms.disable(CMK);

    clock.advance(Duration.ofMinutes(4)); // into the refresh window
    reader.unwrapDek(wrapped.get(0), CONTEXT).close(); // served, and starts the refresh
    reader.awaitBackgroundLoads();

    assertThat(subkeys.isWiped()).isTrue();
    assertThat(reader.cache().subkeys().size()).isZero();
    assertThatThrownBy(() -> reader.unwrapDek(wrapped.get(1), CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class);
  }

  @Test
  void theHardTtlWipesTheKeksSubkeysThoughRefreshesKeptThem() {
    try (KeyManager creator = builder().build()) {
      creator.admin().createKek("orders", CMK);
    }
    List<byte[]> deks = new ArrayList<>();
    List<WrappedKey> wrapped = fromWriters("orders", 20, deks);
    DefaultKeyManager reader = open(builder());
    unwrapAll(reader, wrapped, deks);
    clock.advance(Duration.ofMinutes(4));
    unwrapAll(reader, wrapped, deks); // a refresh: the subkeys move to the new entry
    reader.awaitBackgroundLoads();
    KekSubkeys subkeys = subkeysOf(reader, new KekRef("orders", 1));
    assertThat(reader.stats().refreshes()).isEqualTo(1);
    assertThat(subkeys.isWiped()).isFalse();

    clock.advance(TTL.plusSeconds(1)); // idle past the refreshed entry's hard TTL
    reader.unwrapDek(wrapped.get(0), CONTEXT).close(); // finds it expired: a new load

    assertThat(subkeys.isWiped()).isTrue();
    assertThat(subkeysOf(reader, new KekRef("orders", 1))).isNotSameAs(subkeys);
    assertThat(reader.cache().subkeys().size()).isEqualTo(1);
  }

  @Test
  void anEntryWithOtherKekBytesNeverAdoptsSubkeys() {
    byte[] kekA = new byte[32];
    byte[] kekB = new byte[32];
    Arrays.fill(kekA, (byte) 1);
    Arrays.fill(kekB, (byte) 2);
    KekRef ref = new KekRef("orders", 1);
    SubkeyCache bound = new SubkeyCache(16);
    CachedKek a = new CachedKek(ref, kekA, bound);
    CachedKek same = new CachedKek(ref, kekA.clone(), bound);
    CachedKek other = new CachedKek(ref, kekB, bound);

    same.adoptSubkeys(a, 0);
    other.adoptSubkeys(a, 0);

    assertThat(same.subkeys()).isSameAs(a.subkeys());
    assertThat(other.subkeys()).isNotSameAs(a.subkeys());
    a.drop();
    assertThat(same.subkeys().isWiped()).isFalse(); // still held by the entry that adopted them
    same.drop();
    assertThat(a.subkeys().isWiped()).isTrue();
    assertThat(kekA).containsOnly(0);
    other.drop();
  }
}
