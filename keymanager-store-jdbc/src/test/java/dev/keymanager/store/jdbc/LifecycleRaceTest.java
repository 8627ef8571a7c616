package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.LifecycleHistory;
import dev.keymanager.testkit.LifecycleRace;
import dev.keymanager.testkit.LinearizabilityChecker;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Proof 2 of issue 23 on PostgreSQL: 4 key managers, each with its own pool and {@link
 * JdbcKekStore} on one schema, run every lifecycle call concurrently on shared KEKs; one serial
 * order must explain every acknowledged result, and no wrap may start under a version a returned
 * change forbade (on another node: after the hard TTL).
 *
 * <p>{@code -Dkeymanager.race.ops=N} sets the operations per trial (default 1,200) and {@code
 * -Dkeymanager.race.trials=N} the trials (default 1); see docs/testing.md.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class LifecycleRaceTest {
  private static final int NODES = 4;
  private static final int THREADS_PER_NODE = 2;
  private static final int OPS_PER_KEK = 15;
  private static final Duration HARD_TTL = Duration.ofSeconds(1);
  private static final List<URI> CMKS =
      List.of(FakeKms.cmk("race-a"), FakeKms.cmk("race-b"), FakeKms.cmk("race-c"));

  private final FakeKms kms = new FakeKms();
  private final List<AutoCloseable> opened = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (int i = opened.size() - 1; i >= 0; i--) {
      opened.get(i).close();
    }
  }

  private KeyManager node(String schema, int i) {
    HikariDataSource ds = server().pool("race-" + i, THREADS_PER_NODE + 1, config -> {});
    opened.add(ds);
    KeyManager keys =
        KeyManagers.builder()
            .kekStore(JdbcKekStore.builder().dataSource(ds).schema(schema).build())
            .kmsProvider(kms)
            .discoverProviders(false)
            .hardTtl(HARD_TTL)
            .minimumDestructionWindow(Duration.ZERO)
            .build();
    opened.add(keys);
    return keys;
  }

  @Test
  void everyAcknowledgedLifecycleCallIsExplainedByOneSerialOrder() throws Exception {
    int ops = Integer.getInteger("keymanager.race.ops", 1200);
    int trials = Integer.getInteger("keymanager.race.trials", 1);
    int violations = 0;
    for (int trial = 0; trial < trials; trial++) {
      String schema = server().newSchema();
      List<String> ids = LifecycleRace.kekIds("race" + trial, Math.max(1, ops / OPS_PER_KEK));
      LifecycleHistory history = new LifecycleHistory();
      ExecutorService nodes = Executors.newFixedThreadPool(NODES);
      try {
        List<Future<?>> done = new ArrayList<>();
        for (int n = 0; n < NODES; n++) {
          LifecycleRace race = new LifecycleRace(node(schema, n), kms, "pg" + n, ids, CMKS);
          long seed = trial * 1000L + n;
          int share = ops / NODES + (n < ops % NODES ? 1 : 0);
          done.add(
              nodes.submit(
                  () -> {
                    race.run(share, THREADS_PER_NODE, seed, history);
                    return null;
                  }));
        }
        for (Future<?> f : done) {
          f.get();
        }
      } finally {
        nodes.shutdownNow();
      }
      LinearizabilityChecker.Report report =
          new LinearizabilityChecker(HARD_TTL).check(history.ops());
      System.out.printf(
          "PostgreSQL lifecycle race, trial %d of %d, %d nodes: %s%n",
          trial + 1, trials, NODES, report);
      assertThat(report.ops() + report.wraps()).isGreaterThan(ops / 2);
      assertThat(report.failed()).as("operations with an unknown effect").isZero();
      violations += report.violations().size();
      assertThat(report.violations()).isEmpty();
      close();
      opened.clear();
    }
    System.out.printf("PostgreSQL lifecycle race: %d trials, %d violations%n", trials, violations);
  }
}
