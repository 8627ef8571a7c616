package dev.keymanager.micrometer;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.spi.AuditEvent;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.net.URI;
import java.time.Duration;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Locale;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * Binds a {@link KeyManager} to a Micrometer {@link MeterRegistry}: its cache and KMS counters, the
 * latency of every KMS call, the cache's occupancy and its lifecycle steps.
 *
 * <pre>{@code
 * KeyManagerMetrics.monitor(registry, keys, Tags.of("keymanager", "orders"));
 * }</pre>
 *
 * <table>
 *   <caption>The meters (all carry the tags given here)</caption>
 *   <tr><th>name</th><th>type</th><th>what it counts or shows</th></tr>
 *   <tr><td>{@code keymanager.cache.hits}, {@code .misses}, {@code .loads}, {@code .refreshes},
 *       {@code .evictions}</td><td>function counter</td><td>{@link KeyManagerStats}</td></tr>
 *   <tr><td>{@code keymanager.kms.calls}, {@code keymanager.kms.denials}, {@code
 *       keymanager.kms.transient.failures}</td><td>function counter</td><td>{@link
 *       KeyManagerStats}</td></tr>
 *   <tr><td>{@code keymanager.store.unreadable.records}</td><td>function counter</td><td>{@link
 *       KeyManagerStats#unreadableRecords()}</td></tr>
 *   <tr><td>{@code keymanager.cache.size}, {@code keymanager.cache.loads.inflight}</td>
 *       <td>gauge</td><td>cached KEK versions, unwraps running</td></tr>
 *   <tr><td>{@code keymanager.cache.hard.ttl}, {@code keymanager.cache.oldest.time.left}</td>
 *       <td>gauge, seconds</td><td>the hard TTL; the time left before the oldest cached KEK's
 *       hard TTL (NaN with nothing cached)</td></tr>
 *   <tr><td>{@code keymanager.kms.call.duration}</td><td>timer, with a percentile histogram</td>
 *       <td>every KMS call, tagged {@code scheme}, {@code operation} ({@code wrap}, {@code
 *       unwrap}) and {@code outcome}</td></tr>
 *   <tr><td>{@code keymanager.lifecycle.steps}</td><td>counter</td><td>every lifecycle step,
 *       tagged {@code operation} ({@code create}, {@code rotate}, {@code disable}, ...) and {@code
 *       outcome}</td></tr>
 * </table>
 *
 * <p>Outcomes are {@code success}, {@code denied}, {@code unavailable}, {@code invalid} (the KMS
 * could not authenticate the material), {@code refused} (the KEK's state forbids the step) and
 * {@code failed} (anything else). By default no meter is tagged with a KEK id or a CMK URI, which
 * would make one time series per KEK; {@link Builder#kekIdTag} and {@link Builder#cmkTag} add them
 * to the timer and the lifecycle counter where the number of KEKs and CMKs is small. No meter ever
 * carries key material.
 *
 * <p>The KMS and lifecycle meters are fed by an {@link dev.keymanager.spi.AuditListener} that
 * {@link #bindTo} adds to the key manager, so they count from the binding on; the function counters
 * read {@link KeyManager#stats()} and so count from the key manager's start. Binding again to the
 * same registry changes nothing. Thread-safe.
 */
public final class KeyManagerMetrics implements MeterBinder {
  private final KeyManager keys;
  private final Tags tags;
  private final boolean kekIdTag;
  private final boolean cmkTag;
  private final Set<MeterRegistry> bound = Collections.newSetFromMap(new IdentityHashMap<>());

  private KeyManagerMetrics(Builder builder) {
    this.keys = builder.keys;
    this.tags = builder.tags;
    this.kekIdTag = builder.kekIdTag;
    this.cmkTag = builder.cmkTag;
  }

  /**
   * Binds {@code keys} to {@code registry} with the default options and {@code tags} on every
   * meter, and returns the binding.
   */
  public static KeyManagerMetrics monitor(
      MeterRegistry registry, KeyManager keys, Iterable<Tag> tags) {
    requireNonNull(registry, "registry");
    KeyManagerMetrics metrics = builder(keys).tags(tags).build();
    metrics.bindTo(registry);
    return metrics;
  }

  /** A builder of the binding of {@code keys}, for options beyond {@link #monitor}'s. */
  public static Builder builder(KeyManager keys) {
    return new Builder(requireNonNull(keys, "keys"));
  }

  /** Options of a {@link KeyManagerMetrics}. */
  public static final class Builder {
    private final KeyManager keys;
    private Tags tags = Tags.empty();
    private boolean kekIdTag;
    private boolean cmkTag;

    private Builder(KeyManager keys) {
      this.keys = keys;
    }

    /**
     * Tags on every meter, such as the name of the key manager when a process runs several; none by
     * default.
     */
    public Builder tags(Iterable<Tag> tags) {
      this.tags = Tags.of(requireNonNull(tags, "tags"));
      return this;
    }

    /**
     * Whether the KMS timer and the lifecycle counter carry a {@code kek} tag with the KEK id; off
     * by default, as it makes one time series per KEK. KEK ids are not secret, but may name
     * customers.
     */
    public Builder kekIdTag(boolean kekIdTag) {
      this.kekIdTag = kekIdTag;
      return this;
    }

    /**
     * Whether the KMS timer and the lifecycle counter carry a {@code cmk} tag with the CMK URI, for
     * latency and denials per CMK; off by default, as it makes one time series per CMK.
     */
    public Builder cmkTag(boolean cmkTag) {
      this.cmkTag = cmkTag;
      return this;
    }

    public KeyManagerMetrics build() {
      return new KeyManagerMetrics(this);
    }
  }

  /**
   * Registers the meters on {@code registry} and starts feeding the KMS timer and lifecycle counter
   * from the key manager's audit events. Does nothing if this binding is already bound to it.
   */
  @Override
  public void bindTo(MeterRegistry registry) {
    requireNonNull(registry, "registry");
    synchronized (bound) {
      if (!bound.add(registry)) {
        return;
      }
    }
    counter(registry, "keymanager.cache.hits", "KEK lookups served from the cache", s -> s.hits());
    counter(
        registry,
        "keymanager.cache.misses",
        "KEK lookups that found no usable cached KEK",
        s -> s.misses());
    counter(
        registry,
        "keymanager.cache.loads",
        "KEKs unwrapped through the KMS on a miss and cached",
        s -> s.loads());
    counter(
        registry,
        "keymanager.cache.refreshes",
        "background re-unwraps of cached KEKs before their hard TTL",
        s -> s.refreshes());
    counter(
        registry,
        "keymanager.cache.evictions",
        "cached KEKs dropped (expiry, size, invalidation, denial, close) and overwritten",
        s -> s.evictions());
    counter(
        registry,
        "keymanager.kms.calls",
        "KMS calls made (unwraps and wraps, successful or not)",
        s -> s.kmsCalls());
    counter(registry, "keymanager.kms.denials", "KMS calls the KMS refused", s -> s.denials());
    counter(
        registry,
        "keymanager.kms.transient.failures",
        "KMS calls that failed transiently (timeout, throttling, outage)",
        s -> s.transientFailures());
    counter(
        registry,
        "keymanager.store.unreadable.records",
        "unreadable KEK records skipped by listing or destruction",
        s -> s.unreadableRecords());

    gauge(
        registry,
        "keymanager.cache.size",
        "KEK versions cached and not past their hard TTL",
        null,
        s -> s.cachedKeks());
    gauge(
        registry,
        "keymanager.cache.loads.inflight",
        "KEK unwraps running now (misses and refreshes)",
        null,
        s -> s.loadsInFlight());
    gauge(
        registry,
        "keymanager.cache.hard.ttl",
        "the hard TTL: how long a KEK is used after its KMS unwrap",
        "seconds",
        s -> seconds(s.hardTtl()));
    gauge(
        registry,
        "keymanager.cache.oldest.time.left",
        "time left before the hard TTL of the cached KEK unwrapped longest ago; NaN if none",
        "seconds",
        s -> s.oldestKekTimeLeft().map(KeyManagerMetrics::seconds).orElse(Double.NaN));

    keys.addAuditListener(event -> record(registry, event));
  }

  private void counter(
      MeterRegistry registry,
      String name,
      String description,
      ToDoubleFunction<KeyManagerStats> f) {
    FunctionCounter.builder(name, keys, k -> f.applyAsDouble(k.stats()))
        .description(description)
        .tags(tags)
        .register(registry);
  }

  /** A gauge over {@code stats()}; {@code unit} is null for a plain count. */
  private void gauge(
      MeterRegistry registry,
      String name,
      String description,
      String unit,
      ToDoubleFunction<KeyManagerStats> f) {
    Gauge.builder(name, keys, k -> f.applyAsDouble(k.stats()))
        .description(description)
        .baseUnit(unit)
        .tags(tags)
        .register(registry);
  }

  private void record(MeterRegistry registry, AuditEvent event) {
    Tags eventTags = tags.and("outcome", outcome(event.outcome()));
    if (kekIdTag) {
      eventTags = eventTags.and("kek", event.kekId());
    }
    if (cmkTag) {
      eventTags = eventTags.and("cmk", event.cmkUri().map(URI::toString).orElse("none"));
    }
    if (event.type().isKmsCall()) {
      Timer.builder("keymanager.kms.call.duration")
          .description("KMS calls by provider scheme, operation and outcome")
          .tags(eventTags)
          .tag("scheme", event.cmkUri().map(URI::getScheme).orElse("none"))
          .tag("operation", event.type() == AuditEvent.Type.KMS_WRAP ? "wrap" : "unwrap")
          .publishPercentileHistogram()
          .minimumExpectedValue(Duration.ofMillis(1))
          .maximumExpectedValue(Duration.ofSeconds(30))
          .register(registry)
          .record(event.duration());
    } else {
      Counter.builder("keymanager.lifecycle.steps")
          .description("KEK lifecycle steps by operation and outcome")
          .tags(eventTags)
          .tag("operation", event.type().name().toLowerCase(Locale.ROOT).replace('_', '-'))
          .register(registry)
          .increment();
    }
  }

  /** The outcome tag value: one word per {@link AuditEvent.Outcome}. */
  static String outcome(AuditEvent.Outcome outcome) {
    return switch (outcome) {
      case SUCCESS -> "success";
      case DENIED -> "denied";
      case UNAVAILABLE -> "unavailable";
      case INVALID_CIPHERTEXT -> "invalid";
      case REFUSED -> "refused";
      case FAILED -> "failed";
    };
  }

  private static double seconds(Duration d) {
    return d.toNanos() / 1e9;
  }

  @Override
  public String toString() {
    return "KeyManagerMetrics[" + keys + ", tags=" + tags + "]";
  }
}
