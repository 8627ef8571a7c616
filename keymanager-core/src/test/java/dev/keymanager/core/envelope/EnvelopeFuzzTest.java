package dev.keymanager.core.envelope;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The bounded fuzz run of the normal build: {@value #DEFAULT_INPUTS} seeded random inputs per
 * target (property {@code keymanager.fuzz.inputs}; {@code -Pfuzz} raises it), through the targets
 * of {@link FuzzTargets}. The seed is random per run and printed with the input counts; set {@code
 * keymanager.fuzz.seed} to replay a run. A failing input is printed in hex.
 */
class EnvelopeFuzzTest {
  static final int DEFAULT_INPUTS = 3000;

  private static final long SEED = Long.getLong("keymanager.fuzz.seed", new Random().nextLong());
  private static final int COUNT = Integer.getInteger("keymanager.fuzz.inputs", DEFAULT_INPUTS);

  /** A target method of {@link FuzzTargets}. */
  private interface Target {
    void call(FuzzTargets t, byte[] input) throws Exception;
  }

  private static void fuzz(String name, Target target, int maxLength) {
    try (FuzzTargets t = new FuzzTargets()) {
      Random random = new Random(SEED ^ name.hashCode());
      long started = System.nanoTime();
      for (int i = 0; i < COUNT; i++) {
        byte[] input = new byte[random.nextInt(maxLength)];
        random.nextBytes(input);
        t.run(in -> target.call(t, in), input);
      }
      long ms = (System.nanoTime() - started) / 1_000_000;
      System.out.println(t.summary(name) + " in " + ms + " ms (seed " + SEED + ")");
      assertThat(t.inputs).hasValue(COUNT);
      assertThat(t.rejected.get() + t.decrypted.get()).isEqualTo(COUNT);
      assertThat(t.rejected.get()).isPositive();
    }
  }

  @Test
  void headerParserOnlyEverRaisesInvalidCiphertext() {
    fuzz("header", FuzzTargets::header, 1200);
  }

  @Test
  void oneShotDecryptOnlyEverRaisesInvalidCiphertextOrReturnsTheOriginal() {
    fuzz("one-shot", FuzzTargets::oneShot, 64);
  }

  @Test
  void streamingDecryptOnlyEverRaisesInvalidCiphertextOrReturnsTheOriginal() {
    fuzz("stream", FuzzTargets::stream, 64);
  }

  @Test
  void seekableReadsOnlyEverRaiseInvalidCiphertextOrReturnTheOriginal() {
    fuzz("seekable", FuzzTargets::seekable, 96);
  }
}
