package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.WrapAlgorithm;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.LocalKmsProvider;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bytes written by released formats keep decrypting: see {@code golden/vectors-v1.properties}. */
class GoldenVectorsTest {
  private static final HexFormat HEX = HexFormat.of();

  @TempDir Path dir;

  private static Properties vectors() throws IOException {
    Properties p = new Properties();
    try (InputStream in =
        GoldenVectorsTest.class.getResourceAsStream("/golden/vectors-v1.properties")) {
      p.load(in);
    }
    return p;
  }

  private static KeyContext context(String spec) {
    Map<String, String> m = new LinkedHashMap<>();
    if (!spec.isEmpty()) {
      for (String pair : spec.split(";")) {
        String[] kv = pair.split("=", 2);
        m.put(kv[0], kv[1]);
      }
    }
    return KeyContext.of(m);
  }

  @Test
  void hkdfMatchesRfc5869TestCase1() {
    byte[] ikm = HEX.parseHex("0b".repeat(22));
    byte[] salt = HEX.parseHex("000102030405060708090a0b0c");
    byte[] info = HEX.parseHex("f0f1f2f3f4f5f6f7f8f9");

    assertThat(HEX.formatHex(Hkdf.deriveSha256(ikm, salt, info, 32)))
        .isEqualTo("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
  }

  @Test
  void wrappedDeksFromFormatOneStillUnwrap() throws IOException {
    Properties v = vectors();
    for (int i = 1; i <= 2; i++) {
      WrappedKey wrapped =
          WrappedKey.decode(HEX.parseHex(v.getProperty("dek-wrap." + i + ".wrapped")));
      CachedKek kek =
          new CachedKek(
              new KekRef("tenant-42/orders", 7), HEX.parseHex(v.getProperty("dek-wrap.kek")));

      byte[] dek =
          DekCipher.unwrap(kek, wrapped, context(v.getProperty("dek-wrap." + i + ".context")));

      assertThat(HEX.formatHex(dek))
          .as("vector %d", i)
          .isEqualTo(v.getProperty("dek-wrap." + i + ".dek"));
      assertThat(wrapped.formatVersion()).isEqualTo(1);
      assertThat(wrapped.algorithm()).isEqualTo(WrapAlgorithm.AES256_GCM_HKDF_SHA256);
      assertThat(wrapped.kek()).isEqualTo(new KekRef("tenant-42/orders", 7));
      kek.drop();
    }
  }

  @Test
  void localKmsCiphertextFromFormatOneStillUnwraps() throws IOException {
    Properties v = vectors();
    Path master =
        Files.createFile(
            dir.resolve("master.key"),
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.write(master, HEX.parseHex(v.getProperty("local-kms.master")));
    URI cmk = URI.create("local-kms://" + master);

    byte[] plaintext =
        new LocalKmsProvider()
            .unwrapper(cmk)
            .unwrap(
                HEX.parseHex(v.getProperty("local-kms.ciphertext")),
                context(v.getProperty("local-kms.context")));

    assertThat(HEX.formatHex(plaintext)).isEqualTo(v.getProperty("local-kms.plaintext"));
  }
}
