package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.core.FleetSimulation.Call;
import dev.keymanager.core.FleetSimulation.Config;
import dev.keymanager.core.FleetSimulation.Failure;
import dev.keymanager.spi.AuditEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The fleet proofs of docs/fleet.md, on {@link FleetSimulation}: 200 key managers on one manual
 * clock, one store and one FakeKms. Each test prints what it measured.
 */
class FleetSimulationTest {
  private static final int NODES = 200;
  private static final int KEKS = 20;
  private static final int POOL = 1000;
  private static final Duration USE = Duration.ofSeconds(2);

  private static Config fleet(int ttl, int ahead, Duration jitter, double rate, int burst) {
    return new Config(
        NODES,
        KEKS,
        POOL,
        Duration.ofSeconds(ttl),
        Duration.ofSeconds(ahead),
        jitter,
        rate,
        burst,
        USE,
        42L + ttl + ahead);
  }

  /** Calls/s between two simulated instants, and the busiest 1 % of the refresh interval. */
  record Load(double callsPerSecond, long peak, double meanPerBin) {
    double peakToMean() {
      return peak / meanPerBin;
    }
  }

  private static Load measure(List<Call> calls, Config config, Duration from, Duration to) {
    long start = from.toNanos();
    long end = to.toNanos();
    long bin = (long) (config.intervalSeconds() * 1e9 / 100);
    int bins = (int) ((end - start) / bin);
    long[] counts = new long[bins];
    long total = 0;
    for (Call c : calls) {
      if (c.at() >= start && c.at() < start + (long) bins * bin) {
        counts[(int) ((c.at() - start) / bin)]++;
        total++;
      }
    }
    long peak = 0;
    for (long n : counts) {
      peak = Math.max(peak, n);
    }
    double seconds = bins * (bin / 1e9);
    return new Load(total / seconds, peak, (double) total / bins);
  }

  // Proof 1: the measured steady rate is within 10 % of the formula for three configurations, and
  // with jitter the busiest 1 % of the refresh interval carries at most 3x the mean.
  @Test
  void steadyKmsRateMatchesTheFormulaAndJitterFlattensThePeaks() {
    List<Config> configs =
        List.of(
            fleet(60, 12, Duration.ofSeconds(24), 0, 0), // jitter half the interval
            fleet(120, 30, Duration.ofSeconds(45), 0, 0), // a longer TTL, jitter half
            fleet(60, 20, null, 0, 0)); // the default jitter, a quarter of the interval
    for (Config config : configs) {
      Load load = run(config);
      double formula = config.formulaCallsPerSecond();
      System.out.printf(
          "fleet %d x %d, hardTtl %s, refreshAhead %s, jitter %.0f s: %.1f calls/s measured,"
              + " %.1f by the formula; busiest 1%% window %d calls, %.2fx the mean%n",
          config.nodes(),
          config.keksPerNode(),
          config.hardTtl(),
          config.refreshAhead(),
          config.jitterSeconds(),
          load.callsPerSecond(),
          formula,
          load.peak(),
          load.peakToMean());
      assertThat(load.callsPerSecond())
          .isCloseTo(formula, org.assertj.core.data.Percentage.withPercentage(10));
      if (config.jitterSeconds() >= config.intervalSeconds() / 2) {
        assertThat(load.peakToMean()).isLessThanOrEqualTo(3.0);
      }
    }
  }

  // Proof 1, the other half: without jitter the same fleet refreshes in bursts (peak reported).
  @Test
  void withoutJitterTheFleetRefreshesInBursts() {
    Config config = fleet(60, 12, Duration.ZERO, 0, 0);
    Load load = run(config);
    System.out.printf(
        "fleet %d x %d, hardTtl %s, refreshAhead %s, no jitter: %.1f calls/s measured, %.1f by the"
            + " formula; busiest 1%% window %d calls, %.2fx the mean%n",
        config.nodes(),
        config.keksPerNode(),
        config.hardTtl(),
        config.refreshAhead(),
        load.callsPerSecond(),
        config.formulaCallsPerSecond(),
        load.peak(),
        load.peakToMean());
    // The rate over a window depends on how many bursts fall in it: only the peak is asserted.
    // Every refresh of a KEK comes one interval (plus the wait for its next use) after the last:
    // the deploy's instant repeats, so a few 1 % windows carry all the calls.
    assertThat(load.peakToMean()).isGreaterThan(10.0);
  }

