package dev.keymanager.examples;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.LocalKms;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The segment file store demo: writes three encrypted segment files of about 1 MiB of log records
 * each (each file under its own DEK), restarts, serves 1,000 random 4 KiB reads from them and
 * checks every byte, then shows that a segment file copied over another's name is refused.
 *
 * <p>Run it with {@code ./mvnw -q -pl examples -am -DskipTests -Psegment-store verify}; pass a
 * directory as the first argument to keep the files somewhere else. Each run starts afresh.
 */
public final class SegmentFileStoreDemo {
  static final int SEGMENTS = 3;
  static final int RECORDS_PER_SEGMENT = 16_000;
  static final int READS = 1_000;
  static final int READ_SIZE = 4096;

  private SegmentFileStoreDemo() {}

  /** The demo's summary, for its test. */
  record Result(
      long plaintextBytes, long fileBytes, int readsChecked, long kmsCalls, String refusal) {}

  public static void main(String[] args) throws IOException {
    run(Path.of(args.length > 0 ? args[0] : "target/segment-store"), System.out);
  }

  /** Record {@code i} of segment {@code s}: a line anyone can regenerate to check a read. */
  static byte[] segmentContent(int s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < RECORDS_PER_SEGMENT; i++) {
      b.append(
          String.format(
              "segment %d event %06d: account=%05d amount=%08d%n", s, i, i * 7 % 99_991, i * 31));
    }
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  static Result run(Path home, PrintStream out) throws IOException {
    deleteRecursively(home);
    URI cmk = LocalKms.createMasterKey(home.resolve("local-kms/master.key"));
    KekStore store = KekStores.file(home.resolve("keks"));
    Path data = home.resolve("segments");
    try (KeyManager keys = KeyManagers.builder().kekStore(store).allowDevelopmentKms().build()) {
      keys.admin().createKek("segments", cmk);
      try (SegmentFileStore segments = new SegmentFileStore(keys, "segments", "events", data)) {
        for (int s = 1; s <= SEGMENTS; s++) {
          try (SegmentFileStore.SegmentWriter w = segments.newSegment()) {
            byte[] content = segmentContent(s);
            for (int at = 0; at < content.length; at += 10_000) {
              w.write(content, at, Math.min(10_000, content.length - at));
            }
            out.printf("wrote %s: %d plaintext bytes, own DEK%n", w.name(), content.length);
          }
        }
      }
    }

    long plaintextBytes = 0;
    long fileBytes = 0;
    int checked = 0;
    long kmsCalls;
    // A new key manager, as after a restart: one KMS call unwraps the KEK, then every segment's
    // DEK unwraps locally.
    try (KeyManager keys = KeyManagers.builder().kekStore(store).allowDevelopmentKms().build();
        SegmentFileStore segments = new SegmentFileStore(keys, "segments", "events", data)) {
      List<String> names = segments.segments();
      byte[][] expected = new byte[names.size()][];
      for (int s = 0; s < names.size(); s++) {
        expected[s] = segmentContent(s + 1);
        plaintextBytes += segments.size(names.get(s));
        fileBytes += Files.size(data.resolve(names.get(s) + ".seg"));
      }
      Random random = new Random(42);
      long started = System.nanoTime();
      for (int i = 0; i < READS; i++) {
        int s = random.nextInt(names.size());
        int offset = random.nextInt(expected[s].length);
        byte[] got = segments.read(names.get(s), offset, READ_SIZE);
        byte[] want =
            Arrays.copyOfRange(
                expected[s], offset, Math.min(expected[s].length, offset + READ_SIZE));
        if (!Arrays.equals(got, want)) {
          throw new IllegalStateException("read of " + names.get(s) + " at " + offset + " differs");
        }
        checked++;
      }
      long micros = (System.nanoTime() - started) / 1000;
      kmsCalls = keys.stats().kmsCalls();
      out.printf(
          "after restart: %d random %d-byte reads over %d files checked, %.1f us per read (a"
              + " cold JVM: mostly JIT warm-up);"
              + " %d plaintext bytes in %d file bytes (%.2f%% overhead); KMS calls: %d%n",
          checked,
          READ_SIZE,
          names.size(),
          (double) micros / READS,
          plaintextBytes,
          fileBytes,
          100.0 * (fileBytes - plaintextBytes) / plaintextBytes,
          kmsCalls);
    }

    // Copy segment 2's file over segment 1's: its key context names segment-000002, so it is
    // refused under the name segment-000001.
    Files.copy(
        data.resolve("segment-000002.seg"),
        data.resolve("segment-000001.seg"),
        StandardCopyOption.REPLACE_EXISTING);
    String refusal;
    try (KeyManager keys = KeyManagers.builder().kekStore(store).allowDevelopmentKms().build();
        SegmentFileStore segments = new SegmentFileStore(keys, "segments", "events", data)) {
      segments.read("segment-000001", 0, 10);
      throw new IllegalStateException("a swapped segment file was served");
    } catch (InvalidCiphertextException e) {
      refusal = e.getMessage();
      out.println("swapped file refused: " + refusal);
    } finally {
      store.close();
    }
    return new Result(plaintextBytes, fileBytes, checked, kmsCalls, refusal);
  }

  private static void deleteRecursively(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (var paths = Files.walk(root)) {
      for (Path p : paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
        Files.delete(p);
      }
    }
  }
}
