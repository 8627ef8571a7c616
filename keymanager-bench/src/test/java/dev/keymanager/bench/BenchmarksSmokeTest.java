package dev.keymanager.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

/**
 * Runs every benchmark once, briefly and in this JVM (about 10 s), so the normal build proves they
 * still work against the current core: setup succeeds (including the check that raw JCE and
 * keymanager unwrap the same bytes to the same DEK, and the payload round trips through {@code
 * EnvelopeCipher}, one-shot and streaming), every benchmark yields a time, and the cold and herd
 * benchmarks make the KMS calls they claim to measure. It asserts nothing about speed: that is
 * {@code keymanager-bench/run.sh}'s job, on a quiet machine.
 */
class BenchmarksSmokeTest {
  private static final Map<String, RunResult> RESULTS = new TreeMap<>();
  private static java.nio.file.Path stores;

  @BeforeAll
  static void runEveryBenchmarkOnce() throws RunnerException, java.io.IOException {
    stores = java.nio.file.Files.createTempDirectory("bench-file-stores");
    System.setProperty("keymanager.bench.fileStoreDir", stores.toString());
    Options options =
        new OptionsBuilder()
            .include(BenchmarksSmokeTest.class.getPackageName() + ".")
            .forks(0)
            .warmupIterations(0)
            .measurementIterations(1)
            .measurementTime(TimeValue.milliseconds(100))
            .param("streamBytes", Integer.toString(1 << 20)) // not 64 MiB in the test JVM
            .param(
                "keks",
                "200") // FileStoreBenchmark, WorkingSetBenchmark: not 100,000 KEKs in the build
            .param("salts", "2") // SaltsBenchmark: not 64 writer processes
            .shouldFailOnError(true)
            .verbosity(VerboseMode.SILENT)
            .build();
    Collection<RunResult> results = new Runner(options).run();
    for (RunResult r : results) {
      RESULTS.put(key(r), r);
    }
  }

  @org.junit.jupiter.api.AfterAll
  static void removeFileStores() throws java.io.IOException {
    System.clearProperty("keymanager.bench.fileStoreDir");
    try (java.util.stream.Stream<java.nio.file.Path> all = java.nio.file.Files.walk(stores)) {
      for (java.nio.file.Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
        java.nio.file.Files.delete(p);
      }
    }
  }

  private static String key(RunResult r) {
    String name = r.getParams().getBenchmark();
    String shortName = name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1);
    String latency = r.getParams().getParam("latencyMillis");
    return latency == null ? shortName : shortName + "@" + latency;
  }

  private static double secondary(String key, String label) {
    Result<?> r = RESULTS.get(key).getSecondaryResults().get(label);
    assertThat(r).as(key + " " + label).isNotNull();
    return r.getScore();
  }

  @Test
  void everyBenchmarkRanAndMeasuredATime() {
    assertThat(RESULTS.keySet())
        .contains(
            "HotPathBenchmark.unwrap",
            "FileStoreBenchmark.open",
            "FileStoreBenchmark.listAllFirstTime",
            "FileStoreBenchmark.listAllAgain",
            "FileStoreBenchmark.readIndexFile",
            "HotPathBenchmark.unwrapTwoThreads",
            "HotPathBenchmark.generateDek",
            "HotPathBenchmark.generateDekTwoThreads",
            "HotPathBenchmark.unwrapWorkingSet8",
            "HotPathBenchmark.jceDecrypt",
            "HotPathBenchmark.jceRandomEncrypt",
            "PeerBenchmark.esdkCachingDecrypt",
            "PeerBenchmark.tinkEnvelopeDecrypt",
            "ColdPathBenchmark.unwrap@1",
            "ColdPathBenchmark.unwrap@20",
            "HerdBenchmark.unwrap@1",
            "HerdBenchmark.unwrap@20",
            "PayloadBenchmark.jceEncrypt",
            "PayloadBenchmark.encrypt",
            "PayloadBenchmark.decrypt",
            "PayloadBenchmark.encryptFreshDek",
            "PayloadBenchmark.decryptFreshDek",
            "StreamingFloor.tinkDecryptStream",
            "Streaming.encryptStream",
            "Streaming.decryptStream",
            "SaltsBenchmark.unwrap",
            "SubkeyMissBenchmark.unwrapMiss",
            "SubkeyMissBenchmark.unwrapHit",
            "SubkeyMissBenchmark.hkdfFloor",
            "SubkeyMissBenchmark.aesKeySetupFloor",
            "SubkeyMissBenchmark.aesEcbKeySetupFloor",
            "SaltsBenchmark.jceDecryptCipherPerKey",
            "WorkingSetBenchmark.unwrap",
            "WorkingSetBenchmark.jceDecryptCipherPerKey",
            "ScalingBenchmark.alternate");
    RESULTS.forEach(
        (name, r) -> assertThat(r.getPrimaryResult().getScore()).as(name).isPositive().isFinite());
  }

  @Test
  void coldUnwrapCallsTheKmsOncePerOperationLikeTink() {
    for (String latency : new String[] {"1", "20"}) {
      String keymanager = "ColdPathBenchmark.unwrap@" + latency;
      String tink = "ColdPathBenchmark.tinkEnvelopeDecrypt@" + latency;
      assertThat(secondary(keymanager, "operations")).isPositive();
      assertThat(secondary(keymanager, "kmsCalls")).isEqualTo(secondary(keymanager, "operations"));
      assertThat(secondary(tink, "kmsCalls")).isEqualTo(secondary(tink, "operations"));
    }
  }

  @Test
  void aHerdOnOneColdKekMakesOneKmsCallWhereTinkMakesOnePerThread() {
    for (String latency : new String[] {"1", "20"}) {
      String keymanager = "HerdBenchmark.unwrap@" + latency;
      String tink = "HerdBenchmark.tinkEnvelopeDecrypt@" + latency;
      assertThat(secondary(keymanager, "herds")).isPositive();
      assertThat(secondary(keymanager, "kmsCalls")).isEqualTo(secondary(keymanager, "herds"));
      assertThat(secondary(tink, "kmsCalls")).isEqualTo(16 * secondary(tink, "herds"));
    }
  }

  @Test
  void theScalingBenchmarkCountsEveryKindOfPhase() {
    // One 100 ms iteration spans every phase of a round (4 x 20 ms) at least once.
    for (String phase :
        new String[] {"floorSolo", "keymanagerSolo", "floorPair", "keymanagerPair"}) {
      assertThat(secondary("ScalingBenchmark.alternate", phase + "Ops")).as(phase).isPositive();
      assertThat(secondary("ScalingBenchmark.alternate", phase + "CpuNanos"))
          .as(phase)
          .isPositive();
    }
  }
}
