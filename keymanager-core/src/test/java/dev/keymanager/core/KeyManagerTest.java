package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class KeyManagerTest {
  private static final URI CMK = FakeKms.cmk("customer-1");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");
  private static final Duration TTL = Duration.ofMinutes(5);

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
        .hardTtl(TTL)
        .clock(clock)
        .build();
  }

  private static byte[] bytes(DataKey dek) {
    return dek.use(byte[]::clone);
  }

  @Test
  void generatedDekUnwrapsToTheSameBytes() {
    keys.admin().createKek("orders", CMK);
    try (DataKey dek = keys.generateDek("orders", CONTEXT);
        DataKey back = keys.unwrapDek(dek.wrappedKey(), CONTEXT)) {
      assertThat(dek.length()).isEqualTo(32);
      assertThat(bytes(back)).isEqualTo(bytes(dek));
      assertThat(dek.wrappedKey().kek().id()).isEqualTo("orders");
      assertThat(dek.wrappedKey().kek().version()).isEqualTo(1);
    }
  }

  @Test
  void callerSuppliedDekRoundTripsAndIsNotModified() {
    keys.admin().createKek("orders", CMK);
    for (int length : new int[] {16, 24, 32, 64}) {
      byte[] dek = new byte[length];
      Arrays.fill(dek, (byte) length);
      byte[] copy = dek.clone();

      WrappedKey wrapped = keys.wrapDek("orders", dek, CONTEXT);

      assertThat(dek).isEqualTo(copy);
      try (DataKey back = keys.unwrapDek(WrappedKey.decode(wrapped.encode()), CONTEXT)) {
        assertThat(bytes(back)).isEqualTo(copy);
      }
    }
    assertThatThrownBy(() -> keys.wrapDek("orders", new byte[15], CONTEXT))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> keys.wrapDek("orders", new byte[65], CONTEXT))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void twoWrapsOfOneDekDiffer() {
    keys.admin().createKek("orders", CMK);
    byte[] dek = new byte[32];

    assertThat(keys.wrapDek("orders", dek, CONTEXT).encode())
        .isNotEqualTo(keys.wrapDek("orders", dek, CONTEXT).encode());
  }

  @Test
  void buildingMakesNoKmsCallAndCreationCachesTheKek() {
    assertThat(kms.calls()).isZero();

    keys.admin().createKek("orders", CMK);
    try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
      keys.unwrapDek(dek.wrappedKey(), CONTEXT).close();
    }

    assertThat(kms.wrapCalls()).isEqualTo(1);
    assertThat(kms.unwrapCalls()).isZero();
  }

  @Test
  void aRestartedKeyManagerUnwrapsWithOneKmsCall() {
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped;
    byte[] original;
    try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
      wrapped = dek.wrappedKey();
      original = bytes(dek);
    }
    keys.close();
    keys = newKeyManager();

    for (int i = 0; i < 100; i++) {
      try (DataKey back = keys.unwrapDek(wrapped, CONTEXT)) {
        assertThat(bytes(back)).isEqualTo(original);
      }
    }
    assertThat(kms.unwrapCalls()).isEqualTo(1);
    assertThat(keys.stats().loads()).isEqualTo(1);
    assertThat(keys.stats().hits()).isEqualTo(99);
  }

  @Test
  void aWrongContextNeverUnwraps() {
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();

    for (KeyContext other :
        new KeyContext[] {
          KeyContext.empty(), KeyContext.of("table", "Orders"), KeyContext.of("tablE", "orders")
        }) {
      assertThatThrownBy(() -> keys.unwrapDek(wrapped, other))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("orders v1")
          .hasMessageContaining("context");
    }
  }

  @Test
  void everyFlippedBitIsDetected() {
    keys.admin().createKek("orders", CMK);
    keys.admin().createKek("other", CMK);
    byte[] encoded = keys.generateDek("orders", CONTEXT).wrappedKey().encode();

    for (int i = 0; i < encoded.length; i++) {
      for (int bit = 0; bit < 8; bit++) {
        byte[] tampered = encoded.clone();
        tampered[i] ^= (byte) (1 << bit);
        assertThatThrownBy(() -> keys.unwrapDek(WrappedKey.decode(tampered), CONTEXT))
            .as("byte %d bit %d", i, bit)
            .isInstanceOfAny(InvalidCiphertextException.class, KekStateException.class);
      }
    }
  }

  @Test
  void aHeaderPointedAtAnotherKekFailsAuthentication() {
    keys.admin().createKek("aaaaa", CMK);
    keys.admin().createKek("bbbbb", CMK);
    byte[] encoded = keys.generateDek("aaaaa", CONTEXT).wrappedKey().encode();
    byte[] moved =
        new String(encoded, java.nio.charset.StandardCharsets.ISO_8859_1)
            .replace("aaaaa", "bbbbb")
            .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);

    assertThat(WrappedKey.decode(moved).kek().id()).isEqualTo("bbbbb");
    assertThatThrownBy(() -> keys.unwrapDek(WrappedKey.decode(moved), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class);
  }

  @Test
  void anUnknownKekIsAStateErrorToGenerateAndTamperEvidenceToUnwrap() {
    assertThatThrownBy(() -> keys.generateDek("missing", CONTEXT))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("missing");

    keys.admin().createKek("orders", CMK);
    byte[] encoded = keys.generateDek("orders", CONTEXT).wrappedKey().encode();
    KeyManager elsewhere =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(kms)
            .discoverProviders(false)
            .build();
    try (elsewhere) {
      assertThatThrownBy(() -> elsewhere.unwrapDek(WrappedKey.decode(encoded), CONTEXT))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("names a KEK this store does not have (KEK orders v1)")
          .hasCauseInstanceOf(KekStateException.class);
    }
    byte[] laterVersion = encoded.clone();
    WrappedKey original = WrappedKey.decode(encoded);
    // the version field is the 4 bytes before the parameters (format: ... id, version, params)
    laterVersion[ApiBridge.wrappedKeys().parametersOffset(original) - 1] = 9;
    assertThatThrownBy(() -> keys.unwrapDek(WrappedKey.decode(laterVersion), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("names a KEK version this store does not have (KEK orders v9)");
  }

  @Test
  void creatingAnExistingKekFails() {
    keys.admin().createKek("orders", CMK);

    assertThatThrownBy(() -> keys.admin().createKek("orders", CMK))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("orders")
        .hasMessageContaining("exists");
  }

  @Test
  void aDisabledKekInTheStoreCannotBeLoaded() {
    KeyEncryptionKey created = keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    // What another node's disable writes: the KEK's head.
    dev.keymanager.spi.KekHead head = store.head("orders").orElseThrow();
    store.compareAndSetHead(
        head.revision(),
        head.toBuilder().state(KekState.DISABLED).revision(head.revision() + 1).build());
    keys.close();
    keys = newKeyManager();

    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("orders v1")
        .hasMessageContaining("DISABLED");
  }

  @Test
  void pastTheHardTtlTheKmsIsAskedAgainAndARevokedCmkStopsAccess() {
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    kms.disable(CMK);

    clock.advance(TTL.minusSeconds(1));
    keys.unwrapDek(wrapped, CONTEXT).close(); // still cached: within the bound
    clock.advance(Duration.ofSeconds(2));

    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(CMK.toString());
    assertThat(keys.stats().denials()).isEqualTo(1);
  }

  @Test
  void aTransientKmsFailureIsRetryableAndRecovers() {
    keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
    clock.advance(TTL.plusSeconds(1));
    kms.failNextCalls(1);

    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KmsUnavailableException.class)
        .satisfies(e -> assertThat(((KmsUnavailableException) e).isRetryable()).isTrue());
    keys.unwrapDek(wrapped, CONTEXT).close();
    assertThat(keys.stats().transientFailures()).isEqualTo(1);
  }

  @Test
  void describeAndListShowMetadataOnly() {
    KeyEncryptionKey created = keys.admin().createKek("orders", CMK);
    keys.admin().createKek("audit", CMK);

    assertThat(keys.admin().listKeks()).containsExactly("audit", "orders");
    assertThat(keys.admin().describeKek("orders")).contains(created);
    assertThat(keys.admin().describeKek("nope")).isEmpty();
    assertThat(created.cmkUri()).isEqualTo(CMK);
    assertThat(created.wrappedMaterial()).isNotEmpty();
  }

  @Test
  void unknownSchemesAreConfigurationErrorsNamingWhatWasFound() {
    assertThatThrownBy(
            () -> keys.admin().createKek("orders", URI.create("aws-kms://arn:aws:kms:x")))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("aws-kms")
        .hasMessageContaining("[fake-kms]");
    assertThatThrownBy(() -> keys.admin().createKek("orders", URI.create("no-scheme")))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("no scheme");
  }

  @Test
  void closeOverwritesCachedKeksAndRejectsFurtherUse() {
    keys.admin().createKek("orders", CMK);
    keys.generateDek("orders", CONTEXT).close();
    keys.close();

    assertThatThrownBy(() -> keys.generateDek("orders", CONTEXT))
        .isInstanceOf(IllegalStateException.class);
    keys.close(); // idempotent
  }

  @Test
  void wrappedKeysCarryNoPlaintext() {
    keys.admin().createKek("orders", CMK);
    try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
      String hex = HexFormat.of().formatHex(dek.wrappedKey().encode());
      assertThat(hex).doesNotContain(HexFormat.of().formatHex(bytes(dek)));
    }
  }
}
