package dev.keymanager.core;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.function.LongConsumer;

/**
 * A fleet of key managers on one manual clock over one in-memory store and one {@link FakeKms}:
 * each node has its own hot working set of KEKs and uses every one of them steadily, and the
 * simulation records every KMS unwrap each node makes, in simulated time.
 *
 * <p>Deterministic: one thread drives every node in time order (a priority queue of uses), each
 * node runs its KMS calls on the calling thread ({@code kmsExecutor(Runnable::run)}), and the
 * traffic phases, the working sets and every node's jitter come from one seed. So a use that starts
 * a refresh or misses makes its KMS call at the use's simulated instant.
 */
final class FleetSimulation implements AutoCloseable {
  static final KeyContext CONTEXT = KeyContext.of(Map.of("sim", "fleet"));
  static final URI CMK = FakeKms.cmk("fleet");

  /**
   * @param nodes key managers
   * @param keksPerNode each node's hot working set, drawn from a pool of {@code kekPool} KEKs
   * @param useInterval each node uses each of its KEKs once per this, at a random phase
   * @param jitter the refreshJitter of every node; null for the default
   * @param ratePerSecond each node's kmsRateLimit, or 0 for none
   */
  record Config(
      int nodes,
      int keksPerNode,
      int kekPool,
      Duration hardTtl,
      Duration refreshAhead,
      Duration jitter,
      double ratePerSecond,
      int burst,
      Duration useInterval,
      long seed) {

    /** The configured refresh jitter window, in seconds. */
    double jitterSeconds() {
      Duration interval = hardTtl.minus(refreshAhead);
      return seconds(jitter != null ? jitter : interval.dividedBy(4));
    }

    /** The refresh interval, {@code hardTtl - refreshAhead}, in seconds. */
    double intervalSeconds() {
      return seconds(hardTtl.minus(refreshAhead));
    }

    /** docs/fleet.md's steady load: nodes x hot KEKs / (hardTtl - refreshAhead - jitter / 2). */
    double formulaCallsPerSecond() {
      return (double) nodes * keksPerNode / (intervalSeconds() - jitterSeconds() / 2);
    }
  }

  /** One KMS unwrap: when (simulated nanos since the start), by which node, of what, outcome. */
  record Call(long at, int node, String kekId, AuditEvent.Outcome outcome) {}

  /** A caller operation that failed: when, on which node, for which KEK, with what. */
  record Failure(long at, int node, String kekId, KeyManagerException error) {}

  private final Config config;
  private final SimClock clock = new SimClock();
  private final FakeKms kms = new FakeKms();
  private final KekStore store = KekStores.inMemory();
  private final List<DefaultKeyManager> nodes = new ArrayList<>();
  private final List<Call> calls = new ArrayList<>();
  private final List<Failure> failures = new ArrayList<>();
  private final List<int[]> workingSets = new ArrayList<>();
  private final Map<String, WrappedKey> deks = new HashMap<>();
  private final PriorityQueue<long[]> uses = // {time, node, index in working set}
      new PriorityQueue<>((a, b) -> Long.compare(a[0], b[0]));
  private final long useNanos;
  private long operations;

  FleetSimulation(Config config) {
    this.config = config;
    this.useNanos = config.useInterval().toNanos();
    SplittableRandom random = new SplittableRandom(config.seed());
    try (KeyManager admin = builder(-1, random).build()) {
      for (int k = 0; k < config.kekPool(); k++) {
        String id = kekId(k);
        admin.admin().createKek(id, CMK);
        deks.put(id, admin.generateDek(id, CONTEXT).wrappedKey());
      }
    }
    kms.resetCounts();
    for (int n = 0; n < config.nodes(); n++) {
      nodes.add((DefaultKeyManager) builder(n, random.split()).build());
      int[] set = random.ints(0, config.kekPool()).distinct().limit(config.keksPerNode()).toArray();
      workingSets.add(set);
      for (int i = 0; i < set.length; i++) {
        uses.add(new long[] {random.nextLong(useNanos), n, i});
      }
    }
  }

  private KeyManagers.Builder builder(int node, SplittableRandom random) {
    KeyManagers.Builder b =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .hardTtl(config.hardTtl())
            .refreshAhead(config.refreshAhead())
            .negativeTtl(Duration.ZERO)
            // A miss that would have to wait for a permit fails at once: one thread drives the
            // clock, so nothing could advance it while a miss waited.
            .loadTimeout(Duration.ofMillis(1))
            .kmsExecutor(Runnable::run)
            .jitterRandom(random.split());
    if (config.jitter() != null) {
      b.refreshJitter(config.jitter());
    }
    if (config.ratePerSecond() > 0) {
      b.kmsRateLimit(config.ratePerSecond(), config.burst());
    }
    if (node >= 0) {
      b.auditListener(
          e -> {
            if (e.type() == AuditEvent.Type.KMS_UNWRAP) {
              calls.add(new Call(clock.elapsedNanos(), node, e.kekId(), e.outcome()));
            }
          });
    }
    return b;
  }

  static String kekId(int k) {
    return "tenant-" + k;
  }

  /**
   * Runs every use due before {@code until} (simulated, from the start), in time order, calling
   * {@code atSecond} with the simulated nanos each time a whole second has passed.
   */
  void runUntil(Duration until, LongConsumer atSecond) {
    long end = until.toNanos();
    long nextSecond = (clock.elapsedNanos() / 1_000_000_000L + 1) * 1_000_000_000L;
    while (!uses.isEmpty() && uses.peek()[0] < end) {
      long[] use = uses.poll();
      while (use[0] >= nextSecond) {
        clock.set(nextSecond);
        atSecond.accept(nextSecond);
        nextSecond += 1_000_000_000L;
      }
      clock.set(use[0]);
      use(use);
      use[0] += useNanos;
      uses.add(use);
    }
    clock.set(end);
  }

  void runUntil(Duration until) {
    runUntil(until, t -> {});
  }

  private void use(long[] use) {
    int node = (int) use[1];
    String kekId = kekId(workingSets.get(node)[(int) use[2]]);
    operations++;
    try {
      nodes.get(node).unwrapDek(deks.get(kekId), CONTEXT).close();
    } catch (KeyManagerException e) {
      failures.add(new Failure(clock.elapsedNanos(), node, kekId, e));
    }
  }

  Config config() {
    return config;
  }

  FakeKms kms() {
    return kms;
  }

  List<Call> calls() {
    return calls;
  }

  List<Failure> failures() {
    return failures;
  }

  long operations() {
    return operations;
  }

  int[] workingSet(int node) {
    return workingSets.get(node).clone();
  }

  KeyManagerStats stats(int node) {
    return nodes.get(node).stats();
  }

  /** The simulated nanos since the start. */
  long now() {
    return clock.elapsedNanos();
  }

  @Override
  public void close() {
    nodes.forEach(KeyManager::close);
  }

  static double seconds(Duration d) {
    return d.toNanos() / 1e9;
  }

  /** The simulation's clock: set by the driving thread only, read by every node. */
  static final class SimClock implements InstantSource {
    private static final Instant START = Instant.parse("2026-01-01T00:00:00Z");
    private volatile long elapsed;

    @Override
    public Instant instant() {
      return START.plusNanos(elapsed);
    }

    long elapsedNanos() {
      return elapsed;
    }

    void set(long nanos) {
      if (nanos < elapsed) {
        throw new IllegalStateException("the simulated clock only moves forward");
      }
      elapsed = nanos;
    }
  }
}
