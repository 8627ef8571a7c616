package dev.keymanager.bench;

import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.parquet.KeyManagerKmsClient;
import dev.keymanager.parquet.KeyManagerRegistry;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.keytools.KeyToolkit;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

/**
 * Write and read throughput of a Parquet dataset on the local file system (Parquet's {@code
 * LocalOutputFile}/{@code LocalInputFile}, not Hadoop's file system, which on JDK 25 fails in
 * {@code UserGroupInformation}), three ways in one run: unencrypted (the floor), encrypted with
 * keymanager's {@link KeyManagerKmsClient} (single wrapping, FakeKms behind the KEKs), and
 * encrypted with Parquet's own in-memory KMS sample ({@link ParquetInMemoryKms}) under Parquet's
 * default double wrapping. Every encrypted file has an encrypted footer (key {@code kek-footer})
 * and two encrypted columns ({@code a} under {@code kek-a}, {@code b} under {@code kek-b}); {@code
 * id} stays plaintext. Then it counts the KMS calls of reading every file after a restart (new key
 * manager over the same KEK store, Parquet's key caches emptied).
 *
 * <pre>{@code
 * ./mvnw -q -pl keymanager-bench -am -DskipTests package
 * java -cp keymanager-bench/target/benchmarks.jar dev.keymanager.bench.ParquetThroughput \
 *     [--dir /dev/shm/parquet-bench] [--files 100] [--rows 10000] [--rounds 3]
 * }</pre>
 *
 * <p>Each round writes then reads the whole dataset in each mode (modes interleaved, each round
 * starting with the next mode; one warm-up round first, not reported); the report gives the median
 * of the rounds, as MB/s (10^6 bytes of Parquet file per second) of wall-clock time and of the
 * thread's CPU time.
 */
public final class ParquetThroughput {
  static final String FOOTER_KEK = "kek-footer";
  static final String KEK_A = "kek-a";
  static final String KEK_B = "kek-b";
  static final String KEY_MANAGER_NAME = "parquet-throughput";
  static final MessageType SCHEMA =
      MessageTypeParser.parseMessageType(
          "message rec { required int64 id; required binary a (UTF8); required binary b (UTF8); }");
  private static final int VALUE_CHARS = 44; // ~104 bytes a row: 10,000 rows make ~1 MB

  /** The three ways of writing the dataset. */
  enum Mode {
    PLAIN("unencrypted"),
    KEYMANAGER("keymanager, single wrapping"),
    PARQUET_DOUBLE("Parquet InMemoryKMS, double wrapping");

    final String label;

    Mode(String label) {
      this.label = label;
    }

    String dirName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** Medians over the measured rounds for one mode. */
  record Result(
      Mode mode,
      long datasetBytes,
      long rowsRead,
      double writeMbPerSec,
      double readMbPerSec,
      double writeMbPerCpuSec,
      double readMbPerCpuSec) {}

  /**
   * The run's results, and the KMS calls of reading every file after a restart: FakeKms calls
   * behind keymanager, and calls to the in-memory KMS under double wrapping.
   */
  record Report(
      int files,
      int rowsPerFile,
      int rounds,
      Map<Mode, Result> results,
      long keymanagerKmsCallsAfterRestart,
      long parquetKmsUnwrapsAfterRestart) {}

  private ParquetThroughput() {}

  public static void main(String[] args) throws IOException {
    Path dir = null;
    int files = 100;
    int rows = 10_000;
    int rounds = 3;
    for (int i = 0; i < args.length; i++) {
      String value = i + 1 < args.length ? args[i + 1] : null;
      switch (args[i]) {
        case "--dir" -> dir = Path.of(require(args[i], value));
        case "--files" -> files = Integer.parseInt(require(args[i], value));
        case "--rows" -> rows = Integer.parseInt(require(args[i], value));
        case "--rounds" -> rounds = Integer.parseInt(require(args[i], value));
        default ->
            throw new IllegalArgumentException(
                "unknown argument " + args[i] + "; use --dir DIR --files N --rows N --rounds N");
      }
      i++;
    }
    boolean temporary = dir == null;
    if (temporary) {
      Path shm = Path.of("/dev/shm");
      dir =
          Files.isDirectory(shm) && Files.isWritable(shm)
              ? Files.createTempDirectory(shm, "parquet-bench")
              : Files.createTempDirectory("parquet-bench");
    }
    try {
      print(run(dir, files, rows, rounds), dir, System.out);
    } finally {
      if (temporary) {
        deleteTree(dir);
      }
    }
  }

  private static String require(String flag, String value) {
    if (value == null) {
      throw new IllegalArgumentException(flag + " needs a value");
    }
    return value;
  }

