package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.keymanager.DataKey;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Each dependency's failure names itself: during a cache miss, a store that does not answer within
 * {@code loadTimeout} is a retryable {@link KekStoreException} naming the store, a store that fails
 * is its own {@link KekStoreException}, and only a KMS that does not answer is a {@link
 * KmsUnavailableException}. The store is held by a latch, so nothing here races a timer except the
 * key manager's own bounded wait.
 */
class FailureAttributionTest {
  private static final URI CMK = FakeKms.cmk("attribution");
  private static final Duration LOAD_TIMEOUT = Duration.ofMillis(300);
  private static final KeyContext CONTEXT = KeyContext.of(Map.of("t", "1"));

  private final FakeKms kms = new FakeKms();
  private final KekStore records = KekStores.inMemory();
  private final CountDownLatch release = new CountDownLatch(1);
  private volatile boolean hang;
  private volatile KekStoreException failure;
  private KeyManager writer;
  private KeyManager reader;
  private WrappedKey wrapped;

  /** The store as a node sees it during an outage: reads hang or fail while switched on. */
  private final KekStore outage =
      new ForwardingKekStore(records) {
        @Override
        public Optional<KeyEncryptionKey> find(String kekId, int version) {
          strike();
          return super.find(kekId, version);
        }

        @Override
        public List<KeyEncryptionKey> versions(String kekId) {
          strike();
          return super.versions(kekId);
        }

        @Override
        public String toString() {
          return "OutageStore";
        }
      };

  private void strike() {
    KekStoreException f = failure;
    if (f != null) {
      throw f;
    }
    if (hang) {
      try {
        release.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @BeforeEach
  void setUp() {
    writer = keyManager(records);
    writer.admin().createKek("orders", CMK);
    try (DataKey dek = writer.generateDek("orders", CONTEXT)) {
      wrapped = dek.wrappedKey();
    }
    reader = keyManager(outage); // cold cache: every call below is a miss
  }

  @AfterEach
  void tearDown() {
    release.countDown();
    reader.close();
    writer.close();
  }

  private KeyManager keyManager(KekStore store) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .loadTimeout(LOAD_TIMEOUT)
        .build();
  }

  @Test
  void aStoreThatHangsDuringAnUnwrapMissIsAStoreErrorNamingTheStore() {
    hang = true;
    kms.resetCounts();

    Throwable e = catchThrowable(() -> reader.unwrapDek(wrapped, CONTEXT));

    assertThat(e)
        .isInstanceOf(KekStoreException.class)
        .hasMessageContaining("OutageStore")
        .hasMessageContaining("orders v1")
        .hasMessageContaining("300 ms")
        .hasMessageContaining("no KMS call");
    assertThat(((KekStoreException) e).isRetryable()).isTrue();
    assertThat(kms.unwrapCalls()).isZero();

    hang = false;
    release.countDown(); // the store answers again: the next call succeeds by itself
    assertThat(reader.unwrapDek(wrapped, CONTEXT)).isNotNull();
  }

  @Test
  void aStoreThatHangsDuringAWrapMissIsAStoreErrorNamingTheStore() {
    hang = true;

    Throwable e = catchThrowable(() -> reader.generateDek("orders", CONTEXT));

    assertThat(e)
        .isInstanceOf(KekStoreException.class)
        .hasMessageContaining("OutageStore")
        .hasMessageContaining("orders")
        .hasMessageContaining("loadTimeout");
    assertThat(((KekStoreException) e).isRetryable()).isTrue();

    hang = false;
    release.countDown();
    try (DataKey dek = reader.generateDek("orders", CONTEXT)) {
      assertThat(dek.wrappedKey().kek().id()).isEqualTo("orders");
    }
  }

  @Test
  void aStoreThatFailsDuringAMissRaisesTheStoresOwnError() {
    KekStoreException down =
        KekStoreException.retryable("store down: connection refused", new java.io.IOException());
    failure = down;

    for (Runnable call :
        List.<Runnable>of(
            () -> reader.unwrapDek(wrapped, CONTEXT),
            () -> reader.generateDek("orders", CONTEXT))) {
      Throwable e = catchThrowable(call::run);
      assertThat(e)
          .isInstanceOf(KekStoreException.class)
          .hasMessageContaining("connection refused");
      assertThat(((KekStoreException) e).isRetryable()).isTrue();
      // the store's exception itself, or (shared by a single-flight load) it as the cause
      assertThat(e == down || e.getCause() == down).isTrue();
    }

    failure = null;
    assertThat(reader.unwrapDek(wrapped, CONTEXT)).isNotNull();
  }

  @Test
  void aKmsThatHangsIsKmsUnavailableNamingTheKms() {
    kms.latency(Duration.ofSeconds(3));
    try {
      Throwable e = catchThrowable(() -> reader.unwrapDek(wrapped, CONTEXT));

      assertThat(e)
          .isInstanceOf(KmsUnavailableException.class)
          .hasMessageContaining("for the KMS")
          .hasMessageContaining("orders v1");
    } finally {
      kms.latency(Duration.ZERO);
    }
  }
}
