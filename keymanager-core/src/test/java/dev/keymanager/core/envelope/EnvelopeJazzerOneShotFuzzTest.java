package dev.keymanager.core.envelope;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Coverage-guided fuzzing of {@link FuzzTargets#oneShot} with Jazzer under {@code -Pfuzz} ({@code
 * JAZZER_FUZZ=1}, one JVM per class because Jazzer fuzzes one test per JVM); outside that profile
 * the {@code jazzer} tag is excluded. libFuzzer prints the executions ({@code Done N runs}), and
 * the targets' counts are printed after the class.
 */
class EnvelopeJazzerOneShotFuzzTest {
  private static FuzzTargets targets;

  @BeforeAll
  static void start() {
    targets = new FuzzTargets();
  }

  @AfterAll
  static void stop() {
    System.out.println(targets.summary("jazzer oneShot"));
    targets.close();
  }

  @FuzzTest(maxDuration = "30s")
  void oneShot(byte[] input) {
    targets.run(targets::oneShot, input);
  }
}
