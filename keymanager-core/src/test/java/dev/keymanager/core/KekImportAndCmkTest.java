package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Import with unwrap rights only, and moving a KEK to another CMK. */
class KekImportAndCmkTest {
  private static final URI CMK = FakeKms.cmk("customer");
  private static final URI NEW_CMK = FakeKms.cmk("customer-2025");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final KekStore store = KekStores.inMemory();

  private KeyManager keyManager(dev.keymanager.spi.KmsProvider provider) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(provider)
        .discoverProviders(false)
        .clock(clock)
        .build();
  }

  private static byte[] bytes(DataKey dek) {
    return dek.use(byte[]::clone);
  }

  /** Every read path works through a provider that cannot wrap at all. */
  @Test
  void anImportedKekServesEveryReadPathWithUnwrapRightsOnly() {
    byte[] material = CustomerKms.wrapNewKek(kms, CMK, "byok", 1);
    kms.resetCounts();
    try (KeyManager keys = keyManager(new UnwrapOnlyKms(kms))) {
      KeyEncryptionKey imported = keys.admin().importKek(new KekRef("byok", 1), CMK, material);

      assertThat(imported.state()).isEqualTo(KekState.ENABLED);
      assertThat(imported.wrappedMaterial()).isEqualTo(material);
      assertThat(kms.unwrapCalls()).isEqualTo(1); // the verification
      WrappedKey wrapped;
      byte[] dek;
      try (DataKey generated = keys.generateDek("byok", CONTEXT)) {
        wrapped = generated.wrappedKey();
        dek = bytes(generated);
      }
      keys.wrapDek("byok", new byte[32], CONTEXT);
      keys.admin()
          .importKek(new KekRef("byok", 2), CMK, CustomerKms.wrapNewKek(kms, CMK, "byok", 2));
      WrappedKey rewrapped = keys.rewrapDek(wrapped, CONTEXT);
      assertThat(rewrapped.kek().version()).isEqualTo(2);
      assertThat(
              keys.rewrapDeks(
                      List.of(new RewrapRequest(wrapped, CONTEXT)).iterator(),
                      RewrapProgress.START,
                      (p, before, after) -> {})
                  .rewrapped())
          .isEqualTo(1);
      try (DataKey back = keys.unwrapDek(rewrapped, CONTEXT)) {
        assertThat(bytes(back)).isEqualTo(dek);
      }
    }
    try (KeyManager restarted = keyManager(new UnwrapOnlyKms(kms))) {
      assertThat(restarted.admin().describeKekVersions("byok").orElseThrow().primaryVersion())
          .isEqualTo(2);
      restarted.generateDek("byok", CONTEXT).close();
    }
  }

  @Test
  void importVerifiesTheMaterialBeforeStoringIt() {
    try (KeyManager keys = keyManager(new UnwrapOnlyKms(kms))) {
      byte[] forAnotherId = CustomerKms.wrapNewKek(kms, CMK, "other", 1);
      assertThatThrownBy(() -> keys.admin().importKek(new KekRef("byok", 1), CMK, forAnotherId))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("byok v1");
      byte[] forVersion2 = CustomerKms.wrapNewKek(kms, CMK, "byok", 2);
      assertThatThrownBy(() -> keys.admin().importKek(new KekRef("byok", 1), CMK, forVersion2))
          .isInstanceOf(InvalidCiphertextException.class);
      byte[] short16 =
          kms.wrapper(CMK).orElseThrow().wrap(new byte[16], CustomerKms.importContext("byok", 1));
      assertThatThrownBy(() -> keys.admin().importKek(new KekRef("byok", 1), CMK, short16))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("16 bytes");
      assertThat(store.kekIds("", 10_000).ids()).isEmpty();

      assertThatThrownBy(
              () ->
                  keys.admin()
                      .importKek(
                          new KekRef("byok", 2), CMK, CustomerKms.wrapNewKek(kms, CMK, "byok", 2)))
          .isInstanceOf(KekStateException.class)
          .hasMessageContaining("version 1");
      keys.admin()
          .importKek(new KekRef("byok", 1), CMK, CustomerKms.wrapNewKek(kms, CMK, "byok", 1));
      assertThatThrownBy(
              () ->
                  keys.admin()
                      .importKek(
                          new KekRef("byok", 1), CMK, CustomerKms.wrapNewKek(kms, CMK, "byok", 1)))
          .isInstanceOf(KekStateException.class)
          .hasMessageContaining("next imported version must be 2");
      assertThatThrownBy(() -> keys.admin().createKek("new", CMK))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("can only unwrap");
    }
  }

  @Test
  void changingTheCmkKeepsEveryDekValidAndTheOldCmkCanThenBeDisabled() {
    List<WrappedKey> wrapped = new ArrayList<>();
    List<byte[]> deks = new ArrayList<>();
    try (KeyManager keys = keyManager(kms)) {
      keys.admin().createKek("orders", CMK);
      for (int v = 1; v <= 3; v++) {
        try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
          wrapped.add(dek.wrappedKey());
          deks.add(bytes(dek));
        }
        if (v < 3) {
          keys.admin().rotateKek("orders");
        }
      }
      keys.admin().setMinimumDecryptionVersion("orders", 2); // retired versions move too

      KekDescription moved = keys.admin().changeCmk("orders", NEW_CMK);

      assertThat(moved.versions()).extracting(KeyEncryptionKey::cmkUri).containsOnly(NEW_CMK);
      assertThat(moved.minimumDecryptionVersion()).isEqualTo(2);
      KekDescription again = keys.admin().changeCmk("orders", NEW_CMK); // nothing left to move
      assertThat(again.versions())
          .extracting(KeyEncryptionKey::revision)
          .containsExactlyElementsOf(
              moved.versions().stream().map(KeyEncryptionKey::revision).toList());
      keys.admin().setMinimumDecryptionVersion("orders", 1);
    }
    kms.disable(CMK);
    kms.resetCounts();

    try (KeyManager restarted = keyManager(kms)) {
      for (int i = 0; i < wrapped.size(); i++) {
        try (DataKey back = restarted.unwrapDek(wrapped.get(i), CONTEXT)) {
          assertThat(bytes(back)).isEqualTo(deks.get(i));
        }
      }
      restarted.admin().rotateKek("orders");
      assertThat(restarted.admin().describeKek("orders").orElseThrow().cmkUri()).isEqualTo(NEW_CMK);
    }
    assertThat(kms.unwrapCalls()).isEqualTo(3);
  }

  @Test
  void aChangeOfCmkCutShortByTheKmsCanBeRunAgain() {
    try (KeyManager keys = keyManager(kms)) {
      keys.admin().createKek("orders", CMK);
      keys.admin().rotateKek("orders");
      WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
      kms.disable(NEW_CMK);

      assertThatThrownBy(() -> keys.admin().changeCmk("orders", NEW_CMK))
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasMessageContaining(NEW_CMK.toString());
      assertThat(store.versions("orders")).extracting(KeyEncryptionKey::cmkUri).containsOnly(CMK);

      kms.enable(NEW_CMK);
      keys.admin().changeCmk("orders", NEW_CMK);
      kms.disable(CMK);
      clock.advance(KeyManagers.DEFAULT_HARD_TTL.plusSeconds(1));
      keys.unwrapDek(wrapped, CONTEXT).close();
    }
  }

  @Test
  void theNewCmkMustGrantWrapRights() {
    try (KeyManager keys = keyManager(kms)) {
      keys.admin().createKek("orders", CMK);
    }
    try (KeyManager readOnly = keyManager(new UnwrapOnlyKms(kms))) {
      assertThatThrownBy(() -> readOnly.admin().changeCmk("orders", NEW_CMK))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("can only unwrap");
      assertThatThrownBy(() -> readOnly.admin().changeCmk("orders", URI.create("nope://x")))
          .isInstanceOf(KeyManagerConfigException.class);
    }
  }
}
