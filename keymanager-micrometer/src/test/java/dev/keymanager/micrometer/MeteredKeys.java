package dev.keymanager.micrometer;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.RecordingKms;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A real key manager on FakeKms and a manual clock, for the metrics tests, with the plaintext KEKs
 * and DEKs it handled (to scan outputs for) and one scenario that drives every KMS and lifecycle
 * outcome a fixed number of times.
 */
final class MeteredKeys implements AutoCloseable {
  static final URI CMK = FakeKms.cmk("orders-cmk");
  static final KeyContext CONTEXT = KeyContext.of("table", "orders");
  static final Duration TTL = Duration.ofMinutes(5);

  final FakeKms kms = new FakeKms();
  final ManualClock clock = new ManualClock();

  /** Every plaintext KEK and DEK that passed through the KMS or the data path. */
  final List<byte[]> secrets = new CopyOnWriteArrayList<>();

  final KeyManager keys =
      KeyManagers.builder()
          .kekStore(KekStores.inMemory())
          .kmsProvider(new RecordingKms(kms, secrets::add))
          .discoverProviders(false)
          .hardTtl(TTL)
          .refreshAhead(Duration.ofMinutes(1))
          .negativeTtl(Duration.ZERO)
          .clock(clock)
          .build();

  /**
   * Drives, in order: 2 wraps that succeed (create "orders", rotate), 1 unwrap that succeeds (a
   * miss after the TTL), 1 denied unwrap and 1 denied wrap (CMK disabled), 1 unavailable unwrap and
   * 1 unavailable wrap (outage), 1 invalid unwrap (an import of material wrapped for another KEK),
   * and the lifecycle steps create (success, denied, unavailable), rotate (success, refused),
   * disable (success) and import (invalid).
   */
  void driveEveryOutcome() {
    keys.admin().createKek("orders", CMK); // wrap ok, create ok
    keys.admin().rotateKek("orders"); // wrap ok, rotate ok
    WrappedKey wrapped = dek("orders");

    clock.advance(TTL); // the cached KEK is past its hard TTL: the next use misses
    dek(wrapped); // unwrap ok

    kms.disable(CMK);
    clock.advance(TTL);
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class); // unwrap denied
    assertThatThrownBy(() -> keys.admin().createKek("denied", CMK))
        .isInstanceOf(KeyAccessDeniedException.class); // wrap denied, create denied
    kms.enable(CMK);

    kms.failAllCalls(true);
    assertThatThrownBy(() -> keys.unwrapDek(wrapped, CONTEXT))
        .isInstanceOf(KmsUnavailableException.class); // unwrap unavailable
    assertThatThrownBy(() -> keys.admin().createKek("outage", CMK))
        .isInstanceOf(KmsUnavailableException.class); // wrap unavailable, create unavailable
    kms.failAllCalls(false);

    byte[] foreign =
        kms.wrapper(CMK).orElseThrow().wrap(new byte[32], KeyContext.of("kek", "someone-else"));
    assertThatThrownBy(() -> keys.admin().importKek(new KekRef("imported", 1), CMK, foreign))
        .isInstanceOf(InvalidCiphertextException.class); // unwrap invalid, import invalid

    keys.admin().disableKek("orders"); // disable ok
    assertThatThrownBy(() -> keys.admin().rotateKek("orders"))
        .isInstanceOf(KekStateException.class); // rotate refused
  }

  WrappedKey dek(String kekId) {
    try (DataKey dek = keys.generateDek(kekId, CONTEXT)) {
      secrets.add(dek.use(byte[]::clone));
      return dek.wrappedKey();
    }
  }

  void dek(WrappedKey wrapped) {
    try (DataKey dek = keys.unwrapDek(wrapped, CONTEXT)) {
      secrets.add(dek.use(byte[]::clone));
    }
  }

  @Override
  public void close() {
    keys.close();
  }

  /** An {@link InstantSource} the test moves by hand; the key manager's ticker follows it. */
  static final class ManualClock implements InstantSource {
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
