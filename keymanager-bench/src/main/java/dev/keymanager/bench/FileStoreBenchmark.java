package dev.keymanager.bench;

import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The file store at many KEKs: opening it, and listing every id through {@link
 * KekStore#kekIds(String, int)} pages, first on a store that has not listed yet (it reads the whole
 * id index) and then on one that has (it reads what was appended since). The floor is reading the
 * id index file's bytes, the least any listing from one file can cost.
 *
 * <p>The store directory is built once through the public API (one durable create per KEK, which
 * takes minutes at 100,000 on a slow disk) and reused by later runs: {@code
 * -Dkeymanager.bench.fileStoreDir=DIR} (default: {@code java.io.tmpdir}); the directory name holds
 * the KEK count. Per-id figures divide by {@code keks} ({@code @OperationsPerInvocation} cannot
 * follow a {@code @Param}): the listing benchmarks count ids as {@link CpuTime} operations, so
 * {@code cpuNanos / ops} is CPU time per id, while JMH's score is wall-clock time per listing.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class FileStoreBenchmark {
  private static final URI CMK = URI.create("fake-kms://bench");
  private static final int PAGE = 1000;

  @Param({"100000"})
  public int keks;

  private Path directory;
  private KekStore warm;

  @Setup(Level.Trial)
  public void setUp() throws IOException {
    Path root =
        Path.of(
            System.getProperty(
                "keymanager.bench.fileStoreDir", System.getProperty("java.io.tmpdir")));
    directory = root.resolve("keymanager-bench-file-store-" + keks);
    Path complete = directory.resolveSibling(directory.getFileName() + ".complete");
    if (!Files.exists(complete)) {
      byte[] material = new byte[60];
      try (KekStore store = KekStores.file(directory)) {
        for (int i = 0; i < keks; i++) {
          String id = id(i);
          if (store.find(id, 1).isEmpty()) {
            material[0] = (byte) i;
            store.create(
                KeyEncryptionKey.builder()
                    .id(id)
                    .version(1)
                    .cmkUri(CMK)
                    .wrappedMaterial(material)
                    .createdAt(Instant.EPOCH)
                    .build());
          }
        }
      }
      Files.writeString(complete, "created " + keks + " KEKs\n", StandardCharsets.UTF_8);
    }
    warm = KekStores.file(directory);
    long listed = countIds(warm); // the warm store has read the index once
    if (listed != keks) {
      throw new IllegalStateException("listed " + listed + " KEKs, expected " + keks);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    warm.close();
  }

  private static String id(int i) {
    return String.format("tenant-%07d", i);
  }

  /** Opening and closing the store: no KEK directory is read. */
  @Benchmark
  public void open(CpuTime cpu) {
    try (KekStore store = KekStores.file(directory)) {
      cpu.op();
    }
  }

  /** Every id of a store opened just now, in pages of 1,000: reads the whole id index. */
  @Benchmark
  public long listAllFirstTime(CpuTime cpu, Blackhole bh) {
    try (KekStore store = KekStores.file(directory)) {
      return listAll(store, cpu, bh);
    }
  }

  /** Every id of a store that has listed before, in pages of 1,000. */
  @Benchmark
  public long listAllAgain(CpuTime cpu, Blackhole bh) {
    return listAll(warm, cpu, bh);
  }

  /** The floor: the id index file's bytes, read once per listing. */
  @Benchmark
  public byte[] readIndexFile(CpuTime cpu) throws IOException {
    byte[] bytes = Files.readAllBytes(directory.resolve("ids"));
    cpu.ops += keks;
    return bytes;
  }

  private static long listAll(KekStore store, CpuTime cpu, Blackhole bh) {
    long n = 0;
    String after = "";
    while (true) {
      KekIdPage page = store.kekIds(after, PAGE);
      bh.consume(page);
      n += page.ids().size();
      if (!page.hasMore()) {
        break;
      }
      after = page.ids().get(page.ids().size() - 1);
    }
    cpu.ops += n;
    return n;
  }

  private static long countIds(KekStore store) {
    long n = 0;
    String after = "";
    while (true) {
      KekIdPage page = store.kekIds(after, PAGE);
      n += page.ids().size();
      if (!page.hasMore()) {
        return n;
      }
      after = page.ids().get(page.ids().size() - 1);
    }
  }
}
