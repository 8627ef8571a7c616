package dev.keymanager.parquet;

import static dev.keymanager.parquet.ParquetFiles.FOOTER_KEK;
import static dev.keymanager.parquet.ParquetFiles.KEK_A;
import static dev.keymanager.parquet.ParquetFiles.KEK_B;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.KeyAccessDeniedException;
import org.apache.parquet.crypto.ParquetCryptoRuntimeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KeyManagerKmsClientTest {
  private static final Duration HARD_TTL = Duration.ofMinutes(5);

  @TempDir Path dir;

  private final FakeKms kms = new FakeKms();
  private final KekStore store = KekStores.inMemory();
  private final ManualClock clock = new ManualClock();
  private final String name = ParquetFiles.uniqueName();
  private KeyManager keys;
  private KeyManagerRegistry.Registration registration;
  private Configuration conf;

  @BeforeEach
  void setUp() {
    keys = newKeyManager(store);
    for (String kek : new String[] {FOOTER_KEK, KEK_A, KEK_B}) {
      keys.admin().createKek(kek, FakeKms.cmk("cmk-" + kek));
    }
    registration = KeyManagerRegistry.register(name, keys);
    conf = ParquetFiles.encryptingConf(name);
  }

  @AfterEach
  void tearDown() {
    registration.close();
    keys.close();
  }

  private KeyManager newKeyManager(KekStore kekStore) {
    return KeyManagers.builder()
        .kekStore(kekStore)
        .kmsProvider(kms)
        .discoverProviders(false)
        .clock(clock)
        .hardTtl(HARD_TTL)
        .build();
  }

  @Test
  void hundredFilesReadBackEqualWithOneKmsUnwrapPerKekAfterARestart() {
    for (int f = 0; f < 100; f++) {
      ParquetFiles.write(dir.resolve("part-" + f + ".parquet"), conf, f, 20);
    }

    // A restart: a new key manager over the same store, registered under the same name.
    registration.close();
    keys.close();
    keys = newKeyManager(store);
    registration = KeyManagerRegistry.register(name, keys);
    kms.resetCounts();

    for (int f = 0; f < 100; f++) {
      assertThat(ParquetFiles.read(dir.resolve("part-" + f + ".parquet"), conf, null))
          .containsExactlyElementsOf(ParquetFiles.expected(f, 20));
    }
    assertThat(kms.unwrapCalls()).isEqualTo(3);
    assertThat(kms.wrapCalls()).isZero();
  }

  @Test
  void fileBytesHoldNoPlaintextValuesWhileAPlaintextFileDoes() throws IOException {
    Path encrypted = Files.createDirectory(dir.resolve("encrypted"));
    Path plain = Files.createDirectory(dir.resolve("plain"));
    for (int f = 0; f < 3; f++) {
      ParquetFiles.write(encrypted.resolve("part-" + f + ".parquet"), conf, f, 50);
    }
    ParquetFiles.write(plain.resolve("part-0.parquet"), new Configuration(), 0, 50);

    // The control proves the scan would see the values: uncompressed, no dictionary.
    assertThat(containsAny(plain, "alpha-secret-0-7", "bravo-secret-0-7")).isTrue();
    try (Stream<Path> files = Files.list(encrypted)) {
      assertThat(files.count()).isEqualTo(6); // three files and their .crc checksums
    }
    assertThat(containsAny(encrypted, "alpha-secret-", "bravo-secret-")).isFalse();
  }

  @Test
  void aKeyManagerOverAnotherStoreCannotReadTheFiles() {
    Path file = dir.resolve("part-0.parquet");
    ParquetFiles.write(file, conf, 0, 10);

    // Same KEK ids and CMKs, other KEK material: the wrapped keys do not authenticate.
    try (KeyManager other = newKeyManager(KekStores.inMemory())) {
      for (String kek : new String[] {FOOTER_KEK, KEK_A, KEK_B}) {
        other.admin().createKek(kek, FakeKms.cmk("cmk-" + kek));
      }
      String otherName = ParquetFiles.uniqueName();
      try (KeyManagerRegistry.Registration r = KeyManagerRegistry.register(otherName, other)) {
        assertThatThrownBy(
                () -> ParquetFiles.read(file, ParquetFiles.encryptingConf(otherName), null))
            .satisfies(
                e -> assertThat(causes(e)).anyMatch(InvalidCiphertextException.class::isInstance));
      }
    }
    // An empty store: a wrapped key naming a KEK the store does not have is tamper evidence.
    try (KeyManager empty = newKeyManager(KekStores.inMemory())) {
      String emptyName = ParquetFiles.uniqueName();
      try (KeyManagerRegistry.Registration r = KeyManagerRegistry.register(emptyName, empty)) {
        assertThatThrownBy(
                () -> ParquetFiles.read(file, ParquetFiles.encryptingConf(emptyName), null))
            .satisfies(
                e -> assertThat(causes(e)).anyMatch(InvalidCiphertextException.class::isInstance));
      }
    }
  }

  @Test
  void revokedCmkStopsReadsOfItsColumnWithinTheHardTtlWhileTheOtherColumnReads() {
    Path file = dir.resolve("part-0.parquet");
    ParquetFiles.write(file, conf, 0, 10);
    List<String> onlyA = new ArrayList<>();
    for (String row : ParquetFiles.expected(0, 10)) {
      onlyA.add(row.substring(0, row.lastIndexOf('|')));
    }

    kms.disable(FakeKms.cmk("cmk-" + KEK_B));
    clock.advance(HARD_TTL.plusSeconds(1));

    assertThatThrownBy(() -> ParquetFiles.read(file, conf, ParquetFiles.ONLY_B))
        .satisfies(
            e -> {
              assertThat(causes(e)).anyMatch(KeyAccessDeniedException.class::isInstance);
              assertThat(causes(e))
                  .anyMatch(dev.keymanager.KeyAccessDeniedException.class::isInstance);
            });
    assertThatThrownBy(() -> ParquetFiles.read(file, conf, null))
        .satisfies(e -> assertThat(causes(e)).anyMatch(KeyAccessDeniedException.class::isInstance));
    assertThat(ParquetFiles.read(file, conf, ParquetFiles.ONLY_A)).containsExactlyElementsOf(onlyA);

    kms.enable(FakeKms.cmk("cmk-" + KEK_B));
    clock.advance(KeyManagers.DEFAULT_NEGATIVE_TTL.plusSeconds(1));
    assertThat(ParquetFiles.read(file, conf, null))
        .containsExactlyElementsOf(ParquetFiles.expected(0, 10));
  }

  @Test
  void aTransientKmsFailureStaysRetryableInTheCauseChain() {
    Path file = dir.resolve("part-0.parquet");
    ParquetFiles.write(file, conf, 0, 10);
    clock.advance(HARD_TTL.plusSeconds(1));
    kms.failAllCalls(true);

    assertThatThrownBy(() -> ParquetFiles.read(file, conf, null))
        .isInstanceOf(ParquetCryptoRuntimeException.class)
        .isNotInstanceOf(KeyAccessDeniedException.class)
        .satisfies(
            e ->
                assertThat(causes(e))
                    .filteredOn(KmsUnavailableException.class::isInstance)
                    .isNotEmpty()
                    .allMatch(c -> ((KeyManagerException) c).isRetryable()));

    kms.failAllCalls(false);
    assertThat(ParquetFiles.read(file, conf, null)).hasSize(10);
  }

  @Test
  void doubleWrappingIsRefusedWithTheSettingToChange() {
    Configuration doubleWrapping = ParquetFiles.encryptingConf(ParquetFiles.uniqueName());
    doubleWrapping.unset("parquet.encryption.double.wrapping");
    KeyManagerRegistry.register(doubleWrapping.get("parquet.encryption.kms.instance.id"), keys);

    assertThatThrownBy(() -> ParquetFiles.write(dir.resolve("x.parquet"), doubleWrapping, 0, 1))
        .isInstanceOf(ParquetCryptoRuntimeException.class)
        .hasMessageContaining("parquet.encryption.double.wrapping=false");
  }

  @Test
  void anUnregisteredNameFailsNamingIt() {
    Configuration unknown = ParquetFiles.encryptingConf("nobody-registered-this");

    assertThatThrownBy(() -> ParquetFiles.write(dir.resolve("x.parquet"), unknown, 0, 1))
        .isInstanceOf(ParquetCryptoRuntimeException.class)
        .hasMessageContaining(
            "no key manager is registered under the name 'nobody-registered-this'");
  }

  @Test
  void clientWrapsAndUnwrapsAndRejectsKeyMaterialNamingAnotherKek() {
    KeyManagerKmsClient client = new KeyManagerKmsClient();
    client.initialize(conf, name, "DEFAULT", "DEFAULT");
    byte[] dek = new byte[16];
    new java.security.SecureRandom().nextBytes(dek);

    String wrapped = client.wrapKey(dek, KEK_A);

    assertThat(client.unwrapKey(wrapped, KEK_A)).isEqualTo(dek);
    assertThatThrownBy(() -> client.unwrapKey(wrapped, KEK_B))
        .isInstanceOf(ParquetCryptoRuntimeException.class)
        .hasMessageContaining("names KEK 'kek-a'")
        .hasMessageContaining("master key 'kek-b'");
    assertThatThrownBy(() -> client.unwrapKey("not base64!", KEK_A))
        .isInstanceOf(ParquetCryptoRuntimeException.class)
        .hasMessageContaining("not Base64");
    assertThatThrownBy(() -> client.unwrapKey("AAAA", KEK_A))
        .isInstanceOf(ParquetCryptoRuntimeException.class)
        .hasCauseInstanceOf(InvalidCiphertextException.class);
    assertThatThrownBy(() -> client.wrapKey(dek, "no-such-kek"))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining("no-such-kek");
    assertThat(client.toString()).isEqualTo("KeyManagerKmsClient[" + name + "]");
  }

  @Test
  void theRegistryRefusesASecondKeyManagerUnderOneName() {
    try (KeyManager other = newKeyManager(KekStores.inMemory())) {
      assertThatThrownBy(() -> KeyManagerRegistry.register(name, other))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining(name);
      assertThatThrownBy(() -> KeyManagerRegistry.register(" padded", other))
          .isInstanceOf(IllegalArgumentException.class);

      KeyManagerRegistry.Registration again = KeyManagerRegistry.register(name, keys);
      assertThat(again.name()).isEqualTo(name);
    }
    assertThat(KeyManagerRegistry.lookup(name)).containsSame(keys);
    registration.close();
    assertThat(KeyManagerRegistry.lookup(name)).isEmpty();
  }

  static List<Throwable> causes(Throwable e) {
    List<Throwable> chain = new ArrayList<>();
    for (Throwable t = e; t != null && !chain.contains(t); t = t.getCause()) {
      chain.add(t);
    }
    return chain;
  }

  private static boolean containsAny(Path folder, String... needles) throws IOException {
    try (Stream<Path> files = Files.list(folder)) {
      return files.anyMatch(
          f -> {
            try {
              String text = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
              return Stream.of(needles).anyMatch(text::contains);
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          });
    }
  }
}