  /** Runs five hard TTLs and measures from the second refresh interval on. */
  private static Load run(Config config) {
    try (FleetSimulation sim = new FleetSimulation(config)) {
      Duration end = config.hardTtl().multipliedBy(5);
      sim.runUntil(end);
      assertThat(sim.failures()).as("caller failures").isEmpty();
      Duration from = config.hardTtl().minus(config.refreshAhead()).multipliedBy(2);
      return measure(sim.calls(), config, from, end);
    }
  }

  // Proof 2: a bucket at half the natural rate is never exceeded in any window, and no caller
  // operation fails while its KEK is within its hard TTL.
  @Test
  void aBucketAtHalfTheNaturalRateIsNeverExceededAndCallersFailOnlyPastTheHardTtl() {
    Config natural = fleet(60, 12, Duration.ofSeconds(24), 0, 0);
    double perNode = natural.formulaCallsPerSecond() / NODES;
    Config limited = fleet(60, 12, Duration.ofSeconds(24), perNode / 2, KEKS);
    try (FleetSimulation sim = new FleetSimulation(limited)) {
      Duration end = limited.hardTtl().multipliedBy(5);
      sim.runUntil(end);

      Map<Integer, List<Long>> byNode = new HashMap<>();
      Map<String, Long> lastSuccess = new HashMap<>(); // node/kek -> start of its last unwrap
      for (Call c : sim.calls()) {
        byNode.computeIfAbsent(c.node(), n -> new ArrayList<>()).add(c.at());
      }
      double rate = limited.ratePerSecond();
      double worst = 0;
      for (List<Long> times : byNode.values()) {
        // In any window [t_i, t_j]: j - i + 1 calls <= burst + rate * (t_j - t_i).
        double minPrefix = Double.MAX_VALUE;
        for (int j = 0; j < times.size(); j++) {
          double here = j - rate * times.get(j) / 1e9;
          minPrefix = Math.min(minPrefix, here);
          worst = Math.max(worst, here - minPrefix + 1);
        }
      }
      long totalCalls = sim.calls().size();
      assertThat(sim.kms().unwrapCalls()).isEqualTo(totalCalls);
      assertThat(worst)
          .as("most calls any node made beyond its bucket's rate in one window")
          .isLessThanOrEqualTo(limited.burst() + 1e-6);

      // Replay the calls and failures in time order: a failure is allowed only once the KEK's
      // last successful unwrap on that node is a hard TTL old.
      List<Object[]> timeline = new ArrayList<>();
      sim.calls().forEach(c -> timeline.add(new Object[] {c.at(), 0, c}));
      sim.failures().forEach(f -> timeline.add(new Object[] {f.at(), 1, f}));
      timeline.sort(
          (a, b) ->
              a[0].equals(b[0])
                  ? Integer.compare((int) a[1], (int) b[1])
                  : Long.compare((long) a[0], (long) b[0]));
      long ttl = limited.hardTtl().toNanos();
      long firstFailure = -1;
      for (Object[] event : timeline) {
        if (event[2] instanceof Call c) {
          if (c.outcome() == AuditEvent.Outcome.SUCCESS) {
            lastSuccess.put(c.node() + "/" + c.kekId(), c.at());
          }
        } else {
          Failure f = (Failure) event[2];
          Long loaded = lastSuccess.get(f.node() + "/" + f.kekId());
          assertThat(loaded).as("a failed KEK was loaded before").isNotNull();
          assertThat(f.at() - loaded)
              .as("failure of %s on node %d while within its hard TTL", f.kekId(), f.node())
              .isGreaterThanOrEqualTo(ttl);
          assertThat(f.error().isRetryable()).isTrue();
          if (firstFailure < 0) {
            firstFailure = f.at();
          }
        }
      }
      long deferred = 0;
      for (int n = 0; n < NODES; n++) {
        deferred += sim.stats(n).deferredCalls();
      }
      System.out.printf(
          "bucket %.3f/s burst %d per node (natural %.3f/s): %d calls, most in one window %.2f"
              + " permits (burst %d); %d of %d caller operations failed, the first at %.1f s;"
              + " %d calls deferred%n",
          rate,
          limited.burst(),
          perNode,
          totalCalls,
          worst,
          limited.burst(),
          sim.failures().size(),
          sim.operations(),
          firstFailure / 1e9,
          deferred);
      assertThat(deferred).isPositive(); // the bucket did hold refreshes back
      assertThat(totalCalls / (end.toNanos() / 1e9))
          .as("fleet calls/s")
          .isLessThanOrEqualTo(rate * NODES + (double) NODES * limited.burst() / 300);
    }
  }

