package dev.keymanager.kms.pkcs11;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real {@link KeyManager} (keymanager-core, test scope only) over the file KEK store, with CMKs
 * on a SoftHSM 2 token: the token is asked once per KEK, never per DEK, and deleting the key object
 * stops access once the hard TTL has passed on a hand-advanced clock.
 */
class Pkcs11KeyManagerTest {
  private static final Duration HARD_TTL = Duration.ofMinutes(5);
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  @TempDir Path dir;
  private final ManualClock clock = new ManualClock();

  @Test
  void aRestartedKeyManagerMakesOneTokenUnwrapForAThousandDekUnwraps() {
    URI cmk = SoftHsm.cmk("km-restart");
    WrappedKey[] wrapped = new WrappedKey[1000];
    byte[][] dekBytes = new byte[wrapped.length][];
    try (Pkcs11KmsProvider hsm = SoftHsm.builder().build();
        KekStore store = KekStores.file(dir);
        KeyManager keys = keyManager(store, hsm)) {
      hsm.generateKey(cmk);
      keys.admin().createKek("tenant-1", cmk);
      for (int i = 0; i < wrapped.length; i++) {
        try (DataKey dek = keys.generateDek("tenant-1", CONTEXT)) {
          wrapped[i] = dek.wrappedKey();
          dekBytes[i] = dek.use(byte[]::clone);
        }
      }
      assertThat(hsm.token(SoftHsm.MAIN).encrypts.get()).as("token wraps").isEqualTo(1);
    }

    // A new process, in effect: a new store over the same directory, a new provider, a new login.
    try (Pkcs11KmsProvider hsm = SoftHsm.builder().build();
        KekStore store = KekStores.file(dir);
        KeyManager restarted = keyManager(store, hsm)) {
      for (int i = 0; i < wrapped.length; i++) {
        try (DataKey dek = restarted.unwrapDek(wrapped[i], CONTEXT)) {
          assertThat(dek.use(byte[]::clone)).isEqualTo(dekBytes[i]);
        }
      }
      assertThat(hsm.token(SoftHsm.MAIN).decrypts.get()).as("token unwraps").isEqualTo(1);
      assertThat(restarted.stats().kmsCalls()).isEqualTo(1);
    }
  }

  @Test
  void sixteenThreadsMissingOnTenKeksMakeTenTokenUnwraps() throws Exception {
    URI cmk = SoftHsm.cmk("km-herd");
    int keks = 10;
    int threads = 16;
    List<WrappedKey> wrapped = new ArrayList<>();
    try (Pkcs11KmsProvider hsm = SoftHsm.builder().build();
        KekStore store = KekStores.file(dir);
        KeyManager keys = keyManager(store, hsm)) {
      hsm.generateKey(cmk);
      for (int k = 0; k < keks; k++) {
        keys.admin().createKek("tenant-" + k, cmk);
        try (DataKey dek = keys.generateDek("tenant-" + k, CONTEXT)) {
          wrapped.add(dek.wrappedKey());
        }
      }
    }

    try (Pkcs11KmsProvider hsm = SoftHsm.builder().maxSessions(4).build();
        KekStore store = KekStores.file(dir);
        KeyManager cold = keyManager(store, hsm)) {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Integer>> results = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          int offset = t;
          results.add(
              pool.submit(
                  () -> {
                    start.await();
                    int ok = 0;
                    for (int k = 0; k < keks; k++) { // each thread in its own order
                      try (DataKey dek =
                          cold.unwrapDek(wrapped.get((k + offset) % keks), CONTEXT)) {
                        ok += dek.length() == 32 ? 1 : 0;
                      }
                    }
                    return ok;
                  }));
        }
        start.countDown();
        for (Future<Integer> r : results) {
          assertThat(r.get(60, TimeUnit.SECONDS)).isEqualTo(keks);
        }
      } finally {
        pool.shutdownNow();
      }
      assertThat(hsm.token(SoftHsm.MAIN).decrypts.get()).as("token unwraps").isEqualTo(keks);
    }
  }

  @Test
  void deletingTheKeyObjectStopsAccessOnceTheHardTtlHasPassed() {
    URI cmk = SoftHsm.cmk("km-revoke");
    try (Pkcs11KmsProvider hsm = SoftHsm.builder().build();
        KekStore store = KekStores.file(dir);
        KeyManager keys = keyManager(store, hsm)) {
      hsm.generateKey(cmk);
      keys.admin().createKek("tenant-7", cmk);
      WrappedKey wrapped;
      try (DataKey dek = keys.generateDek("tenant-7", CONTEXT)) {
        wrapped = dek.wrappedKey();
      }

      SoftHsm.deleteObject("km-revoke");

      // Within the hard TTL the cached KEK still serves, as with a cloud CMK...
      try (DataKey dek = keys.unwrapDek(wrapped, CONTEXT)) {
        assertThat(dek.length()).isEqualTo(32);
      }
      // ...and past it, every operation is refused.
      clock.advance(HARD_TTL.plusSeconds(1));
      assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class)
          .hasMessageContaining(cmk.toString());
      assertThatThrownBy(() -> keys.generateDek("tenant-7", CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class);
    }
  }

  @Test
  void aProviderFromAConfigurationFileWithAPinFileServesAKeyManager() throws Exception {
    Path pin = dir.resolve("hsm-pin");
    Files.writeString(pin, SoftHsm.PIN + "\n", UTF_8);
    Path config = dir.resolve("pkcs11.properties");
    Files.writeString(
        config,
        "library = "
            + SoftHsm.LIBRARY
            + "\ntoken."
            + SoftHsm.MAIN
            + ".slot = "
            + SoftHsm.slot(SoftHsm.MAIN)
            + "\ntoken."
            + SoftHsm.MAIN
            + ".pin.file = "
            + pin
            + "\nmaxSessions = 2\nsessionTimeout = PT2S\n",
        UTF_8);
    URI cmk = SoftHsm.cmk("km-config-file");
    try (Pkcs11KmsProvider hsm = Pkcs11KmsProvider.fromConfigFile(config);
        KekStore store = KekStores.file(dir.resolve("keks"));
        KeyManager keys = keyManager(store, hsm)) {
      hsm.generateKey(cmk);
      keys.admin().createKek("tenant-9", cmk);
      try (DataKey dek = keys.generateDek("tenant-9", CONTEXT);
          DataKey back = keys.unwrapDek(dek.wrappedKey(), CONTEXT)) {
        assertThat(back.use(byte[]::clone)).isEqualTo(dek.use(byte[]::clone));
      }
      assertThat(hsm.toString()).contains("kmtest").doesNotContain(SoftHsm.PIN);
    }
  }

  @Test
  void theKeyManagerBuilderDiscoversTheProviderOnTheClassPath() {
    // Found through META-INF/services; without KEYMANAGER_PKCS11_CONFIG it is unconfigured, and
    // says so at the first use of a pkcs11 CMK rather than at discovery.
    try (KekStore store = KekStores.inMemory();
        KeyManager keys =
            KeyManagers.builder()
                .kekStore(store)
                .discoverProviders(true)
                .allowedSchemes(Set.of(Pkcs11KmsProvider.SCHEME))
                .build()) {
      assertThatThrownBy(() -> keys.admin().createKek("tenant-d", SoftHsm.cmk("km-discovered")))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining(Pkcs11KmsProvider.CONFIG_ENV);
    }
  }

  private KeyManager keyManager(KekStore store, Pkcs11KmsProvider hsm) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(hsm)
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
