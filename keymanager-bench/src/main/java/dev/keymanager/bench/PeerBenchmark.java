package dev.keymanager.bench;

import com.amazonaws.encryptionsdk.AwsCrypto;
import com.amazonaws.encryptionsdk.CommitmentPolicy;
import com.amazonaws.encryptionsdk.CryptoAlgorithm;
import com.amazonaws.encryptionsdk.CryptoMaterialsManager;
import com.amazonaws.encryptionsdk.caching.CachingCryptoMaterialsManager;
import com.amazonaws.encryptionsdk.caching.LocalCryptoMaterialsCache;
import com.amazonaws.encryptionsdk.jce.JceMasterKey;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
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
 * The peers at their best on the hot path, one thread, on a message of the size of a keymanager DEK
 * (32 bytes) under the same context:
 *
 * <ul>
 *   <li>the AWS Encryption SDK for Java: {@code decryptData} through a {@link
 *       CachingCryptoMaterialsManager} over a local {@link JceMasterKey}, so the data key comes
 *       from its cache; algorithm suite {@code ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY}, the
 *       committing suite without a signature (the default suite adds an ECDSA P-384 verification
 *       per decrypt, which would flatter keymanager);
 *   <li>Tink's {@code KmsEnvelopeAead} over a fake KMS with no latency: its floor, since it calls
 *       the KMS on every decrypt (the cold-path benchmarks add the latency).
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class PeerBenchmark {
  private AwsCrypto crypto;
  private CryptoMaterialsManager cachingCmm;
  private byte[] esdkMessage;
  private Fixture fixture;
  private TinkEnvelope tink;

  @Setup(Level.Trial)
  public void setUp() {
    byte[] dek = new byte[32];
    SecureRandom random = new SecureRandom();
    random.nextBytes(dek);

    byte[] wrappingKey = new byte[32];
    random.nextBytes(wrappingKey);
    JceMasterKey masterKey =
        JceMasterKey.getInstance(
            new SecretKeySpec(wrappingKey, "AES"), "bench", "kek-0", "AES/GCM/NoPadding");
    Arrays.fill(wrappingKey, (byte) 0);
    crypto =
        AwsCrypto.builder()
            .withCommitmentPolicy(CommitmentPolicy.RequireEncryptRequireDecrypt)
            .withEncryptionAlgorithm(CryptoAlgorithm.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
            .build();
    cachingCmm =
        CachingCryptoMaterialsManager.newBuilder()
            .withMasterKeyProvider(masterKey)
            .withCache(new LocalCryptoMaterialsCache(100))
            .withMaxAge(5, TimeUnit.MINUTES)
            .build();
    esdkMessage = crypto.encryptData(cachingCmm, dek, Fixture.CONTEXT.entries()).getResult();
    if (!Arrays.equals(dek, esdkDecrypt())) {
      throw new IllegalStateException("ESDK round trip failed");
    }

    fixture = new Fixture(1, Duration.ofHours(1));
    tink = new TinkEnvelope(fixture.kms, dek, Fixture.CONTEXT.encode());
    if (!Arrays.equals(dek, tink.decrypt())) {
      throw new IllegalStateException("Tink round trip failed");
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    fixture.close();
  }

  @Benchmark
  public byte[] esdkCachingDecrypt(CpuTime cpu) {
    cpu.op();
    return esdkDecrypt();
  }

  @Benchmark
  public byte[] tinkEnvelopeDecrypt(CpuTime cpu) {
    cpu.op();
    return tink.decrypt();
  }

  private byte[] esdkDecrypt() {
    return crypto.decryptData(cachingCmm, esdkMessage).getResult();
  }
}
