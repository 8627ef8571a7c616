package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.DataKey;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * An invalidation (what a disable, a destroy or a change notice does) that returns while a load is
 * installing its result: the loaded key must not stay cached after the invalidation returned. The
 * clock's read inside the install, after the install checked that nothing was invalidated since its
 * load began, is where the test runs the invalidation on another thread and waits for it.
 */
class InstallRaceTest {
  private static final URI CMK = FakeKms.cmk("install-race");
  private static final KeyContext CONTEXT = KeyContext.of("table", "install-race");

  /** A clock that runs {@link #duringInstall} once, when the cache reads it inside its install. */
  private static final class InstallClock implements InstantSource {
    final AtomicReference<Runnable> duringInstall = new AtomicReference<>();

    @Override
    public Instant instant() {
      Runnable hook = duringInstall.get();
      if (hook != null && insideInstall() && duringInstall.compareAndSet(hook, null)) {
        hook.run();
      }
      return Instant.parse("2026-01-01T00:00:00Z");
    }

    private static boolean insideInstall() {
      return StackWalker.getInstance()
          .walk(
              frames ->
                  frames.anyMatch(
                      f ->
                          f.getClassName().equals(KekCache.class.getName())
                              && f.getMethodName().equals("install")));
    }
  }

  @Test
  void anInvalidationThatReturnedDuringAnInstallLeavesNothingCached() throws Exception {
    FakeKms kms = new FakeKms();
    KekStore store = KekStores.inMemory();
    WrappedKey wrapped;
    try (KeyManager writer =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build()) {
      writer.admin().createKek("orders", CMK);
      wrapped = writer.wrapDek("orders", new byte[32], CONTEXT);
    }
    InstallClock clock = new InstallClock();
    try (KeyManager reader =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .build()) {
      KekCache cache = ((DefaultKeyManager) reader).cache();
      AtomicReference<Thread> invalidator = new AtomicReference<>();
      clock.duringInstall.set(
          () -> {
            Thread t = new Thread(() -> cache.invalidate(wrapped.kek()), "invalidator");
            invalidator.set(t);
            t.start();
            try {
              // Returns at once unless the invalidation waits for the install to finish.
              t.join(300);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          });
      kms.resetCounts();

      try (DataKey dek = reader.unwrapDek(wrapped, CONTEXT)) {
        assertThat(dek.length()).isEqualTo(32); // the unwrap began before the invalidation
      }
      assertThat(invalidator.get()).as("the install read the clock").isNotNull();
      invalidator.get().join();

      assertThat(cache.size()).as("entries cached after the invalidation returned").isZero();
      try (DataKey dek = reader.unwrapDek(wrapped, CONTEXT)) {
        assertThat(dek.length()).isEqualTo(32);
      }
      assertThat(kms.unwrapCalls()).as("the next unwrap asks the KMS again").isEqualTo(2L);
    }
  }
}
