package dev.keymanager.parquet;

import static dev.keymanager.parquet.ParquetFiles.FOOTER_KEK;
import static dev.keymanager.parquet.ParquetFiles.KEK_A;
import static dev.keymanager.parquet.ParquetFiles.KEK_B;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.read.ListAppender;
import com.sun.management.HotSpotDiagnosticMXBean;
import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.keytools.KeyToolkit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Plaintext KEKs and data keys stay out of the logs (everything at TRACE, Parquet's and Hadoop's
 * included) and out of Parquet's caches: once the hard TTL has passed on the real clock, a heap
 * dump of live objects holds none of them, while one taken while they are cached does (so the scan
 * is known to find them).
 */
class SecretsStayOutTest {
  private static final Duration HARD_TTL = Duration.ofSeconds(2);
  private static final Pattern WRAPPED_DEK =
      Pattern.compile(
          "masterKeyID\\\\?\"\\s*:\\s*\\\\?\"([^\"\\\\]+)\\\\?\"[^}]*?wrappedDEK\\\\?\"\\s*:\\s*\\\\?\"([A-Za-z0-9+/=]+)");

  @TempDir Path dir;

  private final FakeKms kms = new FakeKms();
  private final SecureRandom random = new SecureRandom();

  @Test
  void noPlaintextKeyInLogsNorInParquetsCachesAfterTheHardTtl() throws Exception {
    List<Masked> keks = new ArrayList<>();
    List<Masked> deks = new ArrayList<>();
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    String name = ParquetFiles.uniqueName();
    try (KeyManager keys =
            KeyManagers.builder()
                .kekStore(KekStores.inMemory())
                .kmsProvider(kms)
                .discoverProviders(false)
                .hardTtl(HARD_TTL)
                .refreshAhead(Duration.ZERO)
                .build();
        KeyManagerRegistry.Registration r = KeyManagerRegistry.register(name, keys)) {
      Configuration conf = ParquetFiles.encryptingConf(name);
      conf.setBoolean(KeyToolkit.KEY_MATERIAL_INTERNAL_PROPERTY_NAME, false);

      captureAllLogsAtTrace(
          logs,
          () -> {
            for (String kek : new String[] {FOOTER_KEK, KEK_A, KEK_B}) {
              keks.add(importKek(keys, kek));
            }
            for (int f = 0; f < 3; f++) {
              ParquetFiles.write(dir.resolve("part-" + f + ".parquet"), conf, f, 10);
              assertThat(ParquetFiles.read(dir.resolve("part-" + f + ".parquet"), conf, null))
                  .hasSize(10);
            }
            // A denial too, so that failure paths log what they log.
            kms.disable(FakeKms.cmk("cmk-" + KEK_B));
            keys.admin().disableKek(KEK_B);
            assertThatThrownBy(() -> ParquetFiles.read(dir.resolve("part-0.parquet"), conf, null));
            keys.admin().enableKek(KEK_B);
            kms.enable(FakeKms.cmk("cmk-" + KEK_B));
          });
      deks.addAll(dataKeys(keys));
      assertThat(deks).hasSize(9);
      assertThat(logs.list).isNotEmpty();

      // While the KEKs are cached the scan finds them: it would find a copy anywhere else too.
      long lastUse = System.nanoTime();
      ParquetFiles.read(dir.resolve("part-0.parquet"), conf, null);
      assertThat(heapHolds(dir.resolve("cached.hprof"), keks)).isNotEmpty();

      while (System.nanoTime() - lastUse < HARD_TTL.plusMillis(500).toNanos()) {
        Thread.sleep(50); // waiting for the real clock itself, which is what is tested
      }
      // keymanager-core wipes an expired KEK at its cache's next maintenance, not on a timer: left
      // untouched, each expired KEK was still on the heap here (once each). Any cache write runs
      // the maintenance; what is tested is that nothing on Parquet's side holds a copy.
      keys.admin().createKek("unrelated", FakeKms.cmk("cmk-unrelated"));
      Map<String, Integer> found = heapHolds(dir.resolve("expired.hprof"), keks, deks);
      assertThat(found).as("plaintext keys still on the heap after the hard TTL").isEmpty();
    }

    StringBuilder text = new StringBuilder();
    for (ILoggingEvent e : logs.list) {
      text.append(e.getLoggerName()).append(' ').append(e.getFormattedMessage()).append('\n');
      if (e.getThrowableProxy() != null) {
        text.append(ThrowableProxyUtil.asString(e.getThrowableProxy())).append('\n');
      }
    }
    String all = text.toString();
    for (Masked key : concat(keks, deks)) {
      byte[] k = key.reveal();
      assertThat(all)
          .doesNotContain(HexFormat.of().formatHex(k))
          .doesNotContain(HexFormat.of().withUpperCase().formatHex(k))
          .doesNotContain(Base64.getEncoder().encodeToString(k))
          .doesNotContain(Arrays.toString(k))
          .doesNotContain(new String(k, StandardCharsets.ISO_8859_1));
    }
  }

