package dev.keymanager.kms.gcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState;
import dev.keymanager.DataKey;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A whole key manager (core's public builder, test scope only) on this provider and the real client
 * over 127.0.0.1: create a KEK under a Cloud KMS key, wrap and unwrap DEKs, restart, then revoke
 * the key in Cloud KMS and watch access stop once the hard TTL has passed. Time moves only when the
 * test advances the clock.
 */
class KeyManagerFlowTest {
  private static final Duration HARD_TTL = Duration.ofMinutes(5);
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  private final FakeCloudKms kms = FakeCloudKms.onLoopback();
  private final URI cmk = kms.createKey("flow", "ring", "tenants");
  private final GcpKmsProvider provider = kms.providerBuilder().build();
  private final KekStore store = KekStores.inMemory();
  private final AtomicReference<Instant> now =
      new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));
  private final InstantSource clock = now::get;

  @AfterEach
  void stop() {
    provider.close();
    kms.close();
  }

  private KeyManager keyManager() {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(provider)
        .discoverProviders(false)
        .hardTtl(HARD_TTL)
        .clock(clock)
        .build();
  }

  @Test
  void revokedCloudKmsKeyStopsAccessOnceTheHardTtlHasPassed() {
    try (KeyManager keys = keyManager()) {
      KeyEncryptionKey kek = keys.admin().createKek("tenant-42", cmk);
      assertThat(kek.cmkUri()).isEqualTo(cmk);
      assertThat(kms.encryptCalls()).isEqualTo(1);

      WrappedKey wrapped;
      byte[] dekBytes;
      try (DataKey dek = keys.generateDek("tenant-42", CONTEXT)) {
        wrapped = dek.wrappedKey();
        dekBytes = dek.use(byte[]::clone);
      }
      try (DataKey again = keys.unwrapDek(wrapped, CONTEXT)) {
        assertThat(again.use(byte[]::clone)).isEqualTo(dekBytes);
      }
      assertThat(kms.decryptCalls()).as("DEK work under a cached KEK is local").isZero();

      kms.setState(cmk, 1, CryptoKeyVersionState.DISABLED);
      now.set(now.get().plus(HARD_TTL.minusSeconds(1)));

      try (DataKey cached = keys.unwrapDek(wrapped, CONTEXT)) {
        assertThat(cached.use(byte[]::clone))
            .as("within the hard TTL the cached KEK still serves")
            .isEqualTo(dekBytes);
      }

      now.set(now.get().plus(Duration.ofSeconds(2)));

      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasMessageContaining(cmk.toString());
      assertThatThrownBy(() -> keys.generateDek("tenant-42", CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class);
      assertThat(kms.decryptCalls()).as("past the TTL the KMS was asked").isPositive();
    }
  }

  @Test
  void anotherKeyManagerOverTheSameStoreUnwrapsTheKekThroughCloudKms() {
    WrappedKey wrapped;
    byte[] dekBytes;
    try (KeyManager first = keyManager()) {
      first.admin().createKek("tenant-7", cmk);
      try (DataKey dek = first.generateDek("tenant-7", CONTEXT)) {
        wrapped = dek.wrappedKey();
        dekBytes = dek.use(byte[]::clone);
      }
    }

    try (KeyManager restarted = keyManager()) {
      for (int i = 0; i < 3; i++) {
        try (DataKey dek = restarted.unwrapDek(wrapped, CONTEXT)) {
          assertThat(dek.use(byte[]::clone)).isEqualTo(dekBytes);
        }
      }
    }
    assertThat(kms.decryptCalls()).as("one KMS unwrap, then the cache").isEqualTo(1);
  }
}
