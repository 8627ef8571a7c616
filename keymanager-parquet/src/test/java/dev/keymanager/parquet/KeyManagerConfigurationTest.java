package dev.keymanager.parquet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A key manager built from configuration properties alone, as a Spark job configured only with
 * {@code spark.hadoop.*} properties gets it: real parquet-hadoop writes and reads encrypted files
 * with no {@code KeyManagerRegistry.register} call; the KEKs were created beforehand by an operator
 * over the same file store. Bad properties fail with a message naming them.
 */
class KeyManagerConfigurationTest {
  private static final URI CMK = FakeKms.cmk("parquet-configured");

  @TempDir Path keks;
  @TempDir Path data;

  /** The operator's step: create the three KEKs in the file store, then let go of it. */
  private void createKeks() {
    try (KekStore store = KekStores.file(keks);
        KeyManager keys =
            KeyManagers.builder()
                .kekStore(store)
                .kmsProvider(new FakeKms())
                .discoverProviders(false)
                .build()) {
      for (String kek : List.of(ParquetFiles.FOOTER_KEK, ParquetFiles.KEK_A, ParquetFiles.KEK_B)) {
        keys.admin().createKek(kek, CMK);
      }
    }
  }

  private Configuration configured(String name) {
    Configuration conf = ParquetFiles.encryptingConf(name);
    conf.set(KeyManagerConfiguration.STORE_FILE_DIR, keks.toString());
    conf.set(KeyManagerConfiguration.ALLOWED_SCHEMES, "fake-kms");
    conf.set(KeyManagerConfiguration.ALLOW_DEVELOPMENT_KMS, "true"); // FakeKms is a development KMS
    conf.set(KeyManagerConfiguration.HARD_TTL, "2m");
    conf.set(KeyManagerConfiguration.REFRESH_AHEAD, "30s");
    return conf;
  }

  @Test
  void parquetWritesAndReadsWithAKeyManagerBuiltFromItsConfiguration() {
    createKeks();
    String name = ParquetFiles.uniqueName();
    Configuration conf = configured(name);
    assertThat(KeyManagerRegistry.lookup(name)).isEmpty();

    List<String> expected = new ArrayList<>();
    for (int f = 0; f < 5; f++) {
      ParquetFiles.write(data.resolve("part-" + f + ".parquet"), conf, f, 10);
      expected.addAll(ParquetFiles.expected(f, 10));
    }
    List<String> read = new ArrayList<>();
    for (int f = 0; f < 5; f++) {
      read.addAll(ParquetFiles.read(data.resolve("part-" + f + ".parquet"), conf, null));
    }
    assertThat(read).isEqualTo(expected);

    KeyManager built = KeyManagerRegistry.lookup(name).orElseThrow();
    // One KMS unwrap per KEK for every file and column written and read.
    assertThat(built.stats().kmsCalls()).isEqualTo(3);
    assertThat(built.admin().describeKek(ParquetFiles.KEK_A)).isPresent();
    // A second client on the same name reuses it: no second key manager, no second store lock.
    ParquetFiles.write(data.resolve("part-5.parquet"), configured(name), 5, 10);
    assertThat(KeyManagerRegistry.lookup(name)).containsSame(built);
  }

  @Test
  void aRegisteredKeyManagerWinsOverTheProperties() throws Exception {
    createKeks();
    String name = ParquetFiles.uniqueName();
    Configuration conf = configured(name);
    conf.set(KeyManagerConfiguration.STORE_FILE_DIR, data.resolve("never-used").toString());
    try (KekStore store = KekStores.file(keks);
        KeyManager keys =
            KeyManagers.builder()
                .kekStore(store)
                .kmsProvider(new FakeKms())
                .discoverProviders(false)
                .build();
        KeyManagerRegistry.Registration r = KeyManagerRegistry.register(name, keys)) {
      ParquetFiles.write(data.resolve("a.parquet"), conf, 0, 3);
      assertThat(ParquetFiles.read(data.resolve("a.parquet"), conf, null))
          .isEqualTo(ParquetFiles.expected(0, 3));
      assertThat(KeyManagerRegistry.lookup(name)).containsSame(keys);
    }
    assertThat(Files.exists(data.resolve("never-used"))).isFalse();
  }

  @Test
  void badPropertiesFailNamingTheProperty() {
    Configuration conf = configured(ParquetFiles.uniqueName());
    conf.set(KeyManagerConfiguration.HARD_TTL, "soon");
    assertThatThrownBy(() -> ParquetFiles.write(data.resolve("x.parquet"), conf, 0, 1))
        .hasStackTraceContaining(KeyManagerConfiguration.HARD_TTL)
        .hasStackTraceContaining("time duration");

    Configuration noOptIn = configured(ParquetFiles.uniqueName());
    noOptIn.unset(KeyManagerConfiguration.ALLOW_DEVELOPMENT_KMS);
    assertThatThrownBy(() -> KeyManagerConfiguration.build(noOptIn))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("fake-kms");

    Configuration unknownScheme = configured(ParquetFiles.uniqueName());
    unknownScheme.set(KeyManagerConfiguration.ALLOWED_SCHEMES, "fake-kms, no-such-kms");
    assertThatThrownBy(() -> KeyManagerConfiguration.build(unknownScheme))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("no-such-kms");

    Configuration unconfigured = ParquetFiles.encryptingConf(ParquetFiles.uniqueName());
    assertThatThrownBy(() -> ParquetFiles.write(data.resolve("y.parquet"), unconfigured, 0, 1))
        .hasStackTraceContaining(KeyManagerConfiguration.STORE_FILE_DIR);
    assertThatThrownBy(() -> KeyManagerConfiguration.build(unconfigured))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining(KeyManagerConfiguration.STORE_FILE_DIR);
  }
}
