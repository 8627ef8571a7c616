package dev.keymanager.micrometer;

import static dev.keymanager.micrometer.MeteredKeys.CMK;
import static dev.keymanager.micrometer.MeteredKeys.TTL;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyManagerStats;
import dev.keymanager.WrappedKey;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class KeyManagerMetricsTest {
  private static final Tags NAME = Tags.of("keymanager", "orders");

  private final MeteredKeys fixture = new MeteredKeys();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @AfterEach
  void close() {
    fixture.close();
    registry.close();
  }

  private double counter(String name) {
    return registry.get(name).tags(NAME).functionCounter().count();
  }

  private double gauge(String name) {
    return registry.get(name).tags(NAME).gauge().value();
  }

  /** Timer counts by "operation/outcome", all with the scheme fake-kms. */
  private Map<String, Long> kmsCalls() {
    Map<String, Long> counts = new TreeMap<>();
    for (Timer t : registry.get("keymanager.kms.call.duration").tags(NAME).timers()) {
      assertThat(t.getId().getTag("scheme")).isEqualTo("fake-kms");
      counts.put(t.getId().getTag("operation") + "/" + t.getId().getTag("outcome"), t.count());
    }
    return counts;
  }

  /** Lifecycle step counts by "operation/outcome". */
  private Map<String, Double> lifecycleSteps() {
    Map<String, Double> counts = new TreeMap<>();
    registry
        .get("keymanager.lifecycle.steps")
        .tags(NAME)
        .counters()
        .forEach(
            c ->
                counts.put(
                    c.getId().getTag("operation") + "/" + c.getId().getTag("outcome"), c.count()));
    return counts;
  }

  @Test
  void everyKmsCallIsTimedBySchemeOperationAndOutcome() {
    KeyManagerMetrics.monitor(registry, fixture.keys, NAME);
    fixture.kms.latency(Duration.ofMillis(5));

    fixture.driveEveryOutcome();

    assertThat(kmsCalls())
        .containsExactlyEntriesOf(
            new TreeMap<>(
                Map.of(
                    "unwrap/denied", 1L,
                    "unwrap/invalid", 1L,
                    "unwrap/success", 1L,
                    "unwrap/unavailable", 1L,
                    "wrap/denied", 1L,
                    "wrap/success", 2L,
                    "wrap/unavailable", 1L)));
    // The timer records the audit events' durations: each call slept in the fake KMS.
    Timer ok =
        registry
            .get("keymanager.kms.call.duration")
            .tags("operation", "wrap", "outcome", "success")
            .timer();
    assertThat(ok.totalTime(TimeUnit.MILLISECONDS)).isGreaterThanOrEqualTo(2 * 5.0);
    assertThat(ok.max(TimeUnit.MILLISECONDS)).isGreaterThanOrEqualTo(5.0);
  }

  @Test
  void theFunctionCountersReadStatsExactly() {
    KeyManagerMetrics.monitor(registry, fixture.keys, NAME);

    fixture.driveEveryOutcome();

    KeyManagerStats stats = fixture.keys.stats();
    assertThat(stats.kmsCalls()).isEqualTo(8);
    assertThat(counter("keymanager.kms.calls")).isEqualTo(8);
    assertThat(counter("keymanager.kms.denials")).isEqualTo(2);
    assertThat(counter("keymanager.kms.transient.failures")).isEqualTo(2);
    assertThat(counter("keymanager.cache.loads")).isEqualTo(1);
    assertThat(counter("keymanager.cache.hits")).isEqualTo(stats.hits());
    assertThat(counter("keymanager.cache.misses")).isEqualTo(3); // ok, denied, unavailable
    assertThat(counter("keymanager.cache.refreshes")).isZero();
    assertThat(counter("keymanager.cache.evictions")).isEqualTo(stats.evictions()).isPositive();
    assertThat(counter("keymanager.store.unreadable.records")).isZero();
  }

  @Test
  void lifecycleStepsAreCountedByOperationAndOutcome() {
    KeyManagerMetrics.monitor(registry, fixture.keys, NAME);

    fixture.driveEveryOutcome();

    assertThat(lifecycleSteps())
        .containsExactlyEntriesOf(
            new TreeMap<>(
                Map.of(
                    "create/success", 1.0,
                    "create/denied", 1.0,
                    "create/unavailable", 1.0,
                    "rotate/success", 1.0,
                    "rotate/refused", 1.0,
                    "disable/success", 1.0,
                    "import/invalid", 1.0)));
  }

  @Test
  void gaugesShowTheCacheAndTheOldestKeksTimeLeftBeforeItsHardTtl() {
    KeyManagerMetrics.monitor(registry, fixture.keys, NAME);
    assertThat(gauge("keymanager.cache.size")).isZero();
    assertThat(gauge("keymanager.cache.oldest.time.left")).isNaN();
    assertThat(gauge("keymanager.cache.hard.ttl")).isEqualTo(300.0);
    assertThat(gauge("keymanager.cache.loads.inflight")).isZero();

    fixture.keys.admin().createKek("orders", CMK);
    WrappedKey wrapped = fixture.dek("orders");
    fixture.clock.advance(Duration.ofSeconds(200));
    fixture.keys.admin().createKek("invoices", CMK);
    assertThat(gauge("keymanager.cache.size")).isEqualTo(2);
    assertThat(gauge("keymanager.cache.oldest.time.left")).isEqualTo(100.0);

    // A KMS outage: the refresh of "orders" fails and its time left runs down towards zero.
    fixture.kms.failAllCalls(true);
    fixture.clock.advance(Duration.ofSeconds(50)); // in the refresh window (last minute)
    fixture.dek(wrapped);
    awaitNoLoads();
    assertThat(counter("keymanager.kms.transient.failures")).isEqualTo(1);
    assertThat(gauge("keymanager.cache.oldest.time.left")).isEqualTo(50.0);
    assertThat(gauge("keymanager.cache.oldest.time.left") / gauge("keymanager.cache.hard.ttl"))
        .isLessThan(0.2); // the alert in docs/operations.md fires here

    // The KMS is back: the next refresh renews "orders"; "invoices" is now the oldest.
    fixture.kms.failAllCalls(false);
    fixture.clock.advance(TTL.dividedBy(32));
    fixture.dek(wrapped);
    awaitNoLoads();
    assertThat(counter("keymanager.cache.refreshes")).isEqualTo(1);
    assertThat(gauge("keymanager.cache.oldest.time.left"))
        .isEqualTo(300.0 - 50.0 - TTL.dividedBy(32).toNanos() / 1e9);

    fixture.keys.close();
    assertThat(gauge("keymanager.cache.size")).isZero();
    assertThat(gauge("keymanager.cache.oldest.time.left")).isNaN();
  }

  /** Background refreshes run on the KMS executor; wait (boundedly) for them to finish. */
  private void awaitNoLoads() {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (fixture.keys.stats().loadsInFlight() > 0) {
      assertThat(System.nanoTime()).as("loads still running after 30 s").isLessThan(deadline);
      Thread.onSpinWait();
    }
  }

  @Test
  void noMeterCarriesAKekIdOrCmkUnlessAskedTo() {
    KeyManagerMetrics.monitor(registry, fixture.keys, NAME);
    fixture.driveEveryOutcome();

    for (Meter meter : registry.getMeters()) {
      for (Tag tag : meter.getId().getTags()) {
        assertThat(tag.getKey()).isNotIn("kek", "cmk");
        assertThat(tag.getValue())
            .doesNotContain("orders-cmk")
            .doesNotContain("imported")
            .doesNotContain("outage");
      }
    }
  }

  @Test
  void kekIdAndCmkTagsAreOptIn() {
    KeyManagerMetrics.builder(fixture.keys)
        .tags(NAME)
        .kekIdTag(true)
        .cmkTag(true)
        .build()
        .bindTo(registry);

    fixture.keys.admin().createKek("orders", CMK);

    assertThat(
            registry
                .get("keymanager.kms.call.duration")
                .tags("kek", "orders", "cmk", CMK.toString(), "operation", "wrap")
                .timer()
                .count())
        .isEqualTo(1);
    assertThat(
            registry
                .get("keymanager.lifecycle.steps")
                .tags("kek", "orders", "cmk", CMK.toString(), "operation", "create")
                .counter()
                .count())
        .isEqualTo(1);
  }

  @Test
  void bindingTwiceToOneRegistryCountsOnce() {
    KeyManagerMetrics metrics = KeyManagerMetrics.builder(fixture.keys).tags(NAME).build();
    metrics.bindTo(registry);
    metrics.bindTo(registry);

    fixture.keys.admin().createKek("orders", CMK);

    assertThat(registry.get("keymanager.kms.call.duration").timer().count()).isEqualTo(1);
    assertThat(registry.get("keymanager.lifecycle.steps").counter().count()).isEqualTo(1);
  }
}
