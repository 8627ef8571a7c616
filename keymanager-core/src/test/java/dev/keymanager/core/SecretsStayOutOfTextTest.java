package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.RecordingKms;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Runs every public operation, the error paths included, while capturing every log line (at TRACE),
 * every exception message and cause chain, and the {@code toString} of every object the API
 * returns; then scans that text for each key used, as hex, Base64 and {@code Arrays.toString}.
 */
class SecretsStayOutOfTextTest {
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");

  @TempDir Path dir;

  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
  private final List<String> text = new ArrayList<>();
  private final List<byte[]> secrets = new CopyOnWriteArrayList<>();
  private Level previousLevel;

  @BeforeEach
  void captureLogs() {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    previousLevel = root.getLevel();
    root.setLevel(Level.TRACE);
    appender.setContext(context);
    appender.start();
    root.addAppender(appender);
  }

  @AfterEach
  void stopCapture() {
    Logger root =
        ((LoggerContext) LoggerFactory.getILoggerFactory())
            .getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    root.detachAppender(appender);
    root.setLevel(previousLevel);
  }

  private void failure(Runnable r) {
    Throwable t = catchThrowable(r::run);
    assertThat(t).isNotNull();
    for (Throwable c = t; c != null; c = c.getCause()) {
      text.add(String.valueOf(c.getMessage()));
      text.add(c.toString());
    }
  }

  @Test
  void noKeyEverAppearsInLogsMessagesOrToString() throws Exception {
    FakeKms fake = new FakeKms();
    MutableClock clock = new MutableClock();
    KekStore store = KekStores.file(dir.resolve("keks"));
    URI fakeCmk = FakeKms.cmk("scan");
    URI localCmk = LocalKms.createMasterKey(dir.resolve("master.key"));
    KeyManager keys = newKeyManager(store, fake, clock);

    text.add(keys.admin().createKek("fake", fakeCmk).toString());
    text.add(keys.admin().createKek("local", localCmk).toString());
    List<WrappedKey> wrapped = new ArrayList<>();
    for (String kek : List.of("fake", "local")) {
      try (DataKey dek = keys.generateDek(kek, CONTEXT)) {
        secrets.add(dek.use(byte[]::clone));
        text.add(dek.toString());
        text.add(dek.wrappedKey().toString());
        wrapped.add(dek.wrappedKey());
      }
      byte[] own = new byte[32];
      Arrays.fill(own, (byte) 0x6B);
      secrets.add(own.clone());
      text.add(keys.wrapDek(kek, own, CONTEXT).toString());
    }
    text.add(keys.toString());
    text.add(keys.admin().describeKek("fake").orElseThrow().toString());

    keys.close();
    keys = newKeyManager(store, fake, clock);
    KeyManager k = keys;
    for (WrappedKey w : wrapped) {
      try (DataKey back = k.unwrapDek(w, CONTEXT)) {
        text.add(back.toString());
      }
      failure(() -> k.unwrapDek(w, KeyContext.of("tenant", "other")));
      byte[] tampered = w.encode();
      tampered[tampered.length - 1] ^= 1;
      failure(() -> k.unwrapDek(WrappedKey.decode(tampered), CONTEXT));
      failure(() -> WrappedKey.decode(Arrays.copyOf(tampered, 20)));
    }
    failure(() -> k.generateDek("missing", CONTEXT));
    failure(() -> k.admin().createKek("fake", fakeCmk));
    failure(() -> k.admin().createKek("x", URI.create("nope://x")));
    clock.advance(Duration.ofMinutes(2));
    fake.failNextCalls(1);
    failure(() -> k.unwrapDek(wrapped.get(0), CONTEXT));
    fake.disable(fakeCmk);
    failure(() -> k.unwrapDek(wrapped.get(0), CONTEXT));
    Files.delete(dir.resolve("master.key"));
    failure(() -> k.unwrapDek(wrapped.get(1), CONTEXT));
    text.add(k.stats().toString());
    k.close();

    scan(8);
    store.close();
  }

