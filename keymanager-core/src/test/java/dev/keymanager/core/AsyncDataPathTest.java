package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.DataKeyService;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekAdmin;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The non-blocking data path: a hit completes on the caller's thread, a miss never blocks the
 * caller, misses share one KMS call with each other and with the blocking path, and failures carry
 * the blocking path's exception types. KMS calls are held at a gate ({@link GatedKms}), so nothing
 * here depends on timing except the one measurement, which is bounded by the KMS latency itself.
 */
class AsyncDataPathTest {
  private static final URI CMK = FakeKms.cmk("customer-1");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  private final FakeKms fake = new FakeKms();
  private final GatedKms gated = new GatedKms(fake);
  private final KekStore store = KekStores.inMemory();
  private final List<AutoCloseable> opened = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    gated.open();
    for (AutoCloseable c : opened) {
      c.close();
    }
  }

  private KeyManagers.Builder builder(dev.keymanager.spi.KmsProvider kms) {
    return KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false);
  }

  private KeyManager open(KeyManagers.Builder builder) {
    KeyManager keys = builder.build();
    opened.add(keys);
    return keys;
  }

  /** Creates a KEK through another key manager (with an ungated KMS) and wraps {@code dek}. */
  private WrappedKey wrappedUnderColdKek(String kekId, byte[] dek) {
    return wrappedUnderColdKek(kekId, CMK, dek);
  }

  private WrappedKey wrappedUnderColdKek(String kekId, URI cmk, byte[] dek) {
    try (KeyManager creator = builder(fake).build()) {
      creator.admin().createKek(kekId, cmk);
      return creator.wrapDek(kekId, dek, CONTEXT);
    }
  }

  private static byte[] dek(int seed) {
    byte[] dek = new byte[32];
    Arrays.fill(dek, (byte) seed);
    return dek;
  }

  private static byte[] bytesOf(CompletionStage<DataKey> stage) throws Exception {
    try (DataKey key = stage.toCompletableFuture().get(60, TimeUnit.SECONDS)) {
      return key.useForBytes(byte[]::clone);
    }
  }

  private static Throwable failureOf(CompletionStage<?> stage) throws Exception {
    AtomicReference<Throwable> seen = new AtomicReference<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    stage.whenComplete(
        (v, e) -> {
          seen.set(e);
          done.complete(null);
        });
    done.get(60, TimeUnit.SECONDS);
    assertThat(seen.get()).as("the stage failed").isNotNull();
    return seen.get();
  }

  @Test
  void aHitCompletesOnTheCallersThread() throws Exception {
    KeyManager keys = open(builder(fake));
    keys.admin().createKek("orders", CMK); // creation caches the KEK
    WrappedKey wrapped = keys.wrapDek("orders", dek(1), CONTEXT);

    CompletableFuture<DataKey> stage = keys.unwrapDekAsync(wrapped, CONTEXT).toCompletableFuture();
    CompletableFuture<DataKey> generated =
        keys.generateDekAsync("orders", CONTEXT).toCompletableFuture();

    assertThat(stage).isDone();
    assertThat(generated).isDone();
    assertThat(bytesOf(stage)).isEqualTo(dek(1));
    assertThat(bytesOf(keys.unwrapDekAsync(generated.join().wrappedKey(), CONTEXT)))
        .isEqualTo(generated.join().useForBytes(byte[]::clone));
  }

  @Test
  void aColdAsyncUnwrapReturnsBeforeTheKmsAnswers() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", dek(2));
    KeyManager keys = open(builder(gated));

    CompletableFuture<DataKey> stage = keys.unwrapDekAsync(wrapped, CONTEXT).toCompletableFuture();

    assertThat(stage).isNotDone(); // the KMS call is held at the gate: the caller was not
    gated.awaitArrivals(1);
    gated.open();
    assertThat(bytesOf(stage)).isEqualTo(dek(2));
    assertThat(gated.threads).allMatch(name -> name.startsWith("keymanager-kms-"));
  }

  @Test
  void aColdAsyncUnwrapTakesFarLessThanTheKmsLatency() throws Exception {
    Duration latency = Duration.ofMillis(200);
    int keks = 20;
    List<WrappedKey> wrapped = new ArrayList<>();
    for (int k = 0; k < keks; k++) {
      wrapped.add(wrappedUnderColdKek("cold-" + k, dek(k)));
    }
    KeyManager keys = open(builder(fake).kmsThreads(keks));
    fake.latency(latency);
    keys.unwrapDekAsync(wrapped.get(0), CONTEXT)
        .toCompletableFuture()
        .get(60, TimeUnit.SECONDS)
        .close(); // the first call loads classes; measure the others

    long[] nanos = new long[keks - 1];
    List<CompletableFuture<DataKey>> stages = new ArrayList<>();
    for (int k = 1; k < keks; k++) {
      long start = System.nanoTime();
      stages.add(keys.unwrapDekAsync(wrapped.get(k), CONTEXT).toCompletableFuture());
      nanos[k - 1] = System.nanoTime() - start;
    }
    for (int k = 1; k < keks; k++) {
      assertThat(bytesOf(stages.get(k - 1))).isEqualTo(dek(k));
    }
    Arrays.sort(nanos);
    System.out.printf(
        "cold unwrapDekAsync returned to the caller in median %.3f ms, max %.3f ms"
            + " (FakeKms latency %d ms)%n",
        nanos[nanos.length / 2] / 1e6, nanos[nanos.length - 1] / 1e6, latency.toMillis());
    // A call that waited for the KMS would take the whole latency: bound by it, not by a guess at
    // this machine's speed.
    assertThat(nanos[nanos.length - 1]).isLessThan(latency.toNanos());
  }

  @Test
  void aThousandConcurrentAsyncMissesMakeOneKmsCallAndParkNoCaller() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", dek(3));
    KeyManager keys = open(builder(gated));
    int callers = 4;
    int each = 250;
    ExecutorService threads = Executors.newFixedThreadPool(callers);
    List<Future<List<CompletableFuture<DataKey>>>> submitted = new ArrayList<>();
    for (int t = 0; t < callers; t++) {
      submitted.add(
          threads.submit(
              () -> {
                List<CompletableFuture<DataKey>> mine = new ArrayList<>();
                for (int i = 0; i < each; i++) {
                  mine.add(keys.unwrapDekAsync(wrapped, CONTEXT).toCompletableFuture());
                }
                return mine;
              }));
    }
    // Every caller returns while the one KMS call is still held at the gate: none was parked.
    List<CompletableFuture<DataKey>> stages = new ArrayList<>();
    for (Future<List<CompletableFuture<DataKey>>> f : submitted) {
      stages.addAll(f.get(60, TimeUnit.SECONDS));
    }
    threads.shutdown();
    assertThat(stages).hasSize(callers * each).allMatch(s -> !s.isDone());
    gated.awaitArrivals(1);
    gated.open();

    for (CompletableFuture<DataKey> s : stages) {
      assertThat(bytesOf(s)).isEqualTo(dek(3));
    }
    assertThat(gated.unwraps()).isEqualTo(1);
    assertThat(keys.stats().loads()).isEqualTo(1);
    assertThat(keys.stats().misses()).isEqualTo(callers * each);
  }

  @Test
  void anAsyncMissSharesTheLoadOfABlockedBlockingCaller() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", dek(4));
    KeyManager keys = open(builder(gated));
    ExecutorService blocking = Executors.newSingleThreadExecutor();
    Future<byte[]> blocked =
        blocking.submit(
            () -> {
              try (DataKey key = keys.unwrapDek(wrapped, CONTEXT)) {
                return key.useForBytes(byte[]::clone);
              }
            });
    gated.awaitArrivals(1); // the blocking caller's load is at the KMS

    CompletableFuture<DataKey> async = keys.unwrapDekAsync(wrapped, CONTEXT).toCompletableFuture();
    assertThat(async).isNotDone();
    gated.open();

    assertThat(bytesOf(async)).isEqualTo(dek(4));
    assertThat(blocked.get(60, TimeUnit.SECONDS)).isEqualTo(dek(4));
    blocking.shutdown();
    assertThat(gated.unwraps()).isEqualTo(1);
  }

  @Test
  void aColdAsyncGenerateReadsTheStoreAndCallsTheKmsOffTheCallersThread() throws Exception {
    wrappedUnderColdKek("orders", dek(5));
    KeyManager keys = open(builder(gated));

    CompletableFuture<DataKey> stage =
        keys.generateDekAsync("orders", CONTEXT).toCompletableFuture();
    assertThat(stage).isNotDone();
    gated.awaitArrivals(1);
    gated.open();

    byte[] generated = bytesOf(stage);
    assertThat(bytesOf(keys.unwrapDekAsync(stage.join().wrappedKey(), CONTEXT)))
        .isEqualTo(generated);
  }

  @Test
  void asyncFailuresCarryTheBlockingPathsExceptionTypes() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", dek(6));
    URI revoked = FakeKms.cmk("revoked");
    WrappedKey underRevoked = wrappedUnderColdKek("revoked", revoked, dek(6));
    KeyManager keys = open(builder(fake));

    assertThat(failureOf(keys.generateDekAsync("missing", CONTEXT)))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("missing");
    assertThat(failureOf(keys.unwrapDekAsync(wrapped, KeyContext.of("table", "other"))))
        .isInstanceOf(InvalidCiphertextException.class);
    fake.denyAccess(revoked);
    assertThat(failureOf(keys.unwrapDekAsync(underRevoked, CONTEXT)))
        .isInstanceOf(KeyAccessDeniedException.class);
    // remembered in the negative cache: still the same type, still no new KMS call
    long calls = fake.unwrapCalls();
    assertThat(failureOf(keys.unwrapDekAsync(underRevoked, CONTEXT)))
        .isInstanceOf(KeyAccessDeniedException.class);
    assertThat(fake.unwrapCalls()).isEqualTo(calls);

    keys.close();
    assertThat(failureOf(keys.unwrapDekAsync(wrapped, CONTEXT)))
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> keys.unwrapDekAsync(null, CONTEXT))
        .isInstanceOf(NullPointerException.class);
  }

  @Test
  void anAsyncMissThatOutlastsTheLoadTimeoutFailsRetryably() throws Exception {
    WrappedKey wrapped = wrappedUnderColdKek("orders", dek(7));
    KeyManager keys = open(builder(gated).loadTimeout(Duration.ofMillis(50)));

    Throwable failure = failureOf(keys.unwrapDekAsync(wrapped, CONTEXT));

    assertThat(failure).isInstanceOf(KmsUnavailableException.class).hasMessageContaining("50 ms");
    gated.open();
    // the load went on in the background and filled the cache
    assertThat(bytesOf(keys.unwrapDekAsync(wrapped, CONTEXT))).isEqualTo(dek(7));
    assertThat(gated.unwraps()).isEqualTo(1);
  }

  @Test
  void theDataPathOnlyViewCannotReachAdministration() throws Exception {
    KeyManager keys = open(builder(fake));
    keys.admin().createKek("orders", CMK);
    DataKeyService dataPath = keys.dataPathOnly();

    assertThat(dataPath)
        .isNotInstanceOf(KeyManager.class)
        .isNotInstanceOf(KekAdmin.class)
        .isNotInstanceOf(AutoCloseable.class);
    assertThat(keys.admin()).isNotInstanceOf(KeyManager.class).isNotInstanceOf(AutoCloseable.class);
    try (DataKey dek = dataPath.generateDek("orders", CONTEXT)) {
      assertThat(bytesOf(dataPath.unwrapDekAsync(dek.wrappedKey(), CONTEXT)))
          .isEqualTo(dek.useForBytes(byte[]::clone));
    }
    // The same stats; the oldest KEK's time left moves with the system ticker between the reads.
    assertThat(dataPath.stats())
        .usingRecursiveComparison()
        .ignoringFields("oldestKekTimeLeft")
        .isEqualTo(keys.stats());
    assertThat(dataPath.stats().oldestKekTimeLeft()).isPresent();
  }

  @Test
  void statsStayReadableAfterClose() {
    KeyManager keys = open(builder(fake));
    keys.admin().createKek("orders", CMK);
    keys.generateDek("orders", CONTEXT).close();
    long hits = keys.stats().hits();

    keys.close();

    assertThat(keys.stats().hits()).isEqualTo(hits);
    assertThatThrownBy(() -> keys.generateDek("orders", CONTEXT))
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> keys.admin().listKeks()).isInstanceOf(IllegalStateException.class);
  }
}
