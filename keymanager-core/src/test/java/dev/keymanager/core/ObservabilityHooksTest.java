package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.keymanager.AuditCorrelation;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

/**
 * The hooks a metrics or tracing binding needs from a built key manager: listeners added after
 * build, the cache's occupancy in {@code stats()}, and the correlation id in the SLF4J MDC.
 */
class ObservabilityHooksTest {
  private static final URI CMK = FakeKms.cmk("observed");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");
  private static final Duration TTL = Duration.ofMinutes(5);

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final KekStore store = KekStores.inMemory();
  private DefaultKeyManager keys;

  @AfterEach
  void close() {
    if (keys != null) {
      keys.close();
    }
    MDC.clear();
  }

  private DefaultKeyManager open(KmsProvider provider) {
    keys =
        (DefaultKeyManager)
            KeyManagers.builder()
                .kekStore(store)
                .kmsProvider(provider)
                .discoverProviders(false)
                .hardTtl(TTL)
                .refreshAhead(Duration.ofMinutes(1))
                .clock(clock)
                .build();
    return keys;
  }

  @Test
  void aListenerAddedAfterBuildReceivesTheEventsThatEndFromThenOn() {
    open(kms);
    keys.admin().createKek("before", CMK);
    List<AuditEvent> events = new CopyOnWriteArrayList<>();

    keys.addAuditListener(events::add);
    keys.admin().createKek("after", CMK);

    assertThat(events)
        .extracting(AuditEvent::type, AuditEvent::kekId)
        .containsExactly(
            tuple(AuditEvent.Type.KMS_WRAP, "after"), tuple(AuditEvent.Type.CREATE, "after"));
  }

  @Test
  void statsReportTheCachedKeksAndTheOldestOnesTimeLeftBeforeItsHardTtl() {
    open(kms);
    assertThat(keys.stats().cachedKeks()).isZero();
    assertThat(keys.stats().oldestKekTimeLeft()).isEmpty();
    assertThat(keys.stats().hardTtl()).isEqualTo(TTL);

    keys.admin().createKek("first", CMK); // cached at creation: 5 minutes left
    WrappedKey first = keys.generateDek("first", CONTEXT).wrappedKey();
    clock.advance(Duration.ofMinutes(1));
    keys.admin().createKek("second", CMK);

    KeyManagerStats stats = keys.stats();
    assertThat(stats.cachedKeks()).isEqualTo(2);
    assertThat(stats.loadsInFlight()).isZero();
    assertThat(stats.oldestKekTimeLeft()).contains(Duration.ofMinutes(4));

    // An outage: the refresh of "first" fails, and its time left keeps falling.
    kms.failAllCalls(true);
    clock.advance(Duration.ofMinutes(3).plusSeconds(30));
    keys.unwrapDek(first, CONTEXT).close(); // served from the cache; starts the refresh
    keys.awaitBackgroundLoads();
    assertThat(keys.stats().transientFailures()).isEqualTo(1);
    assertThat(keys.stats().oldestKekTimeLeft()).contains(Duration.ofSeconds(30));

    // The KMS is back: the next refresh renews "first", so "second" is now the oldest.
    kms.failAllCalls(false);
    clock.advance(TTL.dividedBy(32));
    keys.unwrapDek(first, CONTEXT).close();
    keys.awaitBackgroundLoads();
    assertThat(keys.stats().refreshes()).isEqualTo(1);
    assertThat(keys.stats().oldestKekTimeLeft())
        .contains(Duration.ofSeconds(90).minus(TTL.dividedBy(32))); // "second" expires at 6 min

    keys.close();
    assertThat(keys.stats().cachedKeks()).isZero();
    assertThat(keys.stats().oldestKekTimeLeft()).isEmpty();
  }

  @Test
  void loadsInFlightCountsOneUnwrapPerKekWhileTheKmsHasNotAnswered() throws Exception {
    WrappedKey wrapped;
    try (DefaultKeyManager writer = open(kms)) {
      writer.admin().createKek("cold", CMK);
      wrapped = writer.generateDek("cold", CONTEXT).wrappedKey();
    }
    GatedKms gated = new GatedKms(kms);
    open(gated); // the KEK is cold here

    CompletableFuture<Void> first =
        CompletableFuture.runAsync(() -> keys.unwrapDek(wrapped, CONTEXT).close());
    CompletableFuture<Void> second =
        CompletableFuture.runAsync(() -> keys.unwrapDek(wrapped, CONTEXT).close());
    gated.awaitArrivals(1);
    assertThat(keys.stats().loadsInFlight()).isEqualTo(1);
    assertThat(keys.stats().cachedKeks()).isZero();

    gated.open();
    CompletableFuture.allOf(first, second).join();
    keys.awaitBackgroundLoads();
    assertThat(keys.stats().loadsInFlight()).isZero();
    assertThat(keys.stats().cachedKeks()).isEqualTo(1);
  }

