package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
 * Issue 24, salts: DEKs of 100 cached KEKs, each KEK's DEKs written by {@code salts} writer
 * processes (one wrap salt each), unwrapped in random order by one reader; the target is 64 salts
 * at most 1.3 times the cost of 1. Every subkey is derived in the set-up, before the measurement,
 * and the reader's subkey bound (20,000) holds all 6,400 of them, so no measured unwrap derives
 * one; {@link SubkeyMissBenchmark} measures a miss.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class SaltsBenchmark {
  static final int KEKS = 100;

  @Param({"1", "8", "16", "17", "32", "64"})
  public int salts;

  private Fixture fixture;
  private KeyManager reader;
  private WrappedKey[] shuffled;
  private byte[][] blobs;
  private RawGcm.Layout[] layouts;
  private javax.crypto.spec.SecretKeySpec[] subkeys;
  private javax.crypto.Cipher[] ciphers;
  private byte[] context;

  @Setup(Level.Trial)
  public void setUp() {
    fixture = new Fixture(KEKS, Duration.ofHours(1));
    List<WrappedKey> all = new ArrayList<>();
    for (int s = 0; s < salts; s++) {
      // A writer process of its own: a new wrap salt for every KEK.
      try (KeyManager writer = writer()) {
        for (int k = 0; k < KEKS; k++) {
          try (DataKey dek = writer.generateDek(Fixture.kekId(k), Fixture.CONTEXT)) {
            all.add(dek.wrappedKey());
          }
        }
      }
    }
    Collections.shuffle(all, new Random(24));
    shuffled = all.toArray(WrappedKey[]::new);
    context = Fixture.CONTEXT.encode();
    blobs = new byte[shuffled.length][];
    layouts = new RawGcm.Layout[shuffled.length];
    subkeys = new javax.crypto.spec.SecretKeySpec[shuffled.length];
    ciphers = new javax.crypto.Cipher[shuffled.length];
    for (int i = 0; i < shuffled.length; i++) {
      blobs[i] = shuffled[i].encode();
      layouts[i] = RawGcm.Layout.of(shuffled[i]);
      subkeys[i] = fixture.rawSubkey(shuffled[i]);
      ciphers[i] = RawGcm.newCipher();
      if (!java.util.Arrays.equals(
          fixture.readerUnwrap(shuffled[i]),
          RawGcm.decrypt(ciphers[i], subkeys[i], blobs[i], layouts[i], context))) {
        throw new IllegalStateException("raw JCE and keymanager disagree on DEK " + i);
      }
    }
    reader = fixture.reader;
    for (WrappedKey w : shuffled) {
      fixture.readerUnwrap(w); // loads every KEK and derives every subkey once
    }
  }

  private KeyManager writer() {
    return KeyManagers.builder()
        .kekStore(fixture.store)
        .kmsProvider(fixture.kms)
        .discoverProviders(false)
        .build();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    fixture.close();
  }

  /** Where each thread is in the shuffled DEKs. */
  @State(Scope.Thread)
  public static class PerThread {
    int next;
  }

  @Benchmark
  @Threads(1)
  public int unwrap(PerThread t, CpuTime cpu) {
    cpu.op();
    int i = t.next;
    t.next = i + 1 == shuffled.length ? 0 : i + 1;
    try (DataKey dek = reader.unwrapDek(shuffled[i], Fixture.CONTEXT)) {
      return dek.length();
    }
  }

  @Benchmark
  @Threads(1)
  public byte[] jceDecryptCipherPerKey(PerThread t, CpuTime cpu) {
    cpu.op();
    int i = t.next;
    t.next = i + 1 == shuffled.length ? 0 : i + 1;
    return RawGcm.decrypt(ciphers[i], subkeys[i], blobs[i], layouts[i], context);
  }
}
