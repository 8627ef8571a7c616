package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.DataKey;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Single flight under cache thrash (issue 15): 16 threads unwrap DEKs of 100 KEKs through a cache
 * of 4, so entries are evicted while their waiters are still waking up. A waiter takes the key its
 * load produced even if it was evicted meanwhile: no miss makes a second KMS call, counted on the
 * KMS itself.
 */
class CacheThrashTest {
  private static final URI CMK = FakeKms.cmk("thrash");
  private static final KeyContext CONTEXT = KeyContext.of("table", "thrash");
  private static final int KEKS = 100;
  private static final int THREADS = 16;
  private static final int UNWRAPS_PER_THREAD = 400;

  @Test
  void everyMissMakesAtMostOneKmsCallAndEveryWaiterGetsItsLoadsKey() throws Exception {
    FakeKms kms = new FakeKms();
    KekStore store = KekStores.inMemory();
    WrappedKey[] wrapped = new WrappedKey[KEKS];
    byte[][] expected = new byte[KEKS][];
    try (KeyManager writer =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build()) {
      for (int i = 0; i < KEKS; i++) {
        writer.admin().createKek("thrash-" + i, CMK);
        try (DataKey dek = writer.generateDek("thrash-" + i, CONTEXT)) {
          wrapped[i] = dek.wrappedKey();
          expected[i] = dek.use(byte[]::clone);
        }
      }
    }
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .maximumCachedKeks(4)
            .build()) {
      long callsBefore = kms.unwrapCalls();
      CyclicBarrier start = new CyclicBarrier(THREADS);
      List<Future<Integer>> results = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        Random random = new Random(t);
        boolean async = t % 4 == 0; // a quarter of the threads take the non-blocking path
        results.add(
            pool.submit(
                () -> {
                  start.await();
                  int mismatches = 0;
                  for (int n = 0; n < UNWRAPS_PER_THREAD; n++) {
                    int i = random.nextInt(KEKS);
                    try (DataKey dek =
                        async
                            ? keys.unwrapDekAsync(wrapped[i], CONTEXT)
                                .toCompletableFuture()
                                .get(30, TimeUnit.SECONDS)
                            : keys.unwrapDek(wrapped[i], CONTEXT)) {
                      if (!dek.use(b -> Arrays.equals(b, expected[i]))) {
                        mismatches++;
                      }
                    }
                  }
                  return mismatches;
                }));
      }
      for (Future<Integer> r : results) {
        assertThat(r.get(120, TimeUnit.SECONDS)).as("DEKs unwrapped wrong").isZero();
      }
      long kmsCalls = kms.unwrapCalls() - callsBefore;
      KeyManagerStats stats = keys.stats();
      // Each unwrap is a hit or a miss; a held key whose entry was evicted asks the cache again on
      // its use, which counts too.
      assertThat(stats.hits() + stats.misses())
          .isGreaterThanOrEqualTo((long) THREADS * UNWRAPS_PER_THREAD);
      assertThat(stats.misses()).as("the cache thrashed").isGreaterThan(THREADS * 100L);
      assertThat(stats.loads()).as("one KMS call per load").isEqualTo(kmsCalls);
      assertThat(kmsCalls)
          .as("KMS calls (a miss makes at most one)")
          .isLessThanOrEqualTo(stats.misses());
    } finally {
      pool.shutdownNow();
    }
  }
}
