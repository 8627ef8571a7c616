package dev.keymanager.micrometer;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.read.ListAppender;
import dev.keymanager.AuditCorrelation;
import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The real Prometheus registry's scrape of a key manager that went through every outcome: every
 * line parses as the text exposition format, the series hold the exact values, and neither the
 * scrape nor any log line written meanwhile (DEBUG and up, MDC included) carries key material.
 */
class PrometheusScrapeTest {
  /** {@code name{label="value",...} number}, the text format's sample line. */
  private static final Pattern SAMPLE =
      Pattern.compile(
          "([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\]|\\\\.)*\",?)*)\\})?"
              + " (-?[0-9.eE+-]+|NaN|[+-]Inf)");

  private static final Pattern LABEL =
      Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");
  private static final Pattern COMMENT =
      Pattern.compile("# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*");

  private final MeteredKeys fixture = new MeteredKeys();
  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
  private final Logger root = (Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
  private Level previousLevel;

  @BeforeEach
  void captureLogs() {
    previousLevel = root.getLevel();
    root.setLevel(Level.DEBUG);
    logs.start();
    root.addAppender(logs);
  }

  @AfterEach
  void close() {
    root.detachAppender(logs);
    root.setLevel(previousLevel);
    fixture.close();
    registry.close();
  }

  /** One parsed sample: its name, labels and value. */
  private record Sample(String name, Map<String, String> labels, double value) {}

  private static List<Sample> parse(String scrape) {
    List<Sample> samples = new ArrayList<>();
    for (String line : scrape.split("\n")) {
      if (line.startsWith("#")) {
        assertThat(line).matches(COMMENT);
        continue;
      }
      Matcher m = SAMPLE.matcher(line);
      assertThat(m.matches()).as("a sample line: %s", line).isTrue();
      Map<String, String> labels = new LinkedHashMap<>();
      if (m.group(2) != null) {
        Matcher l = LABEL.matcher(m.group(2));
        while (l.find()) {
          labels.put(l.group(1), l.group(2));
        }
      }
      samples.add(new Sample(m.group(1), labels, Double.parseDouble(m.group(3))));
    }
    return samples;
  }

  private static double value(List<Sample> samples, String name, String... labels) {
    List<Sample> found = new ArrayList<>();
    for (Sample s : samples) {
      boolean match = s.name().equals(name);
      for (int i = 0; match && i < labels.length; i += 2) {
        match = labels[i + 1].equals(s.labels().get(labels[i]));
      }
      if (match) {
        found.add(s);
      }
    }
    assertThat(found).as("%s %s", name, List.of(labels)).hasSize(1);
    return found.get(0).value();
  }

  @Test
  void theScrapeParsesAndHoldsEveryMetricWithExactValues() {
    KeyManagerMetrics.monitor(registry, fixture.keys, Tags.of("keymanager", "orders"));
    fixture.driveEveryOutcome();

    List<Sample> samples = parse(registry.scrape());

    assertThat(samples)
        .allSatisfy(s -> assertThat(s.labels()).containsEntry("keymanager", "orders"));
    assertThat(value(samples, "keymanager_kms_calls_total")).isEqualTo(8);
    assertThat(value(samples, "keymanager_kms_denials_total")).isEqualTo(2);
    assertThat(value(samples, "keymanager_kms_transient_failures_total")).isEqualTo(2);
    assertThat(value(samples, "keymanager_cache_loads_total")).isEqualTo(1);
    assertThat(value(samples, "keymanager_cache_misses_total")).isEqualTo(3);
    assertThat(value(samples, "keymanager_cache_hard_ttl_seconds")).isEqualTo(300);
    assertThat(value(samples, "keymanager_cache_loads_inflight")).isZero();
    assertThat(value(samples, "keymanager_cache_size"))
        .isEqualTo(fixture.keys.stats().cachedKeks());
    String[][] calls = {
      {"wrap", "success", "2"},
      {"wrap", "denied", "1"},
      {"wrap", "unavailable", "1"},
      {"unwrap", "success", "1"},
      {"unwrap", "denied", "1"},
      {"unwrap", "unavailable", "1"},
      {"unwrap", "invalid", "1"}
    };
    for (String[] c : calls) {
      assertThat(
              value(
                  samples,
                  "keymanager_kms_call_duration_seconds_count",
                  "scheme",
                  "fake-kms",
                  "operation",
                  c[0],
                  "outcome",
                  c[1]))
          .isEqualTo(Double.parseDouble(c[2]));
      // the percentile histogram that a p99 alert reads: its +Inf bucket holds every call
      assertThat(
              value(
                  samples,
                  "keymanager_kms_call_duration_seconds_bucket",
                  "operation",
                  c[0],
                  "outcome",
                  c[1],
                  "le",
                  "+Inf"))
          .isEqualTo(Double.parseDouble(c[2]));
    }
    assertThat(
            value(
                samples,
                "keymanager_lifecycle_steps_total",
                "operation",
                "rotate",
                "outcome",
                "refused"))
        .isEqualTo(1);
    assertThat(
            value(
                samples,
                "keymanager_lifecycle_steps_total",
                "operation",
                "import",
                "outcome",
                "invalid"))
        .isEqualTo(1);
  }

  @Test
  void neitherTheScrapeNorAnyLogLineCarriesKeyMaterial() {
    KeyManagerMetrics.builder(fixture.keys)
        .tags(Tags.of("keymanager", "orders"))
        .kekIdTag(true)
        .cmkTag(true)
        .build()
        .bindTo(registry);
    try (AuditCorrelation.Scope scope = AuditCorrelation.open("req-1")) {
      fixture.driveEveryOutcome();
    }

    StringBuilder text = new StringBuilder(registry.scrape());
    for (ILoggingEvent e : logs.list) {
      text.append(e.getFormattedMessage()).append(e.getMDCPropertyMap()).append('\n');
      for (IThrowableProxy t = e.getThrowableProxy(); t != null; t = t.getCause()) {
        text.append(t.getClassName()).append(": ").append(t.getMessage()).append('\n');
      }
    }
    String all = text.toString();

    assertThat(fixture.secrets).hasSizeGreaterThanOrEqualTo(5); // KEKs wrapped/unwrapped, DEKs
    assertThat(logs.list).isNotEmpty();
    for (byte[] secret : fixture.secrets) {
      assertThat(all)
          .doesNotContain(HexFormat.of().formatHex(secret))
          .doesNotContain(HexFormat.of().withUpperCase().formatHex(secret))
          .doesNotContain(Base64.getEncoder().encodeToString(secret))
          .doesNotContain(Base64.getUrlEncoder().withoutPadding().encodeToString(secret))
          .doesNotContain(new String(secret, ISO_8859_1));
    }
  }
}
