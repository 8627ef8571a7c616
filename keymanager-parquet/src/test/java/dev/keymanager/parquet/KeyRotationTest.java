package dev.keymanager.parquet;

import static dev.keymanager.parquet.ParquetFiles.FOOTER_KEK;
import static dev.keymanager.parquet.ParquetFiles.KEK_A;
import static dev.keymanager.parquet.ParquetFiles.KEK_B;
import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.keytools.KeyToolkit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Key rotation as Parquet does it: key material beside the files, {@link
 * KeyToolkit#rotateMasterKeys} re-wraps every data key under the KEKs' new primary versions after
 * {@link KeyManager#rotateKek}, and the data files are not rewritten.
 */
class KeyRotationTest {
  // The wrapped data key inside a key material file, whose JSON strings are themselves escaped.
  private static final Pattern WRAPPED_DEK =
      Pattern.compile("wrappedDEK\\\\?\"\\s*:\\s*\\\\?\"([A-Za-z0-9+/=]+)");

  @TempDir Path dir;

  private final FakeKms kms = new FakeKms();
  private final String name = ParquetFiles.uniqueName();
  private KeyManager keys;
  private KeyManagerRegistry.Registration registration;
  private Configuration conf;

  @BeforeEach
  void setUp() {
    keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(kms)
            .discoverProviders(false)
            .build();
    for (String kek : new String[] {FOOTER_KEK, KEK_A, KEK_B}) {
      keys.admin().createKek(kek, FakeKms.cmk("cmk-" + kek));
    }
    registration = KeyManagerRegistry.register(name, keys);
    conf = ParquetFiles.encryptingConf(name);
    conf.setBoolean(KeyToolkit.KEY_MATERIAL_INTERNAL_PROPERTY_NAME, false);
  }

  @AfterEach
  void tearDown() {
    registration.close();
    keys.close();
  }

  @Test
  void rotationToolRewrapsEveryFileUnderTheNewVersionsWithoutRewritingData() throws Exception {
    for (int f = 0; f < 5; f++) {
      ParquetFiles.write(dir.resolve("part-" + f + ".parquet"), conf, f, 20);
    }
    assertThat(wrappedKekVersions())
        .containsOnlyKeys(files(5))
        .allSatisfy((f, v) -> assertThat(v).containsOnly(1));
    Map<Path, String> dataBefore = dataFileDigests();

    for (String kek : new String[] {FOOTER_KEK, KEK_A, KEK_B}) {
      keys.admin().rotateKek(kek);
    }
    KeyToolkit.rotateMasterKeys(dir.toString(), conf);

    assertThat(wrappedKekVersions()).allSatisfy((f, v) -> assertThat(v).hasSize(3).containsOnly(2));
    assertThat(dataFileDigests()).isEqualTo(dataBefore);
    for (int f = 0; f < 5; f++) {
      assertThat(ParquetFiles.read(dir.resolve("part-" + f + ".parquet"), conf, null))
          .containsExactlyElementsOf(ParquetFiles.expected(f, 20));
    }

    ParquetFiles.write(dir.resolve("part-5.parquet"), conf, 5, 20);
    assertThat(wrappedKekVersions().get("part-5.parquet")).hasSize(3).containsOnly(2);
    assertThat(ParquetFiles.read(dir.resolve("part-5.parquet"), conf, null))
        .containsExactlyElementsOf(ParquetFiles.expected(5, 20));
  }

  private static List<String> files(int n) {
    List<String> names = new ArrayList<>();
    for (int f = 0; f < n; f++) {
      names.add("part-" + f + ".parquet");
    }
    return names;
  }

  /** Per data file, the KEK versions its wrapped data keys (footer and two columns) name. */
  private Map<String, List<Integer>> wrappedKekVersions() throws IOException {
    Map<String, List<Integer>> versions = new HashMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        String fileName = f.getFileName().toString();
        if (!fileName.startsWith("_KEY_MATERIAL_FOR_") || !fileName.endsWith(".json")) {
          continue;
        }
        String dataFile = fileName.substring("_KEY_MATERIAL_FOR_".length(), fileName.length() - 5);
        Matcher m = WRAPPED_DEK.matcher(Files.readString(f, StandardCharsets.UTF_8));
        List<Integer> list = new ArrayList<>();
        while (m.find()) {
          list.add(WrappedKey.decode(Base64.getDecoder().decode(m.group(1))).kek().version());
        }
        versions.put(dataFile, list);
      }
    }
    return versions;
  }

  private Map<Path, String> dataFileDigests() throws IOException, NoSuchAlgorithmException {
    Map<Path, String> digests = new HashMap<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        if (f.getFileName().toString().endsWith(".parquet")) {
          byte[] sha = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f));
          digests.put(f, HexFormat.of().formatHex(sha));
        }
      }
    }
    return digests;
  }
}
