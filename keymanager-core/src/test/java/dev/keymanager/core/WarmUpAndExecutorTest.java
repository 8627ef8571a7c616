package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.WarmUpReport;
import dev.keymanager.WarmUpScope;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Warm-up before traffic, and KMS calls on an executor the user brings. */
class WarmUpAndExecutorTest {
  private static final URI CMK = FakeKms.cmk("customer-1");
  private static final URI OTHER_CMK = FakeKms.cmk("customer-2");
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

  private KeyManagers.Builder builder(KmsProvider kms) {
    return KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false);
  }

  private KeyManager open(KeyManagers.Builder builder) {
    KeyManager keys = builder.build();
    opened.add(keys);
    return keys;
  }

  private List<String> createKeks(int n, URI cmk) {
    List<String> ids = new ArrayList<>();
    try (KeyManager creator = builder(fake).build()) {
      for (int k = 0; k < n; k++) {
        String id = "kek-" + cmk.getHost() + "-" + k;
        creator.admin().createKek(id, cmk);
        ids.add(id);
      }
    }
    return ids;
  }

  @Test
  void warmingFiftyKeksRunsTheirKmsCallsInParallel() throws Exception {
    List<String> ids = createKeks(50, CMK);
    KeyManager keys = open(builder(gated).kmsThreads(64));
    ExecutorService caller = Executors.newSingleThreadExecutor();
    Future<WarmUpReport> warming =
        caller.submit(() -> keys.warmUp(ids, WarmUpScope.PRIMARY_VERSIONS));

    gated.awaitArrivals(50); // all fifty KMS calls are at the KMS at the same time
    assertThat(warming).isNotDone();
    gated.open();
    WarmUpReport report = warming.get(60, TimeUnit.SECONDS);
    caller.shutdown();

    assertThat(gated.maxInFlight()).isEqualTo(50);
    assertThat(report.isComplete()).isTrue();
    assertThat(report.loaded()).extracting(KekRef::id).containsExactlyElementsOf(ids);
    long loads = keys.stats().loads();
    for (String id : ids) {
      keys.generateDek(id, CONTEXT).close();
    }
    assertThat(keys.stats().loads()).isEqualTo(loads).isEqualTo(50); // warm: no further KMS call
  }

  @Test
  void warmUpReportsPerKekWhatFailedAndWarmsTheRest() {
    List<String> good = createKeks(3, CMK);
    List<String> denied = createKeks(1, OTHER_CMK);
    try (KeyManager admin = builder(fake).build()) {
      admin.admin().createKek("disabled", CMK);
      admin.admin().disableKek("disabled");
    }
    fake.denyAccess(OTHER_CMK);
    KeyManager keys = open(builder(fake));
    List<String> asked = new ArrayList<>(good);
    asked.addAll(denied);
    asked.add("disabled");
    asked.add("missing");

    WarmUpReport report = keys.warmUp(asked, WarmUpScope.PRIMARY_VERSIONS);

    assertThat(report.isComplete()).isFalse();
    assertThat(report.loaded()).extracting(KekRef::id).containsExactlyElementsOf(good);
    assertThat(report.failures()).containsOnlyKeys(denied.get(0), "disabled", "missing");
    assertThat(report.failures().get(denied.get(0))).isInstanceOf(KeyAccessDeniedException.class);
    assertThat(report.failures().get("disabled"))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("DISABLED");
    assertThat(report.failures().get("missing"))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("missing");
  }

  @Test
  void warmingEnabledVersionsLoadsEveryVersionThatMayStillUnwrap() {
    try (KeyManager admin = builder(fake).build()) {
      admin.admin().createKek("orders", CMK);
      admin.admin().rotateKek("orders");
      admin.admin().rotateKek("orders");
      admin.admin().setMinimumDecryptionVersion("orders", 2);
    }
    KeyManager keys = open(builder(fake));

    WarmUpReport all = keys.warmUp(List.of("orders"), WarmUpScope.ENABLED_VERSIONS);

    assertThat(all.loaded()).containsExactly(new KekRef("orders", 2), new KekRef("orders", 3));
    assertThat(keys.stats().loads()).isEqualTo(2);
  }

  @Test
  void warmUpRejectsAnInvalidIdAtOnce() {
    KeyManager keys = open(builder(fake));
    assertThatThrownBy(() -> keys.warmUp(List.of(""), WarmUpScope.PRIMARY_VERSIONS))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void kmsCallsRunOnTheUsersExecutorWhichCloseLeavesRunning() throws Exception {
    String id = createKeks(1, CMK).get(0);
    AtomicInteger threads = new AtomicInteger();
    ExecutorService mine =
        Executors.newFixedThreadPool(
            2, r -> new Thread(r, "engine-io-" + threads.incrementAndGet()));
    KeyManager keys = builder(gated).kmsExecutor(mine).build();
    gated.open();

    try (DataKey dek =
        keys.generateDekAsync(id, CONTEXT).toCompletableFuture().get(60, TimeUnit.SECONDS)) {
      assertThat(dek.length()).isEqualTo(32);
    }
    keys.close();

    assertThat(gated.threads).isNotEmpty().allMatch(name -> name.startsWith("engine-io-"));
    assertThat(mine.isShutdown()).isFalse();
    assertThat(CompletableFuture.supplyAsync(() -> "still running", mine).get(60, TimeUnit.SECONDS))
        .isEqualTo("still running");
    mine.shutdown();
  }

  @Test
  void kmsThreadsAndKmsExecutorTogetherAreAConfigurationError() {
    ExecutorService mine = Executors.newSingleThreadExecutor();
    try {
      assertThatThrownBy(() -> builder(fake).kmsThreads(2).kmsExecutor(mine).build())
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("kmsExecutor");
    } finally {
      mine.shutdown();
    }
  }
}
