package dev.keymanager.bench;

import static java.nio.charset.StandardCharsets.US_ASCII;

import com.google.crypto.tink.subtle.Hkdf;
import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import javax.crypto.spec.SecretKeySpec;

/**
 * One keymanager world for a benchmark: a {@link FakeKms}, an in-memory KEK store, a
 * <em>writer</em> key manager that created the KEKs and wrapped the DEKs (as a process before a
 * restart would), and the <em>reader</em> key manager that is measured: on the system clock, as in
 * production (the hot-path benchmarks), or on a clock the benchmark advances (the cold path).
 *
 * <p>For the raw JCE baselines it also recovers, from the same bytes, what a hand-written AES-GCM
 * unwrap would need (the KEK from the KMS, the HKDF subkey for the salt in the wrapped key), and
 * checks that raw JCE and keymanager unwrap to the same DEK, so every baseline decrypts exactly the
 * blob keymanager does.
 */
final class Fixture implements AutoCloseable {
  /** The context every benchmark DEK is bound to. */
  static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  static final URI CMK = FakeKms.cmk("bench");

  /** keymanager's wrapped-key format, restated here so the baseline is built from the spec. */
  private static final byte[] SUBKEY_INFO =
      "keymanager/v1 dek-wrap AES256_GCM_HKDF_SHA256".getBytes(US_ASCII);

  static final int SALT_LENGTH = 32;
  static final int NONCE_LENGTH = 12;

  final FakeKms kms = new FakeKms();
  final KekStore store = KekStores.inMemory();
  final ManualClock clock; // null: the system clock
  final KeyManager writer;
  final KeyManager reader;
  private final int keks;

  /**
   * Creates {@code keks} KEKs ({@link #kekId(int)}) through the writer; the reader caches each for
   * {@code hardTtl} on the system clock, as in production.
   */
  Fixture(int keks, Duration hardTtl) {
    this(keks, hardTtl, null);
  }

  /** As {@link #Fixture(int, Duration)}, the reader on {@code clock} (null: the system clock). */
  Fixture(int keks, Duration hardTtl, ManualClock clock) {
    this.keks = keks;
    this.clock = clock;
    this.writer =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
    KeyManagers.Builder readerBuilder =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(kms)
            .discoverProviders(false)
            .hardTtl(hardTtl);
    if (clock != null) {
      readerBuilder.clock(clock);
    }
    this.reader = readerBuilder.build();
    for (int i = 0; i < keks; i++) {
      writer.admin().createKek(kekId(i), CMK);
    }
  }

  static String kekId(int i) {
    return "tenant-" + i;
  }

  int keks() {
    return keks;
  }

  /** A DEK wrapped by the writer under KEK {@code i}: bytes as they would be read from disk. */
  WrappedKey wrapNewDek(int i) {
    try (DataKey dek = writer.generateDek(kekId(i), CONTEXT)) {
      return dek.wrappedKey();
    }
  }

  /** The DEK the reader unwraps from {@code wrapped}, copied (the benchmark's expected value). */
  byte[] readerUnwrap(WrappedKey wrapped) {
    try (DataKey dek = reader.unwrapDek(wrapped, CONTEXT)) {
      return dek.use(byte[]::clone);
    }
  }

  /**
   * The AES-256 key that a hand-written unwrap of {@code wrapped} would use: the KEK from the KMS
   * (one direct call), then HKDF-SHA256 with the salt in the wrapped key.
   */
  SecretKeySpec rawSubkey(WrappedKey wrapped) {
    KekRef ref = wrapped.kek();
    KeyEncryptionKey record = store.find(ref.id(), ref.version()).orElseThrow();
    KeyContext kekContext =
        KeyContext.of(
            Map.of(
                "keymanager:kek-id", ref.id(),
                "keymanager:kek-version", Integer.toString(ref.version())));
    byte[] kek = kms.unwrapper(record.cmkUri()).unwrap(record.wrappedMaterial(), kekContext);
    byte[] encoded = wrapped.encode();
    byte[] salt =
        Arrays.copyOfRange(
            encoded,
            RawGcm.parametersOffset(encoded),
            RawGcm.parametersOffset(encoded) + SALT_LENGTH);
    try {
      byte[] subkey = Hkdf.computeHkdf("HMACSHA256", kek, salt, SUBKEY_INFO, 32);
      SecretKeySpec spec = new SecretKeySpec(subkey, "AES");
      Arrays.fill(subkey, (byte) 0);
      return spec;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    } finally {
      Arrays.fill(kek, (byte) 0);
    }
  }

  @Override
  public void close() {
    reader.close();
    writer.close();
  }
}
