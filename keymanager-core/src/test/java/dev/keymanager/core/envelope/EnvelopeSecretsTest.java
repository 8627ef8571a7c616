package dev.keymanager.core.envelope;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import dev.keymanager.DataKey;
import dev.keymanager.KeyContext;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Runs every envelope operation and error path while capturing log lines (at TRACE), exception
 * messages and causes, and {@code toString}s, then scans them for every DEK used, the plaintext and
 * the context's value.
 */
class EnvelopeSecretsTest {
  private static final String SECRET_VALUE = "acme-confidential-customer";
  private static final KeyContext CONTEXT = KeyContext.of("customer", SECRET_VALUE);

  private final List<String> text = new ArrayList<>();
  private final List<byte[]> secrets = new ArrayList<>();

  private void failure(ThrowingRunnable r) {
    Throwable t = catchThrowable(r::run);
    assertThat(t).isNotNull();
    for (Throwable c = t; c != null; c = c.getCause()) {
      text.add(String.valueOf(c.getMessage()));
      text.add(c.toString());
    }
  }

  private interface ThrowingRunnable {
    void run() throws Exception;
  }

  /** The DEK of a payload, recovered through the public API to know what to scan for. */
  private void recordDek(Fixture f, byte[] payload) {
    PayloadHeader h = PayloadHeader.parse(payload, 0, payload.length);
    try (DataKey dek = f.keys.unwrapDek(h.wrappedKey(), CONTEXT)) {
      secrets.add(dek.use(byte[]::clone));
    }
  }

  @Test
  void noDekPlaintextOrContextValueAppearsInText() throws Exception {
    LoggerContext logs = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger root = logs.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    Level previous = root.getLevel();
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.setContext(logs);
    appender.start();
    root.setLevel(Level.TRACE);
    root.addAppender(appender);
    try (Fixture f = new Fixture()) {
      f.keys.admin().createKek("tenant", Fixture.CMK);
      f.keys.admin().createKek("other", Fixture.OTHER_CMK);
      EnvelopeCipher cipher = EnvelopeCipher.builder(f.keys, "tenant").segmentSize(4096).build();
      byte[] plaintext = Fixture.pattern(10_000, 99);
      secrets.add(plaintext);
      secrets.add(SECRET_VALUE.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      text.add(cipher.toString());

      byte[] oneShot = cipher.encrypt(plaintext, CONTEXT);
      recordDek(f, oneShot);
      byte[] streaming;
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (OutputStream out = cipher.newEncryptingStream(bytes, CONTEXT)) {
        text.add(out.toString());
        out.write(plaintext);
      }
      streaming = bytes.toByteArray();
      recordDek(f, streaming);
      try (InputStream in =
              cipher.newDecryptingStream(new ByteArrayInputStream(streaming), CONTEXT);
          SeekableByteChannel ch =
              cipher.newSeekableDecryptingChannel(new BytesChannel(streaming), CONTEXT)) {
        text.add(in.toString());
        text.add(ch.toString());
        ch.read(ByteBuffer.allocate(10));
      }

      KeyContext wrong = KeyContext.of("customer", "someone-else");
      failure(() -> cipher.decrypt(oneShot, wrong));
      failure(() -> EnvelopeCipher.of(f.keys, "other").decrypt(oneShot, CONTEXT));
      byte[] flipped = oneShot.clone();
      flipped[flipped.length - 20] ^= 1;
      failure(() -> cipher.decrypt(flipped, CONTEXT));
      failure(() -> cipher.decrypt(Arrays.copyOf(oneShot, 40), CONTEXT));
      failure(() -> cipher.newDecryptingStream(new ByteArrayInputStream(streaming), wrong));
      byte[] truncated = Arrays.copyOf(streaming, 2 * 4096);
      failure(
          () -> {
            try (InputStream in =
                cipher.newDecryptingStream(new ByteArrayInputStream(truncated), CONTEXT)) {
              in.readAllBytes();
            }
          });
      failure(() -> cipher.newSeekableDecryptingChannel(new BytesChannel(truncated), CONTEXT));
      byte[] altered = streaming.clone();
      altered[4096 + 5] ^= 1;
      failure(
          () -> {
            try (SeekableByteChannel ch =
                cipher.newSeekableDecryptingChannel(new BytesChannel(altered), CONTEXT)) {
              ch.position(5000).read(ByteBuffer.allocate(10));
            }
          });
    } finally {
      root.detachAppender(appender);
      root.setLevel(previous);
    }
    for (ILoggingEvent e : appender.list) {
      text.add(e.getFormattedMessage());
      if (e.getThrowableProxy() != null) {
        text.add(ThrowableProxyUtil.asString(e.getThrowableProxy()));
      }
    }

    assertThat(secrets).hasSize(4);
    assertThat(text).hasSizeGreaterThan(20);
    String all = String.join("\n", text);
    for (int i = 0; i < secrets.size(); i++) {
      for (String form : forms(secrets.get(i))) {
        if (all.contains(form)) {
          throw new AssertionError("secret #" + i + " appears in captured text");
        }
      }
    }
    assertThat(all).doesNotContain(SECRET_VALUE);
  }

  private static List<String> forms(byte[] secret) {
    byte[] probe = Arrays.copyOf(secret, Math.min(secret.length, 32)); // long enough to be unique
    String hex = HexFormat.of().formatHex(probe);
    return List.of(
        hex,
        hex.toUpperCase(Locale.ROOT),
        Base64.getEncoder().encodeToString(probe),
        Arrays.toString(probe).substring(0, Math.min(60, Arrays.toString(probe).length())));
  }
}
