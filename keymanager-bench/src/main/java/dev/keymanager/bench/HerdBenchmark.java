package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
 * The herd: {@link #herd} threads released together to unwrap DEKs under one KEK that is not
 * cached, with the KMS latency at {@link #latencyMillis}. One operation is one whole herd, from
 * release to the last thread's DEK; {@link KmsCalls} counts the KMS calls per herd (keymanager's
 * single flight should make one; Tink makes one per thread).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class HerdBenchmark {
  @Param({"1", "20"})
  public int latencyMillis;

  @Param({"16"})
  public int herd;

  private Fixture fixture;
  private KeyManager keys;
  private WrappedKey wrapped;
  private TinkEnvelope tink;
  private ExecutorService pool;

  @Setup(Level.Trial)
  public void setUp() {
    fixture = new Fixture(1, ColdPathBenchmark.HARD_TTL, new ManualClock());
    keys = fixture.reader;
    wrapped = fixture.wrapNewDek(0);
    byte[] dek = fixture.readerUnwrap(wrapped);
    tink = new TinkEnvelope(fixture.kms, dek, Fixture.CONTEXT.encode());
    fixture.kms.latency(Duration.ofMillis(latencyMillis));
    pool =
        Executors.newFixedThreadPool(
            herd,
            r -> {
              Thread t = new Thread(r, "herd");
              t.setDaemon(true);
              return t;
            });
  }

  @TearDown(Level.Trial)
  public void tearDown() throws InterruptedException {
    pool.shutdownNow();
    pool.awaitTermination(10, TimeUnit.SECONDS);
    fixture.close();
  }

  /** KMS unwrap calls and herds per iteration. */
  @AuxCounters(AuxCounters.Type.EVENTS)
  @State(Scope.Thread)
  public static class KmsCalls {
    public long kmsCalls;
    public long herds;

    @Setup(Level.Iteration)
    public void reset() {
      kmsCalls = 0;
      herds = 0;
    }
  }

  @Benchmark
  public int unwrap(KmsCalls calls) throws Exception {
    fixture.clock.advance(ColdPathBenchmark.PAST_TTL);
    return release(
        calls,
        () -> {
          try (DataKey dek = keys.unwrapDek(wrapped, Fixture.CONTEXT)) {
            return dek.length();
          }
        });
  }

  @Benchmark
  public int tinkEnvelopeDecrypt(KmsCalls calls) throws Exception {
    return release(calls, () -> tink.decrypt().length);
  }

  /** Starts the herd, waits until every thread stands at the gate, opens it, awaits them all. */
  private int release(KmsCalls calls, java.util.concurrent.Callable<Integer> op)
      throws InterruptedException, ExecutionException, TimeoutException {
    long before = fixture.kms.unwrapCalls();
    CountDownLatch ready = new CountDownLatch(herd);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> done = new ArrayList<>(herd);
    for (int i = 0; i < herd; i++) {
      done.add(
          pool.submit(
              () -> {
                ready.countDown();
                go.await();
                return op.call();
              }));
    }
    ready.await();
    go.countDown();
    int sum = 0;
    for (Future<Integer> f : done) {
      sum += f.get(1, TimeUnit.MINUTES);
    }
    calls.kmsCalls += fixture.kms.unwrapCalls() - before;
    calls.herds++;
    return sum;
  }
}
