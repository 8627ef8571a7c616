package dev.keymanager.core.envelope;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Coverage-guided fuzzing of the same targets with Jazzer, under {@code -Pfuzz} (which sets {@code
 * JAZZER_FUZZ=1}); outside that profile the {@code jazzer} tag is excluded. Each target runs for at
 * most {@code maxDuration}; libFuzzer prints the number of executions ({@code #N DONE}) and the
 * counts are printed after the class.
 */
class EnvelopeJazzerFuzzTest {
  private static FuzzTargets targets;

  @BeforeAll
  static void start() {
    targets = new FuzzTargets();
  }

  @AfterAll
  static void stop() {
    System.out.println(targets.summary("jazzer (all targets)"));
    targets.close();
  }

  @FuzzTest(maxDuration = "30s")
  void header(byte[] input) {
    targets.run(targets::header, input);
  }

  @FuzzTest(maxDuration = "30s")
  void oneShot(byte[] input) {
    targets.run(targets::oneShot, input);
  }

  @FuzzTest(maxDuration = "30s")
  void stream(byte[] input) {
    targets.run(targets::stream, input);
  }

  @FuzzTest(maxDuration = "30s")
  void seekable(byte[] input) {
    targets.run(targets::seekable, input);
  }
}