  static Report run(Path dir, int files, int rowsPerFile, int rounds) throws IOException {
    if (files < 1 || rowsPerFile < 1 || rounds < 1) {
      throw new IllegalArgumentException("files, rows and rounds must be at least 1");
    }
    List<Group> rows = rows(rowsPerFile);
    FakeKms kms = new FakeKms();
    Path keks = dir.resolve("keks");
    Map<Mode, Configuration> confs = new EnumMap<>(Mode.class);
    confs.put(Mode.PLAIN, new Configuration());
    confs.put(Mode.KEYMANAGER, keymanagerConf());
    confs.put(Mode.PARQUET_DOUBLE, parquetDoubleWrappingConf());

    Map<Mode, List<long[]>> samples = new EnumMap<>(Mode.class);
    Map<Mode, long[]> sizeAndRows = new EnumMap<>(Mode.class);
    try (KeyManager keys = keyManager(kms, keks);
        KeyManagerRegistry.Registration registration =
            KeyManagerRegistry.register(KEY_MANAGER_NAME, keys)) {
      for (String kek : List.of(FOOTER_KEK, KEK_A, KEK_B)) {
        keys.admin().createKek(kek, FakeKms.cmk(kek));
      }
      for (int round = 0; round <= rounds; round++) { // round 0: warm-up
        Mode[] modes = Mode.values();
        for (int m = 0; m < modes.length; m++) {
          Mode mode = modes[(m + round) % modes.length]; // each round starts with the next mode
          Path data = dir.resolve(mode.dirName());
          deleteTree(data);
          Files.createDirectories(data);
          long[] write = timed(() -> writeAll(data, confs.get(mode), files, rows));
          long bytes = datasetBytes(data);
          long[] readRows = new long[1];
          long[] read = timed(() -> readRows[0] = readAll(data, confs.get(mode), files));
          if (readRows[0] != (long) files * rowsPerFile) {
            throw new IllegalStateException(
                mode + ": read " + readRows[0] + " rows, wrote " + (long) files * rowsPerFile);
          }
          sizeAndRows.put(mode, new long[] {bytes, readRows[0]});
          if (round > 0) {
            samples
                .computeIfAbsent(mode, k -> new ArrayList<>())
                .add(new long[] {write[0], write[1], read[0], read[1]});
          }
        }
      }
    }

    // Restart: a new key manager over the same KEK store, nothing cached by Parquet.
    KeyToolkit.removeCacheEntriesForAllTokens();
    long keymanagerCalls;
    try (KeyManager keys = keyManager(kms, keks);
        KeyManagerRegistry.Registration registration =
            KeyManagerRegistry.register(KEY_MANAGER_NAME, keys)) {
      kms.resetCounts();
      readAll(dir.resolve(Mode.KEYMANAGER.dirName()), confs.get(Mode.KEYMANAGER), files);
      keymanagerCalls = kms.calls();
    }
    KeyToolkit.removeCacheEntriesForAllTokens();
    ParquetInMemoryKms.resetCounts();
    readAll(dir.resolve(Mode.PARQUET_DOUBLE.dirName()), confs.get(Mode.PARQUET_DOUBLE), files);
    long parquetCalls = ParquetInMemoryKms.unwrapCalls() + ParquetInMemoryKms.wrapCalls();
    KeyToolkit.removeCacheEntriesForAllTokens();

    Map<Mode, Result> results = new EnumMap<>(Mode.class);
    for (Mode mode : Mode.values()) {
      long bytes = sizeAndRows.get(mode)[0];
      List<long[]> s = samples.get(mode);
      results.put(
          mode,
          new Result(
              mode,
              bytes,
              sizeAndRows.get(mode)[1],
              mbPerSec(bytes, median(s, 0)),
              mbPerSec(bytes, median(s, 2)),
              mbPerSec(bytes, median(s, 1)),
              mbPerSec(bytes, median(s, 3))));
    }
    return new Report(files, rowsPerFile, rounds, results, keymanagerCalls, parquetCalls);
  }

  static void print(Report report, Path dir, PrintStream out) {
    out.printf(
        Locale.ROOT,
        "Parquet throughput: %d files x %d rows, %d measured rounds (median), data in %s%n",
        report.files(),
        report.rowsPerFile(),
        report.rounds(),
        dir);
    out.printf(
        Locale.ROOT,
        "| %-38s | %9s | %11s | %10s | %15s | %14s |%n",
        "mode",
        "MB",
        "write MB/s",
        "read MB/s",
        "write MB/cpu-s",
        "read MB/cpu-s");
    out.println(
        "|"
            + "-".repeat(40)
            + "|----------:|------------:|-----------:|"
            + "----------------:|---------------:|");
    for (Result r : report.results().values()) {
      out.printf(
          Locale.ROOT,
          "| %-38s | %9.1f | %11.1f | %10.1f | %15.1f | %14.1f |%n",
          r.mode().label,
          r.datasetBytes() / 1e6,
          r.writeMbPerSec(),
          r.readMbPerSec(),
          r.writeMbPerCpuSec(),
          r.readMbPerCpuSec());
    }
    out.printf(
        Locale.ROOT,
        "KMS calls reading the %d files after a restart: keymanager (FakeKms) %d,"
            + " Parquet double wrapping (InMemoryKMS) %d%n",
        report.files(),
        report.keymanagerKmsCallsAfterRestart(),
        report.parquetKmsUnwrapsAfterRestart());
  }

