package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cold path: a DEK unwrap whose KEK is not cached, so it waits for one KMS unwrap with the
 * {@code FakeKms} latency set to {@link #latencyMillis}; beside it Tink's {@code KmsEnvelopeAead},
 * which pays the same KMS call on every decrypt.
 *
 * <p>Before every keymanager operation the benchmark moves the key manager's clock past the hard
 * TTL (one second), so the cached KEK has expired and the operation reloads it: store read, KMS
 * unwrap, HKDF subkey, re-keyed cipher. {@link KmsCalls} counts the KMS calls so that the result
 * shows one per operation.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class ColdPathBenchmark {
  static final Duration HARD_TTL = Duration.ofSeconds(1);
  static final Duration PAST_TTL = HARD_TTL.plusMillis(1);

  @Param({"1", "20"})
  public int latencyMillis;

  private Fixture fixture;
  private KeyManager keys;
  private WrappedKey wrapped;
  private TinkEnvelope tink;

  @Setup(Level.Trial)
  public void setUp() {
    fixture = new Fixture(1, HARD_TTL, new ManualClock());
    keys = fixture.reader;
    wrapped = fixture.wrapNewDek(0);
    byte[] dek = fixture.readerUnwrap(wrapped);
    tink = new TinkEnvelope(fixture.kms, dek, Fixture.CONTEXT.encode());
    fixture.kms.latency(Duration.ofMillis(latencyMillis));
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    fixture.close();
  }

  /** KMS unwrap calls per iteration, beside the operation count JMH reports. */
  @AuxCounters(AuxCounters.Type.EVENTS)
  @State(Scope.Thread)
  public static class KmsCalls {
    public long kmsCalls;
    public long operations;

    @Setup(Level.Iteration)
    public void reset() {
      kmsCalls = 0;
      operations = 0;
    }
  }

  @Benchmark
  public int unwrap(KmsCalls calls) {
    fixture.clock.advance(PAST_TTL);
    long before = fixture.kms.unwrapCalls();
    try (DataKey dek = keys.unwrapDek(wrapped, Fixture.CONTEXT)) {
      calls.kmsCalls += fixture.kms.unwrapCalls() - before;
      calls.operations++;
      return dek.length();
    }
  }

  @Benchmark
  public byte[] tinkEnvelopeDecrypt(KmsCalls calls) {
    long before = fixture.kms.unwrapCalls();
    byte[] dek = tink.decrypt();
    calls.kmsCalls += fixture.kms.unwrapCalls() - before;
    calls.operations++;
    return dek;
  }
}
