package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KekDescription;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Proof 1 of issue 23 on the in-memory and file stores: a rotation paused between its read of the
 * KEK and its write (a GC pause, a slow network) cannot undo a disable that returned meanwhile —
 * not when it resumes, not when its store reports "may have been applied", not when its process is
 * killed right after its write. After the disable returns no node wraps a new DEK, and the
 * description it returned shows the KEK disabled.
 */
class PausedRotationTest {
  private static final URI CMK = FakeKms.cmk("paused");
  private static final KeyContext CONTEXT = KeyContext.of("proof", "1");
  private static final long TIMEOUT_SECONDS = 60;

  @TempDir Path temp;
  private final FakeKms kms = new FakeKms();
  private final List<KeyManager> opened = new ArrayList<>();
  private final ExecutorService pool = Executors.newSingleThreadExecutor();

  @AfterEach
  void close() {
    pool.shutdownNow();
    opened.forEach(KeyManager::close);
  }

  private KekStore store(String kind) {
    return kind.equals("memory") ? KekStores.inMemory() : KekStores.file(temp.resolve("keks"));
  }

  private KeyManager node(KekStore store) {
    KeyManager keys =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
    opened.add(keys);
    return keys;
  }

  /** A store through which one node's rotation pauses before its version record is written. */
  private static final class PausingStore extends ForwardingKekStore {
    final CountDownLatch paused = new CountDownLatch(1);
    final CountDownLatch resume = new CountDownLatch(1);
    volatile boolean failAfterWrite;

    PausingStore(KekStore delegate) {
      super(delegate);
    }

    @Override
    public boolean create(KeyEncryptionKey record) {
      paused.countDown();
      await(resume);
      boolean stored = super.create(record);
      if (failAfterWrite) {
        throw KekStoreException.mayHaveBeenApplied(
            "connection lost after the write of " + record.ref(), null);
      }
      return stored;
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"memory", "file"})
  void aPausedRotationCannotUndoADisableThatReturned(String kind) throws Exception {
    runScenario(kind, false);
  }

  @ParameterizedTest
  @ValueSource(strings = {"memory", "file"})
  void aPausedRotationWhoseWriteMayHaveBeenAppliedCannotUndoADisable(String kind) throws Exception {
    runScenario(kind, true);
  }

  private void runScenario(String kind, boolean failAfterWrite) throws Exception {
    KekStore shared = store(kind);
    PausingStore pausing = new PausingStore(shared);
    pausing.failAfterWrite = failAfterWrite;
    KeyManager a = node(shared);
    KeyManager c = node(shared);
    KeyManager r = node(pausing);
    a.admin().createKek("orders", CMK);
    a.generateDek("orders", CONTEXT).close();

    Future<KeyEncryptionKey> rotation = pool.submit(() -> r.admin().rotateKek("orders"));
    assertThat(pausing.paused.await(TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();

    KekDescription disabled = a.admin().disableKek("orders");
    assertThat(disabled.state()).isEqualTo(KekState.DISABLED);
    assertThat(disabled.versions())
        .extracting(KeyEncryptionKey::state)
        .containsOnly(KekState.DISABLED);
    assertThat(disabled.primaryVersion()).isEqualTo(1);
    assertThatThrownBy(() -> a.generateDek("orders", CONTEXT))
        .isInstanceOf(KekStateException.class);
    assertThatThrownBy(() -> c.admin().rotateKek("orders")).isInstanceOf(KekStateException.class);

    pausing.resume.countDown();
    assertThatThrownBy(() -> rotation.get(TIMEOUT_SECONDS, TimeUnit.SECONDS))
        .hasCauseInstanceOf(failAfterWrite ? KekStoreException.class : KekStateException.class);

    assertNothingWrapsAndKekIsDisabled(shared, a, c, r);
    // Retrying the rotation, as "may have been applied" invites, builds on nothing.
    assertThatThrownBy(() -> r.admin().rotateKek("orders")).isInstanceOf(KekStateException.class);
  }

  @org.junit.jupiter.api.Test
  void aRotatingProcessKilledRightAfterItsWriteCannotUndoADisable() throws Exception {
    Path dir = temp.resolve("keks");
    try (KekStore shared = KekStores.file(dir)) {
      KeyManager a = node(shared);
      a.admin().createKek("orders", CMK);
    }
    Process child =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m",
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-cp",
                System.getProperty("java.class.path"),
                PausedRotationChild.class.getName(),
                dir.toString(),
                "orders")
            .redirectError(temp.resolve("child.stderr").toFile())
            .start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), UTF_8));
      CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> readLine(out));
      assertThat(first.get(TIMEOUT_SECONDS, TimeUnit.SECONDS))
          .as("child stderr: %s", stderr())
          .isEqualTo("paused");

      KekStore shared = KekStores.file(dir);
      KeyManager a = node(shared);
      KeyManager c = node(shared);
      KekDescription disabled = a.admin().disableKek("orders");
      assertThat(disabled.state()).isEqualTo(KekState.DISABLED);

      OutputStream in = child.getOutputStream();
      in.write("go\n".getBytes(UTF_8));
      in.flush();
      assertThat(
              CompletableFuture.supplyAsync(() -> readLine(out))
                  .get(TIMEOUT_SECONDS, TimeUnit.SECONDS))
          .isEqualTo("stored true");
      assertThat(child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();
      assertThat(child.exitValue()).as("killed right after its write").isEqualTo(3);

      assertThat(shared.versions("orders")).hasSize(2); // the dead rotation's record is there...
      assertNothingWrapsAndKekIsDisabled(shared, a, c, node(KekStores.file(dir)));
      assertThatThrownBy(() -> c.admin().rotateKek("orders")).isInstanceOf(KekStateException.class);
    } finally {
      child.destroyForcibly();
    }
  }

  /** ...but no node wraps under any version, and every node sees the KEK disabled at v1. */
  private void assertNothingWrapsAndKekIsDisabled(KekStore shared, KeyManager... nodes) {
    for (KeyManager n : nodes) {
      assertThatThrownBy(() -> n.generateDek("orders", CONTEXT))
          .isInstanceOf(KekStateException.class);
      assertThatThrownBy(() -> n.wrapDek("orders", new byte[32], CONTEXT))
          .isInstanceOf(KekStateException.class);
    }
    KekDescription now = node(shared).admin().describeKekVersions("orders").orElseThrow();
    assertThat(now.state()).isEqualTo(KekState.DISABLED);
    assertThat(now.primaryVersion()).isEqualTo(1);
    assertThat(now.versions()).extracting(KeyEncryptionKey::state).containsOnly(KekState.DISABLED);
  }

  private String stderr() {
    try {
      return Files.readString(temp.resolve("child.stderr"));
    } catch (java.io.IOException e) {
      return e.toString();
    }
  }

  private static String readLine(BufferedReader r) {
    try {
      return r.readLine();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void await(CountDownLatch latch) {
    try {
      if (!latch.await(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        throw new AssertionError("not resumed within " + TIMEOUT_SECONDS + " s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }
}