  private static KeyManager keyManager(FakeKms kms, Path keks) {
    return KeyManagers.builder()
        .kekStore(KekStores.file(keks))
        .kmsProvider(kms)
        .discoverProviders(false)
        .build();
  }

  private static Configuration keymanagerConf() {
    Configuration conf = new Configuration();
    KeyManagerKmsClient.configure(conf, KEY_MANAGER_NAME);
    encryptedColumns(conf);
    return conf;
  }

  private static Configuration parquetDoubleWrappingConf() {
    Configuration conf = new Configuration();
    conf.set(
        "parquet.crypto.factory.class",
        "org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory");
    conf.set(KeyToolkit.KMS_CLIENT_CLASS_PROPERTY_NAME, ParquetInMemoryKms.class.getName());
    conf.setBoolean(KeyToolkit.DOUBLE_WRAPPING_PROPERTY_NAME, true);
    Random random = new Random(7);
    List<String> keys = new ArrayList<>();
    for (String id : List.of(FOOTER_KEK, KEK_A, KEK_B)) {
      byte[] key = new byte[16];
      random.nextBytes(key);
      keys.add(id + ":" + Base64.getEncoder().encodeToString(key));
    }
    conf.set(ParquetInMemoryKms.KEY_LIST, String.join(",", keys));
    encryptedColumns(conf);
    return conf;
  }

  private static void encryptedColumns(Configuration conf) {
    conf.set("parquet.encryption.footer.key", FOOTER_KEK);
    conf.set("parquet.encryption.column.keys", KEK_A + ":a;" + KEK_B + ":b");
  }

  private static List<Group> rows(int count) {
    SimpleGroupFactory groups = new SimpleGroupFactory(SCHEMA);
    Random random = new Random(42);
    List<Group> rows = new ArrayList<>(count);
    for (int r = 0; r < count; r++) {
      rows.add(
          groups
              .newGroup()
              .append("id", (long) r)
              .append("a", text(random))
              .append("b", text(random)));
    }
    return rows;
  }

  private static String text(Random random) {
    char[] chars = new char[VALUE_CHARS];
    for (int i = 0; i < chars.length; i++) {
      chars[i] = (char) ('a' + random.nextInt(26));
    }
    return new String(chars);
  }

  static Path file(Path data, int index) {
    return data.resolve(String.format(Locale.ROOT, "part-%05d.parquet", index));
  }

  private static void writeAll(Path data, Configuration conf, int files, List<Group> rows) {
    for (int f = 0; f < files; f++) {
      try (ParquetWriter<Group> writer =
          ExampleParquetWriter.builder(new LocalOutputFile(file(data, f)))
              .withConf(conf)
              .withType(SCHEMA)
              .withCompressionCodec(CompressionCodecName.UNCOMPRESSED)
              .withDictionaryEncoding(false)
              .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
              .build()) {
        for (Group row : rows) {
          writer.write(row);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** Reads every row of every file, touching each value; returns the number of rows. */
  private static long readAll(Path data, Configuration conf, int files) {
    long count = 0;
    long chars = 0;
    for (int f = 0; f < files; f++) {
      try (ParquetReader<Group> reader =
          new GroupReaderBuilder(file(data, f)).withConf(conf).build()) {
        for (Group g = reader.read(); g != null; g = reader.read()) {
          chars += g.getLong("id", 0) + g.getBinary("a", 0).length() + g.getBinary("b", 0).length();
          count++;
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    if (chars < 0) {
      throw new IllegalStateException("overflow"); // keeps the reads observable
    }
    return count;
  }

  /** Parquet's reader builder over a {@link LocalInputFile}, for {@link Group} rows. */
  private static final class GroupReaderBuilder extends ParquetReader.Builder<Group> {
    GroupReaderBuilder(Path file) {
      super(new LocalInputFile(file));
    }

    @Override
    protected ReadSupport<Group> getReadSupport() {
      return new GroupReadSupport();
    }
  }

  private static long datasetBytes(Path data) throws IOException {
    try (Stream<Path> all = Files.list(data)) {
      long total = 0;
      for (Path p : all.filter(p -> p.toString().endsWith(".parquet")).toList()) {
        total += Files.size(p);
      }
      return total;
    }
  }

  /** {wall nanos, thread CPU nanos} of {@code task}. */
  private static long[] timed(Runnable task) {
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long cpu0 = threads.getCurrentThreadCpuTime();
    long t0 = System.nanoTime();
    task.run();
    long wall = System.nanoTime() - t0;
    long cpu = threads.getCurrentThreadCpuTime() - cpu0;
    return new long[] {wall, cpu};
  }

  private static long median(List<long[]> samples, int index) {
    long[] values = samples.stream().mapToLong(s -> s[index]).sorted().toArray();
    return values[values.length / 2];
  }

  private static double mbPerSec(long bytes, long nanos) {
    return bytes / 1e6 / (Math.max(nanos, 1) / 1e9);
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  static byte[] trailer(Path file) throws IOException {
    byte[] all = Files.readAllBytes(file);
    return Arrays.copyOfRange(all, all.length - 4, all.length);
  }
}
