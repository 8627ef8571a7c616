package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;
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
 * Issue 24, large working sets: one DEK under each of {@code keks} cached KEKs, unwrapped in a
 * random order that visits every KEK once per round, beside the JCE floor over the same number of
 * keys in the same order: one cipher per key kept keyed (so no key expansion per call, as
 * keymanager's per-subkey ciphers), the same blobs. Both miss the CPU caches alike; the ratio is
 * what the cache, the lease and the subkey lookup add on top. Target: at most 1.5 times the floor.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx6g")
@State(Scope.Benchmark)
public class WorkingSetBenchmark {
  @Param({"10000", "100000"})
  public int keks;

  private Fixture fixture;
  private KeyManager reader;
  private WrappedKey[] wrapped;
  private byte[][] blobs;
  private RawGcm.Layout[] layouts;
  private SecretKeySpec[] subkeys;
  private Cipher[] ciphers;
  private int[] order;
  private byte[] context;

  @Setup(Level.Trial)
  public void setUp() {
    fixture = new Fixture(keks, Duration.ofHours(1));
    reader =
        KeyManagers.builder()
            .kekStore(fixture.store)
            .kmsProvider(fixture.kms)
            .discoverProviders(false)
            .hardTtl(Duration.ofHours(1))
            // Headroom over the working set: at exactly the bound, Caffeine's admission policy
            // evicts and reloads a few entries while it settles.
            .maximumCachedKeks(2L * keks)
            .maximumCachedSubkeys(2L * keks)
            .build();
    context = Fixture.CONTEXT.encode();
    wrapped = new WrappedKey[keks];
    blobs = new byte[keks][];
    layouts = new RawGcm.Layout[keks];
    subkeys = new SecretKeySpec[keks];
    ciphers = new Cipher[keks];
    for (int i = 0; i < keks; i++) {
      wrapped[i] = fixture.wrapNewDek(i);
      blobs[i] = wrapped[i].encode();
      layouts[i] = RawGcm.Layout.of(wrapped[i]);
      subkeys[i] = fixture.rawSubkey(wrapped[i]);
      ciphers[i] = RawGcm.newCipher();
      RawGcm.decrypt(ciphers[i], subkeys[i], blobs[i], layouts[i], context); // keyed
      try (DataKey dek = reader.unwrapDek(wrapped[i], Fixture.CONTEXT)) {
        if (!java.util.Arrays.equals(
            dek.use(byte[]::clone),
            RawGcm.decrypt(ciphers[i], subkeys[i], blobs[i], layouts[i], context))) {
          throw new IllegalStateException("raw JCE and keymanager disagree on DEK " + i);
        }
      }
    }
    order = new int[keks];
    for (int i = 0; i < keks; i++) {
      order[i] = i;
    }
    java.util.Random random = new java.util.Random(24);
    for (int i = keks - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    // Every KEK stays cached: a miss here would measure the KMS, not the working set.
    System.out.println("reader stats after the trial: " + reader.stats());
    reader.close();
    fixture.close();
  }

  /** Where each thread is in the shuffled order. */
  @State(Scope.Thread)
  public static class PerThread {
    int next;

    int next(int[] order) {
      int i = next;
      next = i + 1 == order.length ? 0 : i + 1;
      return order[i];
    }
  }

  @Benchmark
  @Threads(1)
  public int unwrap(PerThread t, CpuTime cpu) {
    cpu.op();
    try (DataKey dek = reader.unwrapDek(wrapped[t.next(order)], Fixture.CONTEXT)) {
      return dek.length();
    }
  }

  @Benchmark
  @Threads(1)
  public byte[] jceDecryptCipherPerKey(PerThread t, CpuTime cpu) {
    cpu.op();
    int i = t.next(order);
    return RawGcm.decrypt(ciphers[i], subkeys[i], blobs[i], layouts[i], context);
  }
}