  @Test
  void theCorrelationIdIsInTheMdcDuringEachKmsCallAndLifecycleStepOnly() {
    List<String> duringKmsCalls = new CopyOnWriteArrayList<>();
    List<String> duringEvents = new CopyOnWriteArrayList<>();
    open(new MdcRecordingKms(kms, duringKmsCalls));
    keys.addAuditListener(e -> duringEvents.add(e.type() + "=" + MDC.get(KmsAudit.MDC_KEY)));
    MDC.put(KmsAudit.MDC_KEY, "outer");

    try (AuditCorrelation.Scope scope = AuditCorrelation.open("change-4711")) {
      keys.admin().createKek("orders", CMK);
      assertThat(MDC.get(KmsAudit.MDC_KEY)).isEqualTo("outer"); // restored after the step
    }
    MDC.remove(KmsAudit.MDC_KEY);
    keys.admin().rotateKek("orders"); // no correlation id: nothing put in the MDC

    assertThat(duringKmsCalls).containsExactly("change-4711", null);
    assertThat(duringEvents)
        .containsExactly(
            "KMS_WRAP=change-4711", "CREATE=change-4711", "KMS_WRAP=null", "ROTATE=null");
    assertThat(MDC.get(KmsAudit.MDC_KEY)).isNull();
  }

  @Test
  void aHealthyNodeLogsNothingPerOperationAboveDebug() {
    open(kms);
    keys.admin().createKek("orders", CMK);
    ch.qos.logback.classic.Logger root =
        (ch.qos.logback.classic.Logger)
            org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> lines =
        new ch.qos.logback.core.read.ListAppender<>();
    ch.qos.logback.classic.Level previous = root.getLevel();
    root.setLevel(ch.qos.logback.classic.Level.TRACE);
    lines.start();
    root.addAppender(lines);
    try {
      for (int i = 0; i < 100; i++) {
        WrappedKey wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
        keys.unwrapDek(wrapped, CONTEXT).close();
        clock.advance(Duration.ofSeconds(5)); // 500 s: crosses the refresh window once
        keys.awaitBackgroundLoads();
      }
    } finally {
      root.detachAppender(lines);
      root.setLevel(previous);
    }

    // Above DEBUG: only the audit line of each KMS call (the refreshes), none per operation.
    assertThat(keys.stats().refreshes()).isPositive();
    assertThat(
            lines.list.stream()
                .filter(e -> e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.INFO))
                .map(e -> e.getLoggerName() + " " + e.getFormattedMessage().split(" ")[0]))
        .hasSize((int) keys.stats().kmsCalls() - 1) // minus the creation's wrap, before capture
        .allMatch(line -> line.equals("dev.keymanager.audit kms"));
  }

  /** Passes calls to a provider and records the MDC correlation entry seen during each wrap. */
  private static final class MdcRecordingKms implements KmsProvider {
    private final KmsProvider delegate;
    private final List<String> seen;

    MdcRecordingKms(KmsProvider delegate, List<String> seen) {
      this.delegate = delegate;
      this.seen = seen;
    }

    @Override
    public String scheme() {
      return delegate.scheme();
    }

    @Override
    public KmsUnwrapper unwrapper(URI cmkUri) {
      return delegate.unwrapper(cmkUri);
    }

    @Override
    public Optional<KmsWrapper> wrapper(URI cmkUri) {
      return delegate
          .wrapper(cmkUri)
          .map(
              w ->
                  new KmsWrapper() {
                    @Override
                    public URI cmkUri() {
                      return cmkUri;
                    }

                    @Override
                    public byte[] wrap(byte[] plaintext, KeyContext context) {
                      seen.add(MDC.get(KmsAudit.MDC_KEY));
                      return w.wrap(plaintext, context);
                    }
                  });
    }
  }
}
