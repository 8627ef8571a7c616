package dev.keymanager.kms.aws;

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
import dev.keymanager.kms.aws.FakeAwsKms.KeyState;
import dev.keymanager.spi.KekStore;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A real {@link KeyManager} (keymanager-core, test scope only) on this provider and {@link
 * FakeAwsKms}: KEK creation through {@code Encrypt}, DEKs wrapped and unwrapped locally, one {@code
 * Decrypt} per KEK after a restart, and revocation in KMS stopping access once the hard TTL has
 * passed on a hand-advanced clock.
 */
class AwsKmsKeyManagerTest {
  private static final FakeAwsKms KMS = FakeAwsKms.start();
  private static final Duration HARD_TTL = Duration.ofMinutes(5);
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  private final ManualClock clock = new ManualClock();
  private final KekStore store = KekStores.inMemory();
  private final AwsKmsProvider provider = KMS.providerBuilder(3).build();

  @AfterEach
  void closeProvider() {
    provider.close();
    KMS.reset();
  }

  @AfterAll
  static void stopEndpoint() {
    KMS.close();
  }

  /** The ways a customer cuts off a CMK in AWS KMS. */
  enum Revocation {
    DISABLE_KEY,
    SCHEDULE_KEY_DELETION,
    WITHDRAW_ACCESS;

    void apply(FakeAwsKms kms, String key) {
      switch (this) {
        case DISABLE_KEY -> kms.setState(key, KeyState.DISABLED);
        case SCHEDULE_KEY_DELETION -> kms.setState(key, KeyState.PENDING_DELETION);
        case WITHDRAW_ACCESS -> kms.denyAccess(key, true);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Revocation.class)
  void revokingTheCmkInKmsStopsAccessOnceTheHardTtlHasPassed(Revocation revocation) {
    String key = KMS.createKey();
    URI cmk = FakeAwsKms.cmk(key);
    try (KeyManager keys = keyManager()) {
      keys.admin().createKek("tenant-7", cmk);
      WrappedKey wrapped;
      byte[] dekBytes;
      try (DataKey dek = keys.generateDek("tenant-7", CONTEXT)) {
        wrapped = dek.wrappedKey();
        dekBytes = dek.use(byte[]::clone);
      }
      try (DataKey back = keys.unwrapDek(wrapped, CONTEXT)) {
        assertThat(back.use(byte[]::clone)).isEqualTo(dekBytes);
      }

      revocation.apply(KMS, key);
      clock.advance(HARD_TTL.plusSeconds(1));

      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasMessageContaining(cmk.toString());
      assertThatThrownBy(() -> keys.generateDek("tenant-7", CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class);
      assertThat(KMS.requests("TrentService.Decrypt"))
          .as("the KMS was asked again, pinned to the CMK")
          .isNotEmpty()
          .allSatisfy(r -> assertThat(r.keyId()).contains(FakeAwsKms.keyArn(key)));
    }
  }

  @Test
  void createKekWrapsThroughEncryptWithTheKekIdAndVersionAsEncryptionContext() {
    String key = KMS.createKey();
    try (KeyManager keys = keyManager()) {
      keys.admin().createKek("tenant-1", FakeAwsKms.cmk(key));

      assertThat(KMS.requests()).hasSize(1);
      FakeAwsKms.Request encrypt = KMS.requests().get(0);
      assertThat(encrypt.target()).isEqualTo("TrentService.Encrypt");
      assertThat(encrypt.keyId()).contains(FakeAwsKms.keyArn(key));
      assertThat(encrypt.encryptionContext())
          .isEqualTo(Map.of("keymanager:kek-id", "tenant-1", "keymanager:kek-version", "1"));
      assertThat(encrypt.header("Authorization"))
          .hasValueSatisfying(a -> assertThat(a).startsWith("AWS4-HMAC-SHA256 Credential="));
    }
  }

  @Test
  void aRestartedKeyManagerUnwrapsTheKekWithOneDecryptAndTheDeksLocally() {
    String key = KMS.createKey();
    WrappedKey[] wrapped = new WrappedKey[10];
    byte[][] dekBytes = new byte[10][];
    try (KeyManager keys = keyManager()) {
      keys.admin().createKek("tenant-2", FakeAwsKms.cmk(key));
      for (int i = 0; i < wrapped.length; i++) {
        try (DataKey dek = keys.generateDek("tenant-2", CONTEXT)) {
          wrapped[i] = dek.wrappedKey();
          dekBytes[i] = dek.use(byte[]::clone);
        }
      }
    }
    KMS.clearRequests();

    try (KeyManager restarted = keyManager()) {
      for (int i = 0; i < wrapped.length; i++) {
        try (DataKey dek = restarted.unwrapDek(wrapped[i], CONTEXT)) {
          assertThat(dek.use(byte[]::clone)).isEqualTo(dekBytes[i]);
        }
      }
    }

    assertThat(KMS.requests()).hasSize(1);
    FakeAwsKms.Request decrypt = KMS.requests().get(0);
    assertThat(decrypt.target()).isEqualTo("TrentService.Decrypt");
    assertThat(decrypt.keyId()).contains(FakeAwsKms.keyArn(key));
    assertThat(decrypt.encryptionContext())
        .isEqualTo(Map.of("keymanager:kek-id", "tenant-2", "keymanager:kek-version", "1"));
  }

  @Test
  void aKmsOutagePastTheTtlIsRetryableAndAccessResumesWhenKmsAnswers() {
    String key = KMS.createKey();
    try (KeyManager keys = keyManager()) {
      keys.admin().createKek("tenant-3", FakeAwsKms.cmk(key));
      WrappedKey wrapped;
      try (DataKey dek = keys.generateDek("tenant-3", CONTEXT)) {
        wrapped = dek.wrappedKey();
      }
      clock.advance(HARD_TTL.plusSeconds(1));
      KMS.failNext(3, 500, "KMSInternalException");

      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KmsUnavailableException.class)
          .satisfies(e -> assertThat(((KmsUnavailableException) e).isRetryable()).isTrue());

      try (DataKey dek = keys.unwrapDek(wrapped, CONTEXT)) {
        assertThat(dek.length()).isEqualTo(32);
      }
    }
  }

  @Test
  void theKeyManagerBuilderDiscoversTheProviderOnTheClassPath() {
    // Built, not called: the discovered provider has the defaults (real AWS, default credentials).
    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .discoverProviders(true)
            .allowedSchemes(Set.of(AwsKmsProvider.SCHEME))
            .build()) {
      assertThat(keys.admin().listKeks()).isEmpty();
    }
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

  /** A clock the test advances by hand, so no test sleeps through a TTL. */
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
