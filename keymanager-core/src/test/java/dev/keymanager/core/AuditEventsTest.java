package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.keymanager.AuditCorrelation;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.AuditEvent.Outcome;
import dev.keymanager.spi.AuditEvent.Type;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class AuditEventsTest {
  private static final URI CMK = FakeKms.cmk("audited");
  private static final URI NEW_CMK = FakeKms.cmk("audited-2");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final List<AuditEvent> events = new CopyOnWriteArrayList<>();
  private final ListAppender<ILoggingEvent> lines = new ListAppender<>();
  private KeyManager keys;
  private Level previousLevel;

  @BeforeEach
  void setUp() {
    Logger audit = (Logger) LoggerFactory.getLogger("dev.keymanager.audit");
    previousLevel = audit.getLevel();
    audit.setLevel(Level.INFO);
    lines.start();
    audit.addAppender(lines);
    keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .minimumDestructionWindow(Duration.ZERO)
            .auditListener(events::add)
            .auditListener(
                e -> {
                  throw new IllegalStateException("a broken listener");
                })
            .build();
  }

  @AfterEach
  void tearDown() {
    keys.close();
    Logger audit = (Logger) LoggerFactory.getLogger("dev.keymanager.audit");
    audit.detachAppender(lines);
    audit.setLevel(previousLevel);
  }

  @Test
  void everyLifecycleStepAndKmsCallEmitsOneEventWithTheCallersCorrelationId() {
    WrappedKey wrapped;
    try (AuditCorrelation.Scope scope = AuditCorrelation.open("change-4711")) {
      keys.admin().createKek("orders", CMK);
      wrapped = keys.generateDek("orders", CONTEXT).wrappedKey();
      keys.admin().rotateKek("orders");
      keys.rewrapDek(wrapped, CONTEXT);
      keys.rewrapDeks(
          List.of(new RewrapRequest(wrapped, CONTEXT)).iterator(),
          RewrapProgress.START,
          (p, b, a) -> {});
      keys.admin().setMinimumDecryptionVersion("orders", 2);
      keys.admin().changeCmk("orders", NEW_CMK);
      keys.admin().disableKek("orders");
      keys.admin().enableKek("orders");
      keys.admin().scheduleKekDestruction("orders", Duration.ofDays(1));
      keys.admin().cancelKekDestruction("orders");
      keys.admin().scheduleKekDestruction("orders", Duration.ZERO);
      keys.admin().destroyKek("orders");
    }

    assertThat(events)
        .extracting(AuditEvent::type, AuditEvent::kekVersion, AuditEvent::outcome)
        .containsExactly(
            tuple(Type.KMS_WRAP, 1, Outcome.SUCCESS),
            tuple(Type.CREATE, 1, Outcome.SUCCESS),
            tuple(Type.KMS_WRAP, 2, Outcome.SUCCESS),
            tuple(Type.ROTATE, 2, Outcome.SUCCESS),
            tuple(Type.REWRAP_DEK, 1, Outcome.SUCCESS),
            tuple(Type.REWRAP_DEKS, 2, Outcome.SUCCESS),
            tuple(Type.SET_MINIMUM_DECRYPTION_VERSION, 2, Outcome.SUCCESS),
            // change of CMK, per version: unwrap (old), wrap (new), unwrap (check)
            tuple(Type.KMS_UNWRAP, 1, Outcome.SUCCESS),
            tuple(Type.KMS_WRAP, 1, Outcome.SUCCESS),
            tuple(Type.KMS_UNWRAP, 1, Outcome.SUCCESS),
            tuple(Type.KMS_UNWRAP, 2, Outcome.SUCCESS),
            tuple(Type.KMS_WRAP, 2, Outcome.SUCCESS),
            tuple(Type.KMS_UNWRAP, 2, Outcome.SUCCESS),
            tuple(Type.CHANGE_CMK, 0, Outcome.SUCCESS),
            tuple(Type.DISABLE, 0, Outcome.SUCCESS),
            tuple(Type.ENABLE, 0, Outcome.SUCCESS),
            tuple(Type.SCHEDULE_DESTRUCTION, 0, Outcome.SUCCESS),
            tuple(Type.CANCEL_DESTRUCTION, 0, Outcome.SUCCESS),
            tuple(Type.SCHEDULE_DESTRUCTION, 0, Outcome.SUCCESS),
            tuple(Type.DESTROY, 0, Outcome.SUCCESS));
    assertThat(events).allSatisfy(e -> assertThat(e.correlationId()).contains("change-4711"));
    assertThat(events).allSatisfy(e -> assertThat(e.kekId()).isEqualTo("orders"));
    assertThat(events.get(0).cmkUri()).contains(CMK);
    assertThat(events.get(8).cmkUri()).contains(NEW_CMK);
    assertThat(events.get(14).detail()).contains("ENABLED -> DISABLED").contains("versions [1, 2]");
    assertThat(events).allSatisfy(e -> assertThat(e.time()).isEqualTo(clock.instant()));
    // One SLF4J line per event, the listener that throws notwithstanding.
    assertThat(lines.list)
        .hasSize(events.size())
        .allSatisfy(l -> assertThat(l.getFormattedMessage()).contains("correlation=change-4711"));
    assertThat(AuditCorrelation.current()).isEmpty();
  }

  @Test
  void failuresAreAuditedWithTheirOutcome() {
    keys.admin().createKek("orders", CMK);
    keys.admin().disableKek("orders");
    events.clear();

    assertThatThrownBy(() -> keys.admin().rotateKek("orders"))
        .isInstanceOf(KekStateException.class);
    kms.denyAccess(NEW_CMK);
    keys.admin().enableKek("orders");
    assertThatThrownBy(() -> keys.admin().changeCmk("orders", NEW_CMK))
        .isInstanceOf(dev.keymanager.KeyAccessDeniedException.class);

    assertThat(events)
        .extracting(AuditEvent::type, AuditEvent::outcome)
        .containsExactly(
            tuple(Type.ROTATE, Outcome.REFUSED),
            tuple(Type.ENABLE, Outcome.SUCCESS),
            tuple(Type.KMS_UNWRAP, Outcome.SUCCESS),
            tuple(Type.KMS_WRAP, Outcome.DENIED),
            tuple(Type.CHANGE_CMK, Outcome.DENIED));
    assertThat(events.get(0).detail()).contains("DISABLED");
    assertThat(events.get(0).correlationId()).isEmpty();
    assertThat(lines.list)
        .filteredOn(l -> l.getFormattedMessage().startsWith("kek rotate"))
        .singleElement()
        .satisfies(l -> assertThat(l.getLevel().toString()).isEqualTo("WARN"));
  }

  @Test
  void correlationScopesNestAndRejectControlCharacters() {
    try (AuditCorrelation.Scope outer = AuditCorrelation.open("outer")) {
      try (AuditCorrelation.Scope inner = AuditCorrelation.open("inner")) {
        assertThat(AuditCorrelation.current()).contains("inner");
      }
      assertThat(AuditCorrelation.current()).contains("outer");
    }
    assertThat(AuditCorrelation.current()).isEqualTo(Optional.empty());
    assertThatThrownBy(() -> AuditCorrelation.open("forged\nkms unwrap outcome=ok"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> AuditCorrelation.open(""))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
