package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a held {@link DataKey} costs per use, and an unwrap, on a key manager with the system clock
 * (the production ticker), KEK cached: the price of checking on every use that the DEK's KEK may
 * still be used (issue 14).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class DataKeyBenchmark {
  private FakeKms kms;
  private KeyManager keys;
  private WrappedKey wrapped;
  private DataKey held;

  @Setup(Level.Trial)
  public void setUp() {
    kms = new FakeKms();
    KekStore store = KekStores.inMemory();
    keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .hardTtl(Duration.ofHours(1))
            .build();
    keys.admin().createKek("tenant-0", Fixture.CMK);
    try (DataKey dek = keys.generateDek("tenant-0", Fixture.CONTEXT)) {
      wrapped = dek.wrappedKey();
    }
    held = keys.unwrapDek(wrapped, Fixture.CONTEXT);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    held.close();
    keys.close();
  }

  /** One use of a DataKey kept open: the liveness check and the lend. */
  @Benchmark
  @Threads(1)
  public int use(CpuTime cpu) {
    cpu.op();
    return held.use(b -> b[0]);
  }

  /** Unwrap a DEK (KEK cached), use it once, close it. */
  @Benchmark
  @Threads(1)
  public int unwrapAndUse(CpuTime cpu) {
    cpu.op();
    try (DataKey dek = keys.unwrapDek(wrapped, Fixture.CONTEXT)) {
      return dek.use(b -> b[0]);
    }
  }
}
