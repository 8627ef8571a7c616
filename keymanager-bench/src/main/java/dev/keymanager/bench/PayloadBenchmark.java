package dev.keymanager.bench;

import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.StreamingAead;
import com.google.crypto.tink.streamingaead.PredefinedStreamingAeadParameters;
import com.google.crypto.tink.streamingaead.StreamingAeadConfig;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Payload encryption: <b>only the floors so far</b>. keymanager's own payload benchmarks wait for
 * the envelope API (issue 5, branch {@code envelope}), which had not landed when this module was
 * written; they belong here, beside the floors they will be compared with, as:
 *
 * <ul>
 *   <li>{@code encrypt} / {@code decrypt}: one-shot envelope encryption of {@link #size} bytes
 *       under a cached KEK (a DEK per message, wrapped into the header), against {@link
 *       #jceEncrypt} / {@link #jceDecrypt};
 *   <li>{@code encryptStream} / {@code decryptStream}: 64 MiB through the streaming API, against
 *       {@link StreamingFloor}.
 * </ul>
 *
 * <p>The floors: one AES-256-GCM operation over the whole message with a reused, re-initialised JCE
 * cipher and no key management at all; and Tink's AES-GCM-HKDF streaming AEAD (1 MiB segments) with
 * one keyset, the primitive issue 5 plans to build on. {@code report.py} turns their times into
 * MB/s.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@Threads(1)
@State(Scope.Thread)
public class PayloadBenchmark {
  @Param({"1024", "65536", "1048576"})
  public int size;

  private final SecureRandom random = new SecureRandom();
  private SecretKeySpec key;
  private Cipher cipher;
  private byte[] plaintext;
  private byte[] ciphertext;
  private final byte[] nonce = new byte[Fixture.NONCE_LENGTH];
  private byte[] context;
  private long counter;

  @Setup(Level.Trial)
  public void setUp() throws GeneralSecurityException {
    byte[] k = new byte[32];
    random.nextBytes(k);
    key = new SecretKeySpec(k, "AES");
    cipher = RawGcm.newCipher();
    plaintext = new byte[size];
    random.nextBytes(plaintext);
    context = Fixture.CONTEXT.encode();
    ciphertext = jceEncrypt();
  }

  /** One-shot AES-256-GCM of the payload; a counter nonce, as a DEK used once would allow. */
  @Benchmark
  public byte[] jceEncrypt() throws GeneralSecurityException {
    long n = counter++;
    for (int i = 0; i < 8; i++) {
      nonce[4 + i] = (byte) (n >>> (56 - 8 * i));
    }
    cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
    cipher.updateAAD(context);
    byte[] out = new byte[Fixture.NONCE_LENGTH + size + RawGcm.TAG_LENGTH];
    System.arraycopy(nonce, 0, out, 0, Fixture.NONCE_LENGTH);
    cipher.doFinal(plaintext, 0, size, out, Fixture.NONCE_LENGTH);
    return out;
  }

  @Benchmark
  public byte[] jceDecrypt() throws GeneralSecurityException {
    cipher.init(
        Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, ciphertext, 0, Fixture.NONCE_LENGTH));
    cipher.updateAAD(context);
    return cipher.doFinal(
        ciphertext, Fixture.NONCE_LENGTH, ciphertext.length - Fixture.NONCE_LENGTH);
  }

  /** Tink's AES-GCM-HKDF streaming AEAD over 64 MiB, the floor for streaming payloads. */
  @BenchmarkMode(Mode.AverageTime)
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  @Warmup(iterations = 2, time = 2)
  @Measurement(iterations = 3, time = 2)
  @Fork(1)
  @Threads(1)
  @State(Scope.Thread)
  public static class StreamingFloor {
    private static final int CHUNK = 64 << 10;

    /** 64 MiB; a multiple of 64 KiB (the smoke test runs 1 MiB). */
    @Param({"67108864"})
    public int streamBytes;

    private StreamingAead aead;
    private byte[] chunk;
    private byte[] ciphertext;
    private byte[] context;

    @Setup(Level.Trial)
    public void setUp() throws GeneralSecurityException, IOException {
      StreamingAeadConfig.register();
      aead =
          KeysetHandle.generateNew(PredefinedStreamingAeadParameters.AES256_GCM_HKDF_1MB)
              .getPrimitive(RegistryConfiguration.get(), StreamingAead.class);
      chunk = new byte[CHUNK];
      new SecureRandom().nextBytes(chunk);
      context = Fixture.CONTEXT.encode();
      ByteArrayOutputStream sink = new ByteArrayOutputStream(streamBytes + (1 << 20));
      encryptInto(sink);
      ciphertext = sink.toByteArray();
    }

    private long encryptInto(OutputStream sink) throws GeneralSecurityException, IOException {
      try (OutputStream out = aead.newEncryptingStream(sink, context)) {
        for (int written = 0; written < streamBytes; written += CHUNK) {
          out.write(chunk);
        }
      }
      return streamBytes;
    }

    @Benchmark
    public long tinkEncryptStream() throws GeneralSecurityException, IOException {
      return encryptInto(OutputStream.nullOutputStream());
    }

    @Benchmark
    public long tinkDecryptStream() throws GeneralSecurityException {
      byte[] buffer = new byte[CHUNK];
      long total = 0;
      try (InputStream in =
          aead.newDecryptingStream(new ByteArrayInputStream(ciphertext), context)) {
        for (int n; (n = in.read(buffer)) != -1; ) {
          total += n;
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return total;
    }
  }
}
