package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.KekDescription;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Proof 1 of issue 23 on PostgreSQL: 3 key managers, each with its own pool and {@link
 * JdbcKekStore} on one schema; one node's rotation is paused, by a store wrapper written against
 * the public SPI, between its read of the KEK and its write. A disable on another node returns
 * meanwhile: the paused rotation then fails (or, when its write "may have been applied", leaves a
 * version the head never names), no node wraps a new DEK, and the disable's description shows the
 * KEK disabled.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class PausedRotationTest {
  private static final URI CMK = FakeKms.cmk("paused-pg");
  private static final KeyContext CONTEXT = KeyContext.of("proof", "1");
  private static final long TIMEOUT_SECONDS = 60;

  private final FakeKms kms = new FakeKms();
  private final List<AutoCloseable> opened = new ArrayList<>();
  private final ExecutorService pool = Executors.newSingleThreadExecutor();

  @AfterEach
  void close() throws Exception {
    pool.shutdownNow();
    for (int i = opened.size() - 1; i >= 0; i--) {
      opened.get(i).close();
    }
  }

  private JdbcKekStore store(String schema, int i) {
    HikariDataSource ds = server().pool("paused-" + i, 2, config -> {});
    opened.add(ds);
    return JdbcKekStore.builder().dataSource(ds).schema(schema).build();
  }

  private KeyManager node(KekStore store) {
    KeyManager keys =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
    opened.add(keys);
    return keys;
  }

  @ParameterizedTest(name = "write may have been applied: {0}")
  @ValueSource(booleans = {false, true})
  void aPausedRotationCannotUndoADisableThatReturned(boolean failAfterWrite) throws Exception {
    String schema = server().newSchema();
    Pausing pausing = new Pausing(store(schema, 2), failAfterWrite);
    KeyManager a = node(store(schema, 0));
    KeyManager c = node(store(schema, 1));
    KeyManager r = node(pausing);
    a.admin().createKek("orders", CMK);
    a.generateDek("orders", CONTEXT).close();

    Future<KeyEncryptionKey> rotation = pool.submit(() -> r.admin().rotateKek("orders"));
    assertThat(pausing.paused.await(TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();

    KekDescription disabled = a.admin().disableKek("orders");
    assertThat(disabled.state()).isEqualTo(KekState.DISABLED);
    assertThat(disabled.primaryVersion()).isEqualTo(1);
    assertThat(disabled.versions())
        .extracting(KeyEncryptionKey::state)
        .containsOnly(KekState.DISABLED);
    assertThatThrownBy(() -> a.generateDek("orders", CONTEXT))
        .isInstanceOf(KekStateException.class);
    assertThatThrownBy(() -> c.admin().rotateKek("orders")).isInstanceOf(KekStateException.class);

    pausing.resume.countDown();
    assertThatThrownBy(() -> rotation.get(TIMEOUT_SECONDS, TimeUnit.SECONDS))
        .hasCauseInstanceOf(failAfterWrite ? KekStoreException.class : KekStateException.class);

    for (KeyManager n : List.of(a, c, r, node(store(schema, 3)))) {
      assertThatThrownBy(() -> n.generateDek("orders", CONTEXT))
          .isInstanceOf(KekStateException.class);
      KekDescription now = n.admin().describeKekVersions("orders").orElseThrow();
      assertThat(now.state()).isEqualTo(KekState.DISABLED);
      assertThat(now.primaryVersion()).isEqualTo(1);
    }
    assertThatThrownBy(() -> r.admin().rotateKek("orders")).isInstanceOf(KekStateException.class);
  }

  /** Forwards to a JDBC store; pauses before the one version-record write of a rotation. */
  private static final class Pausing implements KekStore {
    final CountDownLatch paused = new CountDownLatch(1);
    final CountDownLatch resume = new CountDownLatch(1);
    private final KekStore d;
    private final boolean failAfterWrite;

    Pausing(KekStore d, boolean failAfterWrite) {
      this.d = d;
      this.failAfterWrite = failAfterWrite;
    }

    @Override
    public boolean create(KeyEncryptionKey record) {
      paused.countDown();
      try {
        assertThat(resume.await(TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
      boolean stored = d.create(record);
      if (failAfterWrite) {
        throw KekStoreException.mayHaveBeenApplied(
            "connection lost after the write of " + record.ref(), null);
      }
      return stored;
    }

    @Override
    public Optional<KeyEncryptionKey> find(String kekId, int version) {
      return d.find(kekId, version);
    }

    @Override
    public List<KeyEncryptionKey> versions(String kekId) {
      return d.versions(kekId);
    }

    @Override
    public KekIdPage kekIds(String after, int limit) {
      return d.kekIds(after, limit);
    }

    @Override
    public boolean compareAndSet(long expectedRevision, KeyEncryptionKey next) {
      return d.compareAndSet(expectedRevision, next);
    }

    @Override
    public Optional<KekHead> head(String kekId) {
      return d.head(kekId);
    }

    @Override
    public boolean createHead(KekHead head) {
      return d.createHead(head);
    }

    @Override
    public boolean compareAndSetHead(long expectedRevision, KekHead next) {
      return d.compareAndSetHead(expectedRevision, next);
    }
  }
}
