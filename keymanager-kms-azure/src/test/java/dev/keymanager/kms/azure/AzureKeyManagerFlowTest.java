package dev.keymanager.kms.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A whole key manager (core's public builder, test scope only) on an Azure Key Vault CMK served by
 * the fake over HTTPS: create a KEK, wrap and unwrap DEKs, restart, then revoke the key on the
 * server and watch access stop once the hard TTL has passed on a hand-advanced clock.
 */
class AzureKeyManagerFlowTest {
  private static final Duration TTL = Duration.ofMinutes(5);
  private static final URI CMK = URI.create("azure-kv://contoso.vault.azure.net/keys/tenant-kek");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  private final FakeKeyVault kv = new FakeKeyVault();
  private final AzureKeyVaultKmsProvider provider = TestProviders.builder(kv).build();
  private final KekStore store = KekStores.inMemory();
  private final ManualClock clock = new ManualClock();

  @BeforeEach
  void createKey() {
    kv.addRsaVersion("tenant-kek");
  }

  @AfterEach
  void stop() {
    provider.close();
    kv.close();
  }

  private KeyManager newKeyManager() {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(provider)
        .allowedSchemes(Set.of("azure-kv"))
        .hardTtl(TTL)
        .clock(clock)
        .build();
  }

  @Test
  void dekRoundTripNeedsKeyVaultOnlyToCreateAndToLoadAfterRestart() {
    WrappedKey wrapped;
    try (KeyManager keys = newKeyManager()) {
      keys.admin().createKek("tenant-42", CMK);
      assertThat(kv.requests("POST", "/wrapkey")).hasSize(1);
      byte[] original;
      try (DataKey dek = keys.generateDek("tenant-42", CONTEXT)) {
        wrapped = dek.wrappedKey();
        original = dek.use(byte[]::clone);
      }
      try (DataKey again = keys.unwrapDek(wrapped, CONTEXT)) {
        assertThat(again.use(byte[]::clone)).isEqualTo(original);
      }
      assertThat(kv.requests("POST", "/unwrapkey")).as("served from the cache").isEmpty();
    }

    try (KeyManager restarted = newKeyManager()) {
      for (int i = 0; i < 3; i++) {
        restarted.unwrapDek(wrapped, CONTEXT).close();
      }
      assertThat(kv.requests("POST", "/unwrapkey")).as("one load, then cached").hasSize(1);
    }
  }

  @Test
  void disabledKeyStopsAccessOnceTheHardTtlHasPassed() {
    try (KeyManager keys = newKeyManager()) {
      keys.admin().createKek("tenant-42", CMK);
      WrappedKey wrapped = keys.generateDek("tenant-42", CONTEXT).wrappedKey();

      kv.setEnabled("tenant-kek", false);
      clock.advance(TTL.dividedBy(2));
      keys.unwrapDek(wrapped, CONTEXT).close(); // within the bound: the cached KEK serves
      clock.advance(TTL);

      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasMessageContaining(CMK.toString());
      assertThatThrownBy(() -> keys.admin().createKek("tenant-43", CMK))
          .isInstanceOf(KeyAccessDeniedException.class);

      kv.setEnabled("tenant-kek", true);
      clock.advance(Duration.ofMinutes(1)); // past any short negative cache of the denial
      keys.unwrapDek(wrapped, CONTEXT).close();
    }
  }

  @Test
  void keyVaultOutagePastTheTtlIsRetryableAndRecovers() {
    try (KeyManager keys = newKeyManager()) {
      keys.admin().createKek("tenant-42", CMK);
      WrappedKey wrapped = keys.generateDek("tenant-42", CONTEXT).wrappedKey();
      clock.advance(TTL.plusSeconds(1));
      kv.failNext(TestProviders.ATTEMPTS, 503, "ServiceUnavailable", Map.of());

      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KmsUnavailableException.class);
      keys.unwrapDek(wrapped, CONTEXT).close();
    }
  }

  @Test
  void aDekBoundToOneContextDoesNotUnwrapUnderAnother() {
    try (KeyManager keys = newKeyManager()) {
      keys.admin().createKek("tenant-42", CMK);
      WrappedKey wrapped = keys.generateDek("tenant-42", CONTEXT).wrappedKey();

      assertThatThrownBy(() -> keys.unwrapDek(wrapped, KeyContext.of("table", "payments")))
          .isInstanceOf(dev.keymanager.InvalidCiphertextException.class);
    }
  }

  /** A clock the test advances by hand. */
  private static final class ManualClock implements InstantSource {
    private final AtomicReference<Instant> now =
        new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));

    @Override
    public Instant instant() {
      return now.get();
    }

    void advance(Duration d) {
      now.updateAndGet(t -> t.plus(d));
    }
  }
}
