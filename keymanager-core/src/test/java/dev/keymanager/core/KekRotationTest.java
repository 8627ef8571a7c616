package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekDescription;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KekRotationTest {
  private static final URI CMK = FakeKms.cmk("rotation");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  @TempDir Path dir;

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final List<AutoCloseable> toClose = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
  }

  private KekStore store(String kind) {
    KekStore store =
        "file".equals(kind) ? KekStores.file(dir.resolve("keks")) : KekStores.inMemory();
    toClose.add(store);
    return store;
  }

  private KeyManager keyManager(KekStore store) {
    KeyManager keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .build();
    toClose.add(keys);
    return keys;
  }

  private static byte[] bytes(DataKey dek) {
    return dek.use(byte[]::clone);
  }

  @ParameterizedTest
  @ValueSource(strings = {"memory", "file"})
  void rotationMakesANewPrimaryAndEarlierVersionsStillUnwrap(String kind) {
    KeyManager keys = keyManager(store(kind));
    keys.admin().createKek("orders", CMK);
    WrappedKey underV1;
    byte[] v1Dek;
    try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
      underV1 = dek.wrappedKey();
      v1Dek = bytes(dek);
    }

    KeyEncryptionKey v2 = keys.admin().rotateKek("orders");

    assertThat(v2.version()).isEqualTo(2);
    assertThat(v2.state()).isEqualTo(KekState.ENABLED);
    assertThat(v2.cmkUri()).isEqualTo(CMK);
    assertThat(keys.admin().describeKek("orders")).contains(v2);
    try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
      assertThat(dek.wrappedKey().kek().version()).isEqualTo(2);
    }
    try (DataKey back = keys.unwrapDek(underV1, CONTEXT)) {
      assertThat(bytes(back)).isEqualTo(v1Dek);
    }
    var description = keys.admin().describeKekVersions("orders").orElseThrow();
    assertThat(description.primaryVersion()).isEqualTo(2);
    assertThat(description.minimumDecryptionVersion()).isEqualTo(1);
    assertThat(description.versions()).extracting(KeyEncryptionKey::version).containsExactly(1, 2);
  }

  @Test
  void aRotationMadeElsewhereIsUsedForWrapsWithinTheHardTtl() {
    KekStore store = store("memory");
    KeyManager node1 = keyManager(store);
    KeyManager node2 = keyManager(store);
    node1.admin().createKek("orders", CMK);
    node2.generateDek("orders", CONTEXT).close(); // node2 caches v1 as primary

    node1.admin().rotateKek("orders");
    clock.advance(KeyManagers.DEFAULT_HARD_TTL.plusSeconds(1));

    try (DataKey dek = node2.generateDek("orders", CONTEXT)) {
      assertThat(dek.wrappedKey().kek().version()).isEqualTo(2);
    }
  }

  @Test
  void rotatingAKekThatIsNotEnabledNamesItsState() {
    KeyManager keys = keyManager(store("memory"));
    keys.admin().createKek("orders", CMK);
    keys.admin().disableKek("orders");

    assertThatThrownBy(() -> keys.admin().rotateKek("orders"))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("orders")
        .hasMessageContaining("DISABLED")
        .satisfies(e -> assertThat(((KekStateException) e).state()).contains(KekState.DISABLED));
    assertThatThrownBy(() -> keys.admin().rotateKek("missing"))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("missing");
    assertThat(keys.admin().describeKekVersions("orders").orElseThrow().versions()).hasSize(1);
  }

  @Test
  void rotationNeedsWrapRights() {
    KekStore store = store("memory");
    keyManager(store).admin().createKek("orders", CMK);
    KeyManager readOnly =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(new UnwrapOnlyKms(kms))
            .discoverProviders(false)
            .build();
    toClose.add(readOnly);

    assertThatThrownBy(() -> readOnly.admin().rotateKek("orders"))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("can only unwrap");
  }

  /**
   * Many threads on two key managers (two nodes) sharing one store rotate one KEK at once: each
   * rotation creates its own version, the versions are 1..N+1 with no gap, and every DEK wrapped
   * under any of them still unwraps.
   */
  @ParameterizedTest
  @ValueSource(strings = {"memory", "file"})
  void concurrentRotationsNeverShareAVersionAndNoneIsLost(String kind) throws Exception {
    KekStore store = store(kind);
    KeyManager[] nodes = {keyManager(store), keyManager(store)};
    nodes[0].admin().createKek("orders", CMK);
    int threads = 8;
    int rotationsEach = 5;
    CyclicBarrier start = new CyclicBarrier(threads);
    Set<Integer> versions = ConcurrentHashMap.newKeySet();
    List<WrappedKey> wrapped = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<List<WrappedKey>>> results = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        KeyManager node = nodes[t % 2];
        results.add(
            pool.submit(
                () -> {
                  start.await();
                  List<WrappedKey> mine = new ArrayList<>();
                  for (int i = 0; i < rotationsEach; i++) {
                    assertThat(versions.add(node.admin().rotateKek("orders").version())).isTrue();
                    mine.add(node.wrapDek("orders", new byte[32], CONTEXT));
                  }
                  return mine;
                }));
      }
      for (Future<List<WrappedKey>> f : results) {
        wrapped.addAll(f.get(60, TimeUnit.SECONDS));
      }
    } finally {
      pool.shutdownNow();
    }

    assertThat(versions).hasSize(threads * rotationsEach);
    // A rotation whose head move lost to another's leaves its version record unnamed, and the
    // next rotation numbers past it: versions are distinct and rising, not necessarily dense.
    KekDescription described = nodes[0].admin().describeKekVersions("orders").orElseThrow();
    assertThat(described.primaryVersion()).isEqualTo(versions.stream().max(Integer::compare).get());
    assertThat(described.versions())
        .extracting(KeyEncryptionKey::version)
        .containsAll(versions)
        .isSorted();
    assertThat(described.versions())
        .allSatisfy(v -> assertThat(v.state()).isEqualTo(KekState.ENABLED));
    List<KeyEncryptionKey> stored = store.versions("orders");
    for (int v = 1; v <= stored.size(); v++) {
      assertThat(stored.get(v - 1).version()).isEqualTo(v);
      assertThat(stored.get(v - 1).revision()).isEqualTo(1);
    }
    KeyManager fresh = keyManager(store);
    for (WrappedKey w : wrapped) {
      try (DataKey back = fresh.unwrapDek(w, CONTEXT)) {
        assertThat(bytes(back)).isEqualTo(new byte[32]);
      }
    }
  }

  /**
   * A disable that lands between a rotation's read of the head and its create must not be lost: the
   * rotation's head move fails, it fails naming the state, and its version is never named.
   */
  @Test
  void aDisableRacingARotationIsNotLost() {
    KekStore inner = store("memory");
    KeyManager other = keyManager(inner);
    other.admin().createKek("orders", CMK);
    KekStore racing =
        new ForwardingKekStore(inner) {
          boolean fired;

          @Override
          public boolean create(KeyEncryptionKey record) {
            if (!fired && record.version() == 2) {
              fired = true;
              other.admin().disableKek("orders"); // lands after the rotation checked v1 was enabled
            }
            return super.create(record);
          }
        };
    KeyManager keys = keyManager(racing);

    assertThatThrownBy(() -> keys.admin().rotateKek("orders"))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("DISABLED");
    KekDescription described = other.admin().describeKekVersions("orders").orElseThrow();
    assertThat(described.versions())
        .extracting(KeyEncryptionKey::state)
        .containsExactly(KekState.DISABLED);
    assertThat(described.primaryVersion()).isEqualTo(1); // v2's record is never named
    assertThatThrownBy(() -> keys.generateDek("orders", CONTEXT))
        .isInstanceOf(KekStateException.class);
  }

  @Test
  void twoDestructionWindowBoundsAreCheckedAtBuild() {
    assertThatThrownBy(
            () ->
                KeyManagers.builder()
                    .kekStore(KekStores.inMemory())
                    .minimumDestructionWindow(Duration.ofDays(10))
                    .maximumDestructionWindow(Duration.ofDays(9))
                    .discoverProviders(false)
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("exceeds");
  }
}
