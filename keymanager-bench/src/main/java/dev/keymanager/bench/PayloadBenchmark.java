package dev.keymanager.bench;

import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.StreamingAead;
import com.google.crypto.tink.streamingaead.PredefinedStreamingAeadParameters;
import com.google.crypto.tink.streamingaead.StreamingAeadConfig;
import dev.keymanager.core.envelope.EnvelopeCipher;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Payload encryption through {@link EnvelopeCipher}, beside the floors it is compared with, on the
 * same plaintext bytes:
 *
 * <ul>
 *   <li>{@link #encrypt} / {@link #decrypt}: one-shot envelope encryption of {@link #size} bytes
 *       under a cached KEK in the default configuration (the DEK reused within its bounds, a new
 *       nonce per payload; decrypt finds the unwrapped DEK of the same wrapped DEK kept), against
 *       {@link #jceEncrypt} / {@link #jceDecrypt};
 *   <li>{@link #encryptFreshDek} / {@link #decryptFreshDek}: the same with {@code
 *       maxPayloadsPerDek(1)}: a new DEK per payload, generated and wrapped into the header, and
 *       every decryption parsing the header and unwrapping it;
 *   <li>{@link Streaming#encryptStream} / {@link Streaming#decryptStream}: 64 MiB through {@link
 *       EnvelopeCipher#newEncryptingStream} / {@link EnvelopeCipher#newDecryptingStream} (64 KiB
 *       segments), against {@link StreamingFloor}.
 * </ul>
 *
 * <p>The floors: one AES-256-GCM operation over the whole message with a reused, re-initialised JCE
 * cipher and no key management at all; and Tink's AES-GCM-HKDF streaming AEAD (1 MiB segments) with
 * one keyset, the primitive the envelope's streaming format builds on. The key manager is the
 * {@link Fixture}'s reader (FakeKms, KEK cached for an hour, loaded in setup); setup checks every
 * round trip once. {@code report.py} turns the times into MB/s.
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
  private Fixture fixture;
  private EnvelopeCipher envelope;
  private byte[] envelopeCiphertext;
  private EnvelopeCipher freshDek;
  private byte[] freshDekCiphertext;

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
    if (!Arrays.equals(jceDecrypt(), plaintext)) {
      throw new IllegalStateException("raw JCE round trip failed");
    }
    fixture = new Fixture(1, Duration.ofHours(1));
    envelope = EnvelopeCipher.of(fixture.reader, Fixture.kekId(0));
    envelopeCiphertext = encrypt(); // also loads the KEK into the reader's cache
    if (!Arrays.equals(decrypt(), plaintext)) {
      throw new IllegalStateException("envelope round trip failed");
    }
    freshDek =
        EnvelopeCipher.builder(fixture.reader, Fixture.kekId(0)).maxPayloadsPerDek(1).build();
    freshDekCiphertext = encryptFreshDek();
    if (!Arrays.equals(decryptFreshDek(), plaintext)) {
      throw new IllegalStateException("fresh-DEK envelope round trip failed");
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    fixture.close();
  }

  /**
   * keymanager one-shot, default configuration: the kept DEK (a new one each 2^20 payloads, 4 GiB
   * or minute), header with the payload's nonce, AES-256-GCM.
   */
  @Benchmark
  public byte[] encrypt() {
    return envelope.encrypt(plaintext, Fixture.CONTEXT);
  }

  /** keymanager one-shot, default configuration: the kept unwrapped DEK, AES-256-GCM decrypt. */
  @Benchmark
  public byte[] decrypt() {
    return envelope.decrypt(envelopeCiphertext, Fixture.CONTEXT);
  }

  /** keymanager one-shot: a new DEK (generate + wrap under the cached KEK), header, AES-256-GCM. */
  @Benchmark
  public byte[] encryptFreshDek() {
    return freshDek.encrypt(plaintext, Fixture.CONTEXT);
  }

  /** keymanager one-shot: parse the header, unwrap its DEK (KEK cached), AES-256-GCM decrypt. */
  @Benchmark
  public byte[] decryptFreshDek() {
    return freshDek.decrypt(freshDekCiphertext, Fixture.CONTEXT);
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

  /**
   * keymanager streaming over 64 MiB, written and read in 64 KiB chunks like {@link
   * StreamingFloor}: encrypt into a null sink, decrypt from memory.
   */
  @BenchmarkMode(Mode.AverageTime)
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  @Warmup(iterations = 2, time = 2)
  @Measurement(iterations = 3, time = 2)
  @Fork(1)
  @Threads(1)
  @State(Scope.Thread)
  public static class Streaming {
    private static final int CHUNK = 64 << 10;

    /** 64 MiB; a multiple of 64 KiB (the smoke test runs 1 MiB). */
    @Param({"67108864"})
    public int streamBytes;

    private Fixture fixture;
    private EnvelopeCipher envelope;
    private byte[] chunk;
    private byte[] ciphertext;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
      fixture = new Fixture(1, Duration.ofHours(1));
      envelope = EnvelopeCipher.of(fixture.reader, Fixture.kekId(0));
      chunk = new byte[CHUNK];
      new SecureRandom().nextBytes(chunk);
      ByteArrayOutputStream sink = new ByteArrayOutputStream(streamBytes + (1 << 20));
      encryptInto(sink);
      ciphertext = sink.toByteArray();
      // The round trip, checked once: every 64 KiB read back equals the chunk that was written.
      byte[] buffer = new byte[CHUNK];
      long total = 0;
      try (InputStream in =
          envelope.newDecryptingStream(new ByteArrayInputStream(ciphertext), Fixture.CONTEXT)) {
        for (int n; (n = in.readNBytes(buffer, 0, CHUNK)) > 0; ) {
          if (n != CHUNK || !Arrays.equals(buffer, chunk)) {
            throw new IllegalStateException("envelope stream round trip failed at " + total);
          }
          total += n;
        }
      }
      if (total != streamBytes) {
        throw new IllegalStateException("envelope stream decrypted " + total + " bytes");
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      fixture.close();
    }

    private long encryptInto(OutputStream sink) throws IOException {
      try (OutputStream out = envelope.newEncryptingStream(sink, Fixture.CONTEXT)) {
        for (int written = 0; written < streamBytes; written += CHUNK) {
          out.write(chunk);
        }
      }
      return streamBytes;
    }

    @Benchmark
    public long encryptStream() throws IOException {
      return encryptInto(OutputStream.nullOutputStream());
    }

    @Benchmark
    public long decryptStream() throws IOException {
      byte[] buffer = new byte[CHUNK];
      long total = 0;
      try (InputStream in =
          envelope.newDecryptingStream(new ByteArrayInputStream(ciphertext), Fixture.CONTEXT)) {
        for (int n; (n = in.read(buffer)) != -1; ) {
          total += n;
        }
      }
      return total;
    }
  }
}
