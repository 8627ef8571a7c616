package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;
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
 * The hot path: DEK unwrap, decode + unwrap and generate + wrap with the KEK cached, and unwrap
 * across a working set of 8 KEKs, at one, two and four threads, each beside its raw JCE floor on
 * the same bytes. Compare CPU time per op ({@code cpuNanos / ops}) across thread counts: on a
 * 2-core machine four threads are oversubscribed, but a cache line two cores both write still shows
 * as more CPU per op.
 *
 * <p>One key manager serves every thread, as in an application. The wrapped DEKs were made by
 * another key manager instance over the same store (a process before a restart), so the reader
 * unwraps under salts it did not pick, as it would in production.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class HotPathBenchmark {
  static final int WORKING_SET = 8;
  private static final AtomicLong THREADS = new AtomicLong();

  private Fixture fixture;
  private KeyManager keys;
  private WrappedKey wrapped;
  private byte[] blob;
  private RawGcm.Layout layout;
  private SecretKeySpec subkey;
  private WrappedKey[] workingSet;
  private byte[][] workingSetBlobs;
  private RawGcm.Layout[] workingSetLayouts;
  private SecretKeySpec[] workingSetSubkeys;
  private byte[] context;

  @Setup(Level.Trial)
  public void setUp() {
    fixture = new Fixture(WORKING_SET, Duration.ofHours(1));
    keys = fixture.reader;
    context = Fixture.CONTEXT.encode();
    workingSet = new WrappedKey[WORKING_SET];
    workingSetBlobs = new byte[WORKING_SET][];
    workingSetLayouts = new RawGcm.Layout[WORKING_SET];
    workingSetSubkeys = new SecretKeySpec[WORKING_SET];
    Cipher check = RawGcm.newCipher();
    for (int i = 0; i < WORKING_SET; i++) {
      workingSet[i] = fixture.wrapNewDek(i);
      workingSetBlobs[i] = workingSet[i].encode();
      workingSetLayouts[i] = RawGcm.Layout.of(workingSet[i]);
      workingSetSubkeys[i] = fixture.rawSubkey(workingSet[i]);
      byte[] expected = fixture.readerUnwrap(workingSet[i]); // also loads KEK i into the cache
      byte[] raw =
          RawGcm.decrypt(
              check, workingSetSubkeys[i], workingSetBlobs[i], workingSetLayouts[i], context);
      if (!Arrays.equals(expected, raw)) {
        throw new IllegalStateException("raw JCE and keymanager disagree on wrapped DEK " + i);
      }
    }
    wrapped = workingSet[0];
    blob = workingSetBlobs[0];
    layout = workingSetLayouts[0];
    subkey = workingSetSubkeys[0];
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    fixture.close();
  }

  /** What each thread of the raw JCE baselines keeps: its cipher(s), its DRBG, its counters. */
  @State(Scope.Thread)
  public static class PerThread {
    Cipher cipher;
    Cipher[] cipherPerKey;
    SecureRandom random;
    long counter;
    int next;

    @Setup(Level.Trial)
    public void setUp() {
      cipher = RawGcm.newCipher();
      cipherPerKey = new Cipher[WORKING_SET];
      for (int i = 0; i < WORKING_SET; i++) {
        cipherPerKey[i] = RawGcm.newCipher();
      }
      random = RawGcm.newDrbg();
      // Distinct nonce ranges per thread: two threads must never encrypt under one nonce.
      counter = THREADS.incrementAndGet() << 40;
    }

    int nextInWorkingSet() {
      int i = next;
      next = (i + 1) % WORKING_SET;
      return i;
    }
  }

  private int unwrap(WrappedKey w) {
    try (DataKey dek = keys.unwrapDek(w, Fixture.CONTEXT)) {
      return dek.length();
    }
  }

  // One operation of each kind, shared by the benchmarks below and ScalingBenchmark.

  /** Unwraps the hot wrapped key. */
  int unwrapOnce() {
    return unwrap(wrapped);
  }

  /**
   * Decodes the hot wrapped key's bytes, then unwraps it, as an application reading it off disk.
   */
  int decodeAndUnwrapOnce() {
    return unwrap(WrappedKey.decode(blob));
  }

  /** Generates a DEK under KEK 0 and wraps it. */
  int generateOnce() {
    try (DataKey dek = keys.generateDek(Fixture.kekId(0), Fixture.CONTEXT)) {
      return dek.wrappedKey().length();
    }
  }

  /** Unwraps the next wrapped key of {@code t}'s turn through the 8-KEK working set. */
  int unwrapWorkingSetOnce(PerThread t) {
    return unwrap(workingSet[t.nextInWorkingSet()]);
  }

  /** The floor of unwrap: one JCE decrypt of the hot wrapped key's bytes. */
  byte[] jceDecryptOnce(PerThread t) {
    return RawGcm.decrypt(t.cipher, subkey, blob, layout, context);
  }

  /** The floor of generate + wrap: 32 bytes from a per-thread DRBG, then one JCE encrypt. */
  byte[] jceRandomEncryptOnce(PerThread t) {
    byte[] dek = new byte[32];
    t.random.nextBytes(dek);
    byte[] out = RawGcm.encrypt(t.cipher, subkey, blob, layout, t.counter++, dek, context);
    Arrays.fill(dek, (byte) 0);
    return out;
  }

  /** The floor of the working set: a JCE decrypt of the next key in turn, a cipher per key. */
  byte[] jceWorkingSetOnce(PerThread t) {
    int i = t.nextInWorkingSet();
    return RawGcm.decrypt(
        t.cipherPerKey[i], workingSetSubkeys[i], workingSetBlobs[i], workingSetLayouts[i], context);
  }

  // --- DEK unwrap, KEK cached ---

  @Benchmark
  @Threads(1)
  public int unwrap(CpuTime cpu) {
    cpu.op();
    return unwrapOnce();
  }

  @Benchmark
  @Threads(2)
  public int unwrapTwoThreads(CpuTime cpu) {
    cpu.op();
    return unwrapOnce();
  }

  /** Oversubscribed on two cores, but CPU per op still shows any line both cores write. */
  @Benchmark
  @Threads(4)
  public int unwrapFourThreads(CpuTime cpu) {
    cpu.op();
    return unwrapOnce();
  }

  @Benchmark
  @Threads(2)
  public int decodeAndUnwrapTwoThreads(CpuTime cpu) {
    cpu.op();
    return decodeAndUnwrapOnce();
  }

  @Benchmark
  @Threads(4)
  public int decodeAndUnwrapFourThreads(CpuTime cpu) {
    cpu.op();
    return decodeAndUnwrapOnce();
  }

  @Benchmark
  @Threads(4)
  public byte[] jceDecryptFourThreads(PerThread t, CpuTime cpu) {
    cpu.op();
    return jceDecryptOnce(t);
  }

  /** As an application reads a wrapped key from disk: decode the bytes, then unwrap. */
  @Benchmark
  @Threads(1)
  public int decodeAndUnwrap(CpuTime cpu) {
    cpu.op();
    return decodeAndUnwrapOnce();
  }

  @Benchmark
  @Threads(1)
  public byte[] jceDecrypt(PerThread t, CpuTime cpu) {
    cpu.op();
    return jceDecryptOnce(t);
  }

  @Benchmark
  @Threads(2)
  public byte[] jceDecryptTwoThreads(PerThread t, CpuTime cpu) {
    cpu.op();
    return jceDecryptOnce(t);
  }

  // --- DEK generate + wrap, KEK cached ---

  @Benchmark
  @Threads(1)
  public int generateDek(CpuTime cpu) {
    cpu.op();
    return generateOnce();
  }

  @Benchmark
  @Threads(2)
  public int generateDekTwoThreads(CpuTime cpu) {
    cpu.op();
    return generateOnce();
  }

  @Benchmark
  @Threads(4)
  public int generateDekFourThreads(CpuTime cpu) {
    cpu.op();
    return generateOnce();
  }

  /** The floor for generate + wrap: 32 bytes from a per-thread DRBG, then one JCE encrypt. */
  @Benchmark
  @Threads(1)
  public byte[] jceRandomEncrypt(PerThread t, CpuTime cpu) {
    cpu.op();
    return jceRandomEncryptOnce(t);
  }

  @Benchmark
  @Threads(2)
  public byte[] jceRandomEncryptTwoThreads(PerThread t, CpuTime cpu) {
    cpu.op();
    return jceRandomEncryptOnce(t);
  }

  /** Where generate's floor goes: the 32 random bytes alone, from a per-thread DRBG. */
  @Benchmark
  @Threads(1)
  public byte[] randomBytes(PerThread t, CpuTime cpu) {
    cpu.op();
    byte[] dek = new byte[32];
    t.random.nextBytes(dek);
    return dek;
  }

  // --- 8 hot KEKs used in turn on each thread ---

  @Benchmark
  @Threads(1)
  public int unwrapWorkingSet8(PerThread t, CpuTime cpu) {
    cpu.op();
    return unwrapWorkingSetOnce(t);
  }

  @Benchmark
  @Threads(2)
  public int unwrapWorkingSet8TwoThreads(PerThread t, CpuTime cpu) {
    cpu.op();
    return unwrapWorkingSetOnce(t);
  }

  @Benchmark
  @Threads(4)
  public int unwrapWorkingSet8FourThreads(PerThread t, CpuTime cpu) {
    cpu.op();
    return unwrapWorkingSetOnce(t);
  }

  /** One reused cipher re-keyed on every call, as keymanager's per-thread cipher is. */
  @Benchmark
  @Threads(1)
  public byte[] jceDecryptWorkingSet8OneCipher(PerThread t, CpuTime cpu) {
    cpu.op();
    int i = t.nextInWorkingSet();
    return RawGcm.decrypt(
        t.cipher, workingSetSubkeys[i], workingSetBlobs[i], workingSetLayouts[i], context);
  }

  /** One cipher per key, so none is ever re-keyed: what a per-subkey cipher would achieve. */
  @Benchmark
  @Threads(1)
  public byte[] jceDecryptWorkingSet8CipherPerKey(PerThread t, CpuTime cpu) {
    cpu.op();
    return jceWorkingSetOnce(t);
  }
}
