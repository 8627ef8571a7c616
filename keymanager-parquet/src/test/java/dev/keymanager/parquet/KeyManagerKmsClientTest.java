package dev.keymanager.parquet;

import static dev.keymanager.parquet.ParquetFiles.FOOTER_KEK;
import static dev.keymanager.parquet.ParquetFiles.KEK_A;
import static dev.keymanager.parquet.ParquetFiles.KEK_B;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyManager;
import dev.keymanager.core.KekStores;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.hadoop.conf.Configuration;
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
      keys.createKek(kek, FakeKms.cmk("cmk-" + kek));
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
}