  /** A KEK made here, so the test knows its bytes: wrapped as a customer would, then imported. */
  private Masked importKek(KeyManager keys, String kekId) {
    byte[] kek = new byte[32];
    random.nextBytes(kek);
    try {
      Masked masked = new Masked(kek, random);
      URI cmk = FakeKms.cmk("cmk-" + kekId);
      KeyContext context =
          KeyContext.of(Map.of("keymanager:kek-id", kekId, "keymanager:kek-version", "1"));
      byte[] wrapped = kms.wrapper(cmk).orElseThrow().wrap(kek, context);
      keys.admin().importKek(new KekRef(kekId, 1), cmk, wrapped);
      return masked;
    } finally {
      Arrays.fill(kek, (byte) 0);
    }
  }

  /** Every data key in the folder's key material, unwrapped by the key manager and masked. */
  private List<Masked> dataKeys(KeyManager keys) throws IOException {
    List<Masked> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        if (!f.getFileName().toString().startsWith("_KEY_MATERIAL_FOR_")) {
          continue;
        }
        Matcher m = WRAPPED_DEK.matcher(Files.readString(f, StandardCharsets.UTF_8));
        while (m.find()) {
          WrappedKey wrapped = WrappedKey.decode(Base64.getDecoder().decode(m.group(2)));
          try (DataKey dek = keys.unwrapDek(wrapped, KeyManagerKmsClient.context(m.group(1)))) {
            out.add(dek.use(bytes -> new Masked(bytes, random)));
          }
        }
      }
    }
    return out;
  }

  @SafeVarargs
  private static Map<String, Integer> heapHolds(Path dump, List<Masked>... groups)
      throws IOException {
    System.gc();
    ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
        .dumpHeap(dump.toString(), true);
    Map<String, Integer> found = new LinkedHashMap<>();
    try (FileChannel ch = FileChannel.open(dump, StandardOpenOption.READ)) {
      MappedByteBuffer heap = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
      int g = 0;
      for (List<Masked> group : groups) {
        for (int i = 0; i < group.size(); i++) {
          byte[] needle = group.get(i).reveal();
          int hits = count(heap, needle);
          Arrays.fill(needle, (byte) 0);
          if (hits > 0) {
            found.put("group " + g + " key " + i, hits);
          }
        }
        g++;
      }
    } finally {
      Files.delete(dump);
    }
    return found;
  }

  private static int count(MappedByteBuffer heap, byte[] needle) {
    int hits = 0;
    int limit = heap.limit() - needle.length;
    outer:
    for (int i = 0; i <= limit; i++) {
      if (heap.get(i) != needle[0]) {
        continue;
      }
      for (int j = 1; j < needle.length; j++) {
        if (heap.get(i + j) != needle[j]) {
          continue outer;
        }
      }
      hits++;
    }
    return hits;
  }

  private static void captureAllLogsAtTrace(ListAppender<ILoggingEvent> appender, Runnable body) {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    Level before = root.getLevel();
    Appender<ILoggingEvent> console = root.getAppender("CONSOLE");
    appender.setContext(context);
    appender.start();
    root.addAppender(appender);
    root.detachAppender("CONSOLE"); // TRACE from Hadoop and Parquet would flood the build log
    root.setLevel(Level.TRACE);
    try {
      body.run();
    } finally {
      root.setLevel(before);
      root.detachAppender(appender);
      if (console != null) {
        root.addAppender(console);
      }
      appender.stop();
    }
  }

  private static List<Masked> concat(List<Masked> a, List<Masked> b) {
    List<Masked> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  /** Key bytes kept XORed with a random mask, so the test's own copy is not on the heap. */
  private static final class Masked {
    private final byte[] mask;
    private final byte[] masked;

    Masked(byte[] key, SecureRandom random) {
      mask = new byte[key.length];
      random.nextBytes(mask);
      masked = new byte[key.length];
      for (int i = 0; i < key.length; i++) {
        masked[i] = (byte) (key[i] ^ mask[i]);
      }
    }

    byte[] reveal() {
      byte[] key = new byte[mask.length];
      for (int i = 0; i < key.length; i++) {
        key[i] = (byte) (masked[i] ^ mask[i]);
      }
      return key;
    }
  }
}
