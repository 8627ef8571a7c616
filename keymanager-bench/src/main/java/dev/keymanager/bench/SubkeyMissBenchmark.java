package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
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
 * Issue 24, the cost of one subkey miss, beside its floors in the same run. {@link #unwrapMiss}: a
 * reader whose subkey cache holds one subkey, unwrapping DEKs of one KEK under two salts in turn,
 * so every unwrap derives a subkey (HKDF-SHA256, AES-GCM key set-up) and wipes the other (its
 * bytes, the scrub of its cipher). {@link #unwrapHit}: the same reader shape with room for both, so
 * {@code unwrapMiss - unwrapHit} is what a miss adds. The floors, with plain JCE objects kept
 * across calls: {@link #hkdfFloor} (extract and expand, two HMAC key set-ups) and {@link
 * #aesKeySetupFloor} (one AES-GCM {@code init} with a key other than the last, so the schedule is
 * expanded every time), and {@link #aesEcbKeySetupFloor}, the same for AES in ECB mode: the key
 * expansion alone, without GCM's own set-up.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class SubkeyMissBenchmark {
  private static final byte[] INFO =
      "keymanager/v1 dek-wrap AES256_GCM_HKDF_SHA256".getBytes(StandardCharsets.US_ASCII);

  private Fixture fixture;
  private KeyManager missReader;
  private KeyManager hitReader;
  private final WrappedKey[] twoSalts = new WrappedKey[2];

  private final byte[] kek = new byte[32];
  private final byte[][] salts = new byte[2][32];
  private Mac mac;
  private Cipher cipher;
  private Cipher ecb;
  private final SecretKeySpec[] aesKeys = new SecretKeySpec[2];
  private final byte[] nonce = new byte[12];

  @Setup(Level.Trial)
  public void setUp() throws GeneralSecurityException {
    fixture = new Fixture(1, Duration.ofHours(1));
    for (int i = 0; i < 2; i++) {
      // A writer process of its own: a new wrap salt.
      try (KeyManager writer =
              KeyManagers.builder()
                  .kekStore(fixture.store)
                  .kmsProvider(fixture.kms)
                  .discoverProviders(false)
                  .build();
          DataKey dek = writer.generateDek(Fixture.kekId(0), Fixture.CONTEXT)) {
        twoSalts[i] = dek.wrappedKey();
      }
    }
    missReader = reader(1);
    hitReader = reader(2);
    for (WrappedKey w : twoSalts) {
      try (DataKey dek = hitReader.unwrapDek(w, Fixture.CONTEXT)) {
        dek.length(); // both subkeys derived before the measurement
      }
    }
    Arrays.fill(kek, (byte) 7);
    salts[0][0] = 1;
    salts[1][0] = 2;
    mac = Mac.getInstance("HmacSHA256");
    cipher = Cipher.getInstance("AES/GCM/NoPadding");
    ecb = Cipher.getInstance("AES/ECB/NoPadding");
    aesKeys[0] = new SecretKeySpec(salts[0], "AES");
    aesKeys[1] = new SecretKeySpec(salts[1], "AES");
  }

  private KeyManager reader(long subkeys) {
    return KeyManagers.builder()
        .kekStore(fixture.store)
        .kmsProvider(fixture.kms)
        .discoverProviders(false)
        .hardTtl(Duration.ofHours(1))
        .maximumCachedSubkeys(subkeys)
        .build();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    missReader.close();
    hitReader.close();
    fixture.close();
  }

  /** Which of the two salts or keys is next, per thread. */
  @State(Scope.Thread)
  public static class PerThread {
    int next;

    int next() {
      next ^= 1;
      return next;
    }
  }

  @Benchmark
  @Threads(1)
  public int unwrapMiss(PerThread t, CpuTime cpu) {
    cpu.op();
    try (DataKey dek = missReader.unwrapDek(twoSalts[t.next()], Fixture.CONTEXT)) {
      return dek.length();
    }
  }

  @Benchmark
  @Threads(1)
  public int unwrapHit(PerThread t, CpuTime cpu) {
    cpu.op();
    try (DataKey dek = hitReader.unwrapDek(twoSalts[t.next()], Fixture.CONTEXT)) {
      return dek.length();
    }
  }

  @Benchmark
  @Threads(1)
  public byte[] hkdfFloor(PerThread t, CpuTime cpu) throws GeneralSecurityException {
    cpu.op();
    mac.init(new SecretKeySpec(salts[t.next()], "HmacSHA256"));
    byte[] prk = mac.doFinal(kek);
    mac.init(new SecretKeySpec(prk, "HmacSHA256"));
    mac.update(INFO);
    mac.update((byte) 1);
    return mac.doFinal();
  }

  @Benchmark
  @Threads(1)
  public Cipher aesKeySetupFloor(PerThread t, CpuTime cpu) throws GeneralSecurityException {
    cpu.op();
    cipher.init(Cipher.DECRYPT_MODE, aesKeys[t.next()], new GCMParameterSpec(128, nonce));
    return cipher;
  }

  @Benchmark
  @Threads(1)
  public Cipher aesEcbKeySetupFloor(PerThread t, CpuTime cpu) throws GeneralSecurityException {
    cpu.op();
    ecb.init(Cipher.DECRYPT_MODE, aesKeys[t.next()]);
    return ecb;
  }
}