  /**
   * The lifecycle: import, rotate, rewrap (one and bulk), minimum decryption version, change of
   * CMK, disable, enable, scheduled destruction, cancel, destroy, and their refusals, with every
   * audit event's {@code toString} captured too.
   */
  @Test
  void noKeyAppearsInTheLifecycleOrItsAuditEvents() {
    FakeKms fake = new FakeKms();
    MutableClock clock = new MutableClock();
    KekStore store = KekStores.file(dir.resolve("lifecycle"));
    URI cmk = FakeKms.cmk("life");
    List<AuditEvent> events = new CopyOnWriteArrayList<>();
    KeyManager keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(new RecordingKms(fake, secrets::add))
            .discoverProviders(false)
            .clock(clock)
            .auditListener(events::add)
            .build();

    text.add(keys.admin().createKek("life", cmk).toString());
    WrappedKey old;
    try (DataKey dek = keys.generateDek("life", CONTEXT)) {
      secrets.add(dek.use(byte[]::clone));
      old = dek.wrappedKey();
    }
    text.add(keys.admin().rotateKek("life").toString());
    WrappedKey current = keys.rewrapDek(old, CONTEXT);
    text.add(current.toString());
    byte[] tampered = old.encode();
    tampered[tampered.length - 1] ^= 1;
    RewrapProgress progress =
        keys.rewrapDeks(
            List.of(
                    new RewrapRequest(old, CONTEXT),
                    new RewrapRequest(WrappedKey.decode(tampered), CONTEXT))
                .iterator(),
            RewrapProgress.START,
            (position, before, after) -> text.add(after.toString()));
    text.add(progress.toString());
    progress
        .failure()
        .ifPresent(
            e ->
                failure(
                    () -> {
                      throw e;
                    }));

    byte[] customerKek = new byte[32];
    Arrays.fill(customerKek, (byte) 0x5C);
    secrets.add(customerKek.clone());
    byte[] material =
        fake.wrapper(cmk).orElseThrow().wrap(customerKek, CustomerKms.importContext("byok", 1));
    text.add(keys.admin().importKek(new KekRef("byok", 1), cmk, material).toString());
    failure(() -> keys.admin().importKek(new KekRef("byok", 2), cmk, material));
    byte[] shortKek = new byte[16];
    Arrays.fill(shortKek, (byte) 0x3A);
    secrets.add(shortKek.clone());
    byte[] shortMaterial =
        fake.wrapper(cmk).orElseThrow().wrap(shortKek, CustomerKms.importContext("short", 1));
    failure(() -> keys.admin().importKek(new KekRef("short", 1), cmk, shortMaterial));

    text.add(keys.admin().setMinimumDecryptionVersion("life", 2).toString());
    failure(() -> keys.unwrapDek(old, CONTEXT));
    text.add(keys.admin().changeCmk("life", FakeKms.cmk("life-2")).toString());
    fake.denyAccess(FakeKms.cmk("life-3"));
    failure(() -> keys.admin().changeCmk("life", FakeKms.cmk("life-3")));
    text.add(keys.admin().disableKek("life").toString());
    failure(() -> keys.unwrapDek(current, CONTEXT));
    failure(() -> keys.admin().rotateKek("life"));
    text.add(keys.admin().enableKek("life").toString());
    text.add(keys.admin().scheduleKekDestruction("life", Duration.ofDays(7)).toString());
    failure(() -> keys.admin().destroyKek("life"));
    failure(() -> keys.admin().scheduleKekDestruction("byok", Duration.ofDays(1)));
    text.add(keys.admin().cancelKekDestruction("life").toString());
    keys.admin().scheduleKekDestruction("life", Duration.ofDays(7));
    clock.advance(Duration.ofDays(7));
    text.add(keys.admin().destroyDueKeks().toString());
    failure(() -> keys.unwrapDek(current, CONTEXT));
    failure(() -> keys.admin().enableKek("life"));
    text.add(keys.admin().describeKekVersions("life").orElseThrow().toString());
    keys.close();
    store.close();
    for (AuditEvent e : events) {
      text.add(e.toString());
    }

    assertThat(events).hasSizeGreaterThan(20);
    scan(5);
  }

  /** Adds every captured log line, then looks for every secret in every captured text. */
  private void scan(int minimumSecrets) {
    for (ILoggingEvent e : appender.list) {
      text.add(e.getFormattedMessage());
      if (e.getThrowableProxy() != null) {
        text.add(ThrowableProxyUtil.asString(e.getThrowableProxy()));
      }
    }

    assertThat(appender.list).isNotEmpty();
    assertThat(secrets).hasSizeGreaterThanOrEqualTo(minimumSecrets);
    String all = String.join("\n", text);
    for (int i = 0; i < secrets.size(); i++) {
      for (String form : forms(secrets.get(i))) {
        if (all.contains(form)) {
          // Report which secret and where, never the secret itself.
          throw new AssertionError("secret #" + i + " appears in captured text");
        }
      }
    }
  }

  private KeyManager newKeyManager(KekStore store, FakeKms fake, MutableClock clock) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(new RecordingKms(fake, secrets::add))
        .kmsProvider(
            new RecordingKms(new dev.keymanager.core.internal.LocalKmsProvider(), secrets::add))
        .discoverProviders(false)
        .hardTtl(Duration.ofMinutes(1))
        .clock(clock)
        .build();
  }

  private static List<String> forms(byte[] secret) {
    String hex = HexFormat.of().formatHex(secret);
    return List.of(
        hex,
        hex.toUpperCase(Locale.ROOT),
        Base64.getEncoder().encodeToString(secret),
        Base64.getUrlEncoder().withoutPadding().encodeToString(secret),
        Arrays.toString(secret));
  }
}
