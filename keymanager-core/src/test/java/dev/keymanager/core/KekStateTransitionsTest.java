package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.keymanager.DataKey;
import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Disable, enable, scheduled destruction, destruction and the minimum decryption version. */
class KekStateTransitionsTest {
  private static final URI CMK = FakeKms.cmk("transitions");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");
  private static final Duration WEEK = Duration.ofDays(7);

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final KekStore store = KekStores.inMemory();
  private KeyManager keys;

  @BeforeEach
  void setUp() {
    keys = newKeyManager();
  }

  @AfterEach
  void tearDown() {
    keys.close();
  }

  private KeyManager newKeyManager() {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .clock(clock)
        .build();
  }

  private static byte[] bytes(DataKey dek) {
    return dek.use(byte[]::clone);
  }

  private KekState state(String id) {
    return keys.admin().describeKekVersions(id).orElseThrow().state();
  }

  @Test
  void aDisabledKekNeitherWrapsNorUnwrapsUntilEnabledAgain() {
    keys.admin().createKek("orders", CMK);
    keys.admin().rotateKek("orders");
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    byte[] dek = bytes(keys.unwrapDek(wrapped, CONTEXT));

    KekDescription disabled = keys.admin().disableKek("orders");

    assertThat(disabled.versions())
        .extracting(KeyEncryptionKey::state)
        .containsOnly(KekState.DISABLED);
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT)) // cached, yet refused at once
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("orders v2")
        .hasMessageContaining("DISABLED");
    assertThatThrownBy(() -> keys.generateDek("orders", CONTEXT))
        .isInstanceOf(KekStateException.class);
    assertThat(keys.admin().disableKek("orders").state())
        .isEqualTo(KekState.DISABLED); // idempotent

    keys.admin().enableKek("orders");
    try (DataKey back = keys.unwrapDek(wrapped, CONTEXT)) {
      assertThat(bytes(back)).isEqualTo(dek);
    }
    assertThat(keys.admin().enableKek("orders").state()).isEqualTo(KekState.ENABLED); // idempotent
  }

  /** Every operation from every KEK state: allowed as the javadoc table says, else refused. */
  @Test
  void illegalTransitionsNameTheCurrentState() {
    Map<KekState, Consumer<String>> reach = new EnumMap<>(KekState.class);
    reach.put(KekState.ENABLED, id -> {});
    reach.put(KekState.DISABLED, keys.admin()::disableKek);
    reach.put(KekState.PENDING_DESTRUCTION, id -> keys.admin().scheduleKekDestruction(id, WEEK));
    reach.put(
        KekState.DESTROYED,
        id -> {
          keys.admin().scheduleKekDestruction(id, WEEK);
          clock.advance(WEEK);
          keys.admin().destroyKek(id);
        });
    Map<String, Consumer<String>> operations = new java.util.LinkedHashMap<>();
    operations.put("rotate", keys.admin()::rotateKek);
    operations.put("disable", keys.admin()::disableKek);
    operations.put("enable", keys.admin()::enableKek);
    operations.put("schedule", id -> keys.admin().scheduleKekDestruction(id, WEEK));
    operations.put("cancel", keys.admin()::cancelKekDestruction);
    operations.put("minimum", id -> keys.admin().setMinimumDecryptionVersion(id, 1));
    operations.put("changeCmk", id -> keys.admin().changeCmk(id, FakeKms.cmk("other")));
    operations.put(
        "import",
        id ->
            keys.admin()
                .importKek(new KekRef(id, 2), CMK, CustomerKms.wrapNewKek(kms, CMK, id, 2)));
    Map<KekState, Set<String>> allowed =
        Map.of(
            KekState.ENABLED,
                Set.of("rotate", "disable", "enable", "schedule", "minimum", "changeCmk", "import"),
            KekState.DISABLED, Set.of("disable", "enable", "schedule", "minimum", "changeCmk"),
            KekState.PENDING_DESTRUCTION, Set.of("cancel"),
            KekState.DESTROYED, Set.of());
    List<String> checked = new ArrayList<>();
    int n = 0;
    for (KekState from : reach.keySet()) {
      for (Map.Entry<String, Consumer<String>> op : operations.entrySet()) {
        String id = "kek-" + n++;
        keys.admin().createKek(id, CMK);
        reach.get(from).accept(id);
        assertThat(state(id)).isEqualTo(from);
        Throwable thrown = catchThrowable(() -> op.getValue().accept(id));
        if (allowed.get(from).contains(op.getKey())) {
          assertThat(thrown).as("%s from %s", op.getKey(), from).isNull();
        } else {
          assertThat(thrown)
              .as("%s from %s", op.getKey(), from)
              .isInstanceOf(KekStateException.class)
              .hasMessageContaining(id)
              .hasMessageContaining(from.name());
          assertThat(((KekStateException) thrown).state()).contains(from);
          assertThat(state(id))
              .as("%s from %s leaves the state", op.getKey(), from)
              .isEqualTo(from);
        }
        checked.add(from + "/" + op.getKey());
      }
    }
    assertThat(checked).hasSize(4 * operations.size());
  }

  @Test
  void destructionWaitsForItsWindowAndCanBeCancelled() {
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();

    KekDescription pending = keys.admin().scheduleKekDestruction("orders", Duration.ofDays(10));

    assertThat(pending.state()).isEqualTo(KekState.PENDING_DESTRUCTION);
    assertThat(pending.destroyAt()).contains(clock.instant().plus(Duration.ofDays(10)));
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("PENDING_DESTRUCTION");
    clock.advance(Duration.ofDays(9));
    assertThatThrownBy(() -> keys.admin().destroyKek("orders"))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("PENDING_DESTRUCTION until");
    assertThat(keys.admin().destroyDueKeks()).isEmpty();

    assertThat(keys.admin().cancelKekDestruction("orders").state()).isEqualTo(KekState.DISABLED);
    assertThat(keys.admin().describeKek("orders").orElseThrow().destroyAt()).isEmpty();
    keys.admin().enableKek("orders");
    keys.unwrapDek(wrapped, CONTEXT).close(); // nothing was lost
  }

  @Test
  void theWindowMustLieWithinTheConfiguredBounds() {
    keys.admin().createKek("orders", CMK);

    for (Duration bad : List.of(Duration.ofDays(6), Duration.ofDays(31), Duration.ZERO)) {
      assertThatThrownBy(() -> keys.admin().scheduleKekDestruction("orders", bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("PT168H")
          .hasMessageContaining("PT720H");
    }
    assertThat(state("orders")).isEqualTo(KekState.ENABLED);

    try (KeyManager immediate =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .minimumDestructionWindow(Duration.ZERO)
            .maximumDestructionWindow(Duration.ofDays(365))
            .build()) {
      immediate.admin().scheduleKekDestruction("orders", Duration.ZERO);
      assertThat(immediate.admin().destroyKek("orders").state()).isEqualTo(KekState.DESTROYED);
    }
  }

  /**
   * Crypto-shredding: once destroyed, every DEK under every version fails with a state exception
   * naming the KEK, here and in a fresh key manager, although the CMK is fully usable.
   */
  @Test
  void destroyingAKekMakesEveryDekUnderItUnrecoverable() {
    keys.admin().createKek("orders", CMK);
    List<WrappedKey> wrapped = new ArrayList<>();
    for (int v = 0; v < 3; v++) {
      for (int i = 0; i < 5; i++) {
        wrapped.add(keys.generateDek("orders", CONTEXT).wrappedKey());
      }
      if (v < 2) {
        keys.admin().rotateKek("orders");
      }
    }
    keys.admin().setMinimumDecryptionVersion("orders", 2); // a retired version is shredded too
    keys.admin().scheduleKekDestruction("orders", WEEK);
    clock.advance(WEEK);

    assertThat(keys.admin().destroyDueKeks()).containsExactly("orders");

    assertThat(store.versions("orders"))
        .allSatisfy(
            v -> {
              assertThat(v.state()).isEqualTo(KekState.DESTROYED);
              assertThat(v.wrappedMaterial()).isEmpty();
            });
    try (KeyManager fresh = newKeyManager()) {
      for (KeyManager k : List.of(keys, fresh)) {
        for (WrappedKey w : wrapped) {
          assertThatThrownBy(() -> k.unwrapDek(w, CONTEXT))
              .isInstanceOf(KekStateException.class)
              .hasMessageContaining("orders v" + w.kek().version())
              .hasMessageContaining("DESTROYED");
        }
      }
    }
    assertThat(keys.admin().destroyKek("orders").state())
        .isEqualTo(KekState.DESTROYED); // idempotent
    assertThatThrownBy(() -> keys.admin().enableKek("orders"))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("DESTROYED");
  }

  @Test
  void theMinimumDecryptionVersionRetiresOlderVersionsUntilLowered() {
    keys.admin().createKek("orders", CMK);
    List<WrappedKey> wrapped = new ArrayList<>();
    for (int v = 1; v <= 3; v++) {
      wrapped.add(keys.generateDek("orders", CONTEXT).wrappedKey());
      if (v < 3) {
        keys.admin().rotateKek("orders");
      }
    }

    KekDescription raised = keys.admin().setMinimumDecryptionVersion("orders", 3);

    assertThat(raised.minimumDecryptionVersion()).isEqualTo(3);
    assertThat(raised.versions())
        .extracting(KeyEncryptionKey::state)
        .containsExactly(KekState.RETIRED, KekState.RETIRED, KekState.ENABLED);
    for (WrappedKey old : wrapped.subList(0, 2)) {
      assertThatThrownBy(() -> keys.unwrapDek(old, CONTEXT)) // cached copies dropped at once
          .isInstanceOf(KekStateException.class)
          .hasMessageContaining("RETIRED");
    }
    keys.unwrapDek(wrapped.get(2), CONTEXT).close();

    // Retired versions stay retired through a disable and an enable.
    keys.admin().disableKek("orders");
    keys.admin().enableKek("orders");
    assertThat(keys.admin().describeKekVersions("orders").orElseThrow().minimumDecryptionVersion())
        .isEqualTo(3);

    KekDescription lowered = keys.admin().setMinimumDecryptionVersion("orders", 2);
    assertThat(lowered.minimumDecryptionVersion()).isEqualTo(2);
    keys.unwrapDek(wrapped.get(1), CONTEXT).close();
    assertThatThrownBy(() -> keys.unwrapDek(wrapped.get(0), CONTEXT))
        .isInstanceOf(KekStateException.class);
    assertThat(keys.admin().setMinimumDecryptionVersion("orders", 1).minimumDecryptionVersion())
        .isEqualTo(1);
    keys.unwrapDek(wrapped.get(0), CONTEXT).close();

    assertThatThrownBy(() -> keys.admin().setMinimumDecryptionVersion("orders", 4))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("primary version 3");
    assertThatThrownBy(() -> keys.admin().setMinimumDecryptionVersion("orders", 0))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void retiredVersionsOfADisabledKekComeBackDisabled() {
    keys.admin().createKek("orders", CMK);
    keys.admin().rotateKek("orders");
    keys.admin().setMinimumDecryptionVersion("orders", 2);
    keys.admin().disableKek("orders");

    KekDescription d = keys.admin().setMinimumDecryptionVersion("orders", 1);

    assertThat(d.versions())
        .extracting(KeyEncryptionKey::state)
        .containsExactly(KekState.DISABLED, KekState.DISABLED);
  }

  /** A state change made by another process is seen here within the hard TTL at the latest. */
  @Test
  void aDisableMadeElsewhereTakesEffectWithinTheHardTtl() {
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    try (KeyManager other = newKeyManager()) {
      other.admin().disableKek("orders");
    }
    keys.unwrapDek(wrapped, CONTEXT).close(); // still cached here

    clock.advance(KeyManagers.DEFAULT_HARD_TTL.plusSeconds(1));

    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("DISABLED");
  }

  /**
   * A disable whose one head write fails (here: the store reports "may have been applied" without
   * applying it) leaves the KEK enabled; running it again disables every version.
   */
  @Test
  void aStateChangeCutShortCompletesWhenRunAgain() {
    keys.admin().createKek("orders", CMK);
    keys.admin().rotateKek("orders");
    keys.admin().rotateKek("orders");
    KekStore flaky =
        new ForwardingKekStore(store) {
          @Override
          public boolean compareAndSetHead(long expectedRevision, dev.keymanager.spi.KekHead next) {
            throw dev.keymanager.KekStoreException.mayHaveBeenApplied("disk unplugged", null);
          }
        };
    try (KeyManager interrupted =
        KeyManagers.builder()
            .kekStore(flaky)
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .build()) {
      assertThatThrownBy(() -> interrupted.admin().disableKek("orders"))
          .isInstanceOf(dev.keymanager.KekStoreException.class)
          .satisfies(
              e ->
                  assertThat(((dev.keymanager.KekStoreException) e).writeMayHaveBeenApplied())
                      .isTrue());
    }
    assertThat(state("orders")).isEqualTo(KekState.ENABLED); // one write decides: none landed

    assertThat(keys.admin().disableKek("orders").versions())
        .extracting(KeyEncryptionKey::state)
        .containsExactly(KekState.DISABLED, KekState.DISABLED, KekState.DISABLED);
    assertThat(state("orders")).isEqualTo(KekState.DISABLED);
  }
}