  // Proof 3: the KMS throttles every call for 30 s of a 60 s hard TTL. One node with 100 hot KEKs
  // makes a bounded number of calls during the storm, not 100 x retries, and every KEK is
  // refreshed after it with no caller failure.
  @Test
  void aThrottlingStormCostsABoundedNumberOfCallsAndEveryKekIsRefreshedAfterIt() {
    Config config =
        new Config(
            1,
            100,
            100,
            Duration.ofSeconds(60),
            Duration.ofSeconds(40), // refreshes due from 20 s, the storm's start
            Duration.ZERO,
            0,
            0,
            Duration.ofSeconds(1),
            7L);
    try (FleetSimulation sim = new FleetSimulation(config)) {
      sim.runUntil(Duration.ofSeconds(20));
      int before = sim.calls().size();
      assertThat(before).isEqualTo(100); // the initial loads
      sim.kms().throttleAllCalls(true);
      sim.runUntil(Duration.ofSeconds(50));
      sim.kms().throttleAllCalls(false);
      List<Call> storm = List.copyOf(sim.calls().subList(before, sim.calls().size()));
      int stormCalls = storm.size();

      // KmsRateControl: back-off from 1 s doubling to its cap (refreshAhead / 4 = 10 s), one probe
      // per back-off: at most 1 + ceil(log2(cap / 1 s)) + ceil(storm / cap) calls.
      double cap = 10;
      int bound = 1 + (int) Math.ceil(Math.log(cap) / Math.log(2)) + (int) Math.ceil(30 / cap);
      assertThat(storm).allMatch(c -> c.outcome() == AuditEvent.Outcome.UNAVAILABLE);
      assertThat(stormCalls).isBetween(1, bound);

      sim.runUntil(Duration.ofSeconds(60));
      Map<String, Long> lastSuccess = new HashMap<>();
      for (Call c : sim.calls()) {
        if (c.outcome() == AuditEvent.Outcome.SUCCESS) {
          lastSuccess.put(c.kekId(), c.at());
        }
      }
      assertThat(lastSuccess).hasSize(100);
      assertThat(lastSuccess.values())
          .as("every KEK refreshed after the storm, before its hard TTL")
          .allMatch(at -> at >= Duration.ofSeconds(50).toNanos());
      sim.runUntil(Duration.ofSeconds(180));
      assertThat(sim.failures()).as("caller failures").isEmpty();
      var stats = sim.stats(0);
      assertThat(stats.throttledCalls()).isEqualTo(stormCalls);
      assertThat(stats.deferredCalls()).isPositive();
      System.out.printf(
          "throttling storm 30 s, 1 node x 100 KEKs: %d calls during the storm (bound %d), at %s s;"
              + " %d refreshes deferred; all 100 refreshed by %.1f s; %d caller operations, none"
              + " failed%n",
          stormCalls,
          bound,
          storm.stream().map(c -> String.format("%.1f", c.at() / 1e9)).toList(),
          stats.deferredCalls(),
          lastSuccess.values().stream().mapToLong(Long::longValue).max().orElse(0) / 1e9,
          sim.operations());
    }
  }
}
