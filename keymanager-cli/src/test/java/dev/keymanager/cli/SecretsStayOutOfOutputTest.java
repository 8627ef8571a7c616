package dev.keymanager.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.RecordingKms;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Runs every command, failures included, at the highest verbosity ({@code -vvv}, the root logger at
 * TRACE) and scans stdout, stderr and every log line for each key that crossed the KMS boundary
 * (KEKs, the doctor's probe) and the plaintext encrypted, as hex, Base64 and {@code
 * Arrays.toString}, as the core's secret-scan test does.
 */
class SecretsStayOutOfOutputTest {
  @TempDir Path dir;

  private final List<byte[]> secrets = new CopyOnWriteArrayList<>();

  /** FakeKms that hands a copy of each plaintext crossing it to {@link #secrets}. */
  private KmsProvider recording(FakeKms kms) {
    return new RecordingKms(kms, secrets::add);
  }

  @Test
  void noKeyBytesInAnyOutputOrLogAtAnyVerbosity() throws Exception {
    LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    Level previous = root.getLevel();
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.setContext(ctx);
    appender.start();
    root.addAppender(appender);
    root.setLevel(Level.TRACE);
    List<String> text = new ArrayList<>();
    FakeKms kms = new FakeKms();
    CliRun cli = new CliRun(recording(kms));
    String store = "file:" + dir.resolve("keks");
    String cmk = FakeKms.cmk("c").toString();
    byte[] plaintext = new byte[3000];
    new java.util.Random(7).nextBytes(plaintext);
    secrets.add(plaintext);
    Path p = Files.write(dir.resolve("p"), plaintext);
    Path data = Files.createDirectories(dir.resolve("data"));
    Path enc = data.resolve("p.enc");
    try {
      List<String[]> runs =
          List.of(
              new String[] {"kek", "create", "t", "--cmk", cmk},
              new String[] {"kek", "list"},
              new String[] {"kek", "describe", "t", "--json"},
              new String[] {"encrypt", "--kek", "t", "--in", p.toString(), "--out", enc.toString()},
              new String[] {"inspect", enc.toString()},
              new String[] {"kek", "rotate", "t"},
              new String[] {"rewrap", data.toString()},
              new String[] {
                "decrypt", "--in", enc.toString(), "--out", dir.resolve("b").toString()
              },
              new String[] {"decrypt", "--in", enc.toString(), "--out", "x", "-c", "a=b"},
              new String[] {"doctor", "--check-wrap", "--cmk", FakeKms.cmk("d").toString()},
              new String[] {"kek", "change-cmk", "t", "--cmk", FakeKms.cmk("e").toString()},
              new String[] {"kek", "disable", "t"},
              new String[] {"doctor", "--json"},
              new String[] {"kek", "import", "u", "--cmk", cmk, "--wrapped-base64", "AAAA"},
              new String[] {"store", "copy", "--from", store, "--to", "file:" + dir.resolve("c")});
      for (String[] args : runs) {
        String[] full = Arrays.copyOf(args, args.length + 3);
        full[args.length] = "-vvv";
        full[args.length + 1] = "--store";
        full[args.length + 2] = store;
        CliRun.Result r = cli.run(full);
        text.add(r.out());
        text.add(r.err());
      }
      kms.disable(FakeKms.cmk("e"));
      CliRun.Result denied = cli.run("kek", "rotate", "t", "-vvv", "--store", store);
      assertThat(denied.exitCode()).isNotZero();
      text.add(denied.err());
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
    assertThat(appender.list).as("log lines captured at TRACE").isNotEmpty();
    assertThat(secrets.size()).as("secrets recorded").isGreaterThan(3);
    String all = String.join("\n", text);
    String lower = all.toLowerCase(Locale.ROOT);
    for (byte[] s : secrets) {
      assertThat(lower).doesNotContain(HexFormat.of().formatHex(s));
      assertThat(all).doesNotContain(Base64.getEncoder().encodeToString(s));
      assertThat(all).doesNotContain(Base64.getEncoder().withoutPadding().encodeToString(s));
      assertThat(all).doesNotContain(Arrays.toString(s));
    }
  }
}
