package dev.keymanager.core;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.testkit.FakeKms;
import dev.keymanager.testkit.LifecycleHistory;
import dev.keymanager.testkit.LinearizabilityChecker;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proof 2 of issue 23 on the file store: 2 OS processes, each a key manager on one store directory,
 * run every lifecycle call concurrently on shared KEKs ({@link LifecycleRaceChild}); one serial
 * order must explain every acknowledged result, and no wrap may start under a version a returned
 * change forbade (in the other process: after the hard TTL). Both processes read {@link
 * System#nanoTime()} from the machine's one monotonic clock, so their times compare.
 *
 * <p>{@code -Dkeymanager.race.ops=N} sets the operations per trial (default 1,000) and {@code
 * -Dkeymanager.race.trials=N} the trials (default 1); see docs/testing.md.
 */
class FileStoreLifecycleRaceTest {
  static final Duration HARD_TTL = Duration.ofSeconds(1);
  static final List<URI> CMKS =
      List.of(FakeKms.cmk("race-a"), FakeKms.cmk("race-b"), FakeKms.cmk("race-c"));
  private static final int PROCESSES = 2;
  private static final int THREADS = 2;
  private static final int OPS_PER_KEK = 15;
  private static final long TIMEOUT_SECONDS = 600;

  @TempDir Path temp;

  @Test
  void everyAcknowledgedLifecycleCallAcrossProcessesIsExplainedByOneSerialOrder() throws Exception {
    int ops = Integer.getInteger("keymanager.race.ops", 1000);
    int trials = Integer.getInteger("keymanager.race.trials", 1);
    int violations = 0;
    for (int trial = 0; trial < trials; trial++) {
      Path dir = temp.resolve("keks-" + trial);
      int keks = Math.max(1, ops / OPS_PER_KEK);
      List<Process> children = new ArrayList<>();
      LifecycleHistory history = new LifecycleHistory();
      try {
        for (int p = 0; p < PROCESSES; p++) {
          int share = ops / PROCESSES + (p < ops % PROCESSES ? 1 : 0);
          children.add(
              new ProcessBuilder(
                      Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                      "-Xmx128m",
                      "-XX:+UseSerialGC",
                      "-cp",
                      System.getProperty("java.class.path"),
                      LifecycleRaceChild.class.getName(),
                      dir.toString(),
                      "file" + p,
                      Long.toString(trial * 1000L + p),
                      Integer.toString(share),
                      Integer.toString(THREADS),
                      "race" + trial,
                      Integer.toString(keks))
                  .redirectError(temp.resolve("child-" + trial + "-" + p + ".stderr").toFile())
                  .start());
        }
        List<BufferedReader> outs = new ArrayList<>();
        for (Process child : children) {
          BufferedReader out =
              new BufferedReader(new InputStreamReader(child.getInputStream(), UTF_8));
          String ready =
              CompletableFuture.supplyAsync(() -> readLine(out)).get(60, TimeUnit.SECONDS);
          assertThat(ready).as("child's first line").isEqualTo("ready");
          outs.add(out);
        }
        for (Process child : children) {
          OutputStream go = child.getOutputStream();
          go.write("go\n".getBytes(UTF_8));
          go.flush();
        }
        List<CompletableFuture<List<String>>> lines = new ArrayList<>();
        for (BufferedReader out : outs) {
          lines.add(CompletableFuture.supplyAsync(() -> readUntilDone(out)));
        }
        for (CompletableFuture<List<String>> l : lines) {
          history.addLines(l.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        }
        for (Process child : children) {
          assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
          assertThat(child.exitValue()).as("child exit status").isZero();
        }
      } finally {
        children.forEach(Process::destroyForcibly);
      }
      LinearizabilityChecker.Report report =
          new LinearizabilityChecker(HARD_TTL).check(history.ops());
      System.out.printf(
          "File store lifecycle race, trial %d of %d, %d processes: %s%n",
          trial + 1, trials, PROCESSES, report);
      assertThat(history.ops()).hasSize(ops);
      assertThat(report.failed()).as("operations with an unknown effect").isZero();
      violations += report.violations().size();
      assertThat(report.violations()).isEmpty();
    }
    System.out.printf("File store lifecycle race: %d trials, %d violations%n", trials, violations);
  }

  private static String readLine(BufferedReader in) {
    try {
      return in.readLine();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<String> readUntilDone(BufferedReader in) {
    List<String> lines = new ArrayList<>();
    for (String line = readLine(in); !"done".equals(line); line = readLine(in)) {
      if (line == null) {
        throw new IllegalStateException("child ended before printing its history");
      }
      lines.add(line);
    }
    return lines;
  }
}
