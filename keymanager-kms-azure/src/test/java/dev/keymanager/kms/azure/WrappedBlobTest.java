package dev.keymanager.kms.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.kms.azure.WrappedBlob.Algorithm;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

/** The wrapped format: committed golden vectors, and every way a blob can be malformed. */
class WrappedBlobTest {
  private static final HexFormat HEX = HexFormat.of();

  private static Properties vector(String name) throws IOException {
    Properties p = new Properties();
    try (InputStream in = WrappedBlobTest.class.getResourceAsStream("/golden/" + name)) {
      p.load(in);
    }
    return p;
  }

  private static byte[] hex(Properties p, String key) {
    return HEX.parseHex(p.getProperty(key));
  }

  private static KeyContext context(Properties p) {
    Map<String, String> m = new TreeMap<>();
    p.stringPropertyNames().stream()
        .filter(k -> k.startsWith("context."))
        .forEach(k -> m.put(k.substring("context.".length()), p.getProperty(k)));
    return KeyContext.of(m);
  }

  private static byte[] sealAsRecorded(Properties p) {
    return WrappedBlob.seal(
        p.getProperty("algorithm").equals("A256KW") ? Algorithm.A256KW : Algorithm.RSA_OAEP_256,
        p.getProperty("keyName"),
        p.getProperty("keyVersion"),
        hex(p, "wrappedKey"),
        hex(p, "intermediateKey"),
        hex(p, "nonce"),
        hex(p, "plaintext"),
        context(p));
  }

  static KeyPair goldenRsaKey() throws Exception {
    String b64;
    try (InputStream in =
        WrappedBlobTest.class.getResourceAsStream("/golden/rsa-2048-test-only.pk8.b64")) {
      b64 = new String(in.readAllBytes(), StandardCharsets.US_ASCII).replaceAll("(?m)^#.*$", "");
    }
    KeyFactory f = KeyFactory.getInstance("RSA");
    PrivateKey priv =
        f.generatePrivate(new PKCS8EncodedKeySpec(Base64.getMimeDecoder().decode(b64)));
    RSAPrivateCrtKey crt = (RSAPrivateCrtKey) priv;
    return new KeyPair(
        f.generatePublic(new RSAPublicKeySpec(crt.getModulus(), crt.getPublicExponent())), priv);
  }

  @Test
  void goldenVectorsEncodeByteForByteAndDecode() throws IOException {
    for (String file :
        new String[] {"azure-kv-v1-rsa-oaep-256.properties", "azure-kv-v1-a256kw.properties"}) {
      Properties p = vector(file);
      byte[] blob = hex(p, "blob");

      assertThat(sealAsRecorded(p)).as(file).isEqualTo(blob);
      WrappedBlob parsed = WrappedBlob.parse(blob);
      assertThat(parsed.algorithm().jwaName).isEqualTo(p.getProperty("algorithm"));
      assertThat(parsed.keyName()).isEqualTo(p.getProperty("keyName"));
      assertThat(parsed.keyVersion()).isEqualTo(p.getProperty("keyVersion"));
      assertThat(parsed.wrappedKey()).isEqualTo(hex(p, "wrappedKey"));
      assertThat(parsed.open(hex(p, "intermediateKey"), context(p))).isEqualTo(hex(p, "plaintext"));
      assertThatThrownBy(() -> parsed.open(hex(p, "intermediateKey"), KeyContext.empty()))
          .isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void goldenKeyVaultPartsMatchTheAlgorithms() throws Exception {
    Properties rsa = vector("azure-kv-v1-rsa-oaep-256.properties");
    Cipher oaep = Cipher.getInstance("RSA/ECB/OAEPPadding");
    oaep.init(Cipher.DECRYPT_MODE, goldenRsaKey().getPrivate(), FakeKeyVault.oaep256());
    assertThat(oaep.doFinal(hex(rsa, "wrappedKey"))).isEqualTo(hex(rsa, "intermediateKey"));

    Properties aes = vector("azure-kv-v1-a256kw.properties");
    Cipher kw = Cipher.getInstance("AES/KW/NoPadding");
    kw.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(hex(aes, "aesKey"), "AES"));
    assertThat(kw.doFinal(hex(aes, "intermediateKey"))).isEqualTo(hex(aes, "wrappedKey"));
  }

  @Test
  void goldenBlobsUnwrapThroughTheRealClient() throws Exception {
    Properties rsa = vector("azure-kv-v1-rsa-oaep-256.properties");
    Properties aes = vector("azure-kv-v1-a256kw.properties");
    try (FakeKeyVault kv = new FakeKeyVault();
        AzureKeyVaultKmsProvider provider = TestProviders.builder(kv).build()) {
      kv.addVersion("golden-kek", rsa.getProperty("keyVersion"), goldenRsaKey(), null);
      kv.addVersion("golden-aes", aes.getProperty("keyVersion"), null, hex(aes, "aesKey"));

      assertThat(
              provider
                  .unwrapper(URI.create("azure-kv://golden.vault.azure.net/keys/golden-kek"))
                  .unwrap(hex(rsa, "blob"), context(rsa)))
          .isEqualTo(hex(rsa, "plaintext"));
      assertThat(
              provider
                  .unwrapper(
                      URI.create(
                          "azure-kv://golden.managedhsm.azure.net/keys/golden-aes/"
                              + aes.getProperty("keyVersion")))
                  .unwrap(hex(aes, "blob"), context(aes)))
          .isEqualTo(hex(aes, "plaintext"));
    }
  }

  @Test
  void everyHeaderByteFlippedFailsLocally() throws IOException {
    byte[] blob = hex(vector("azure-kv-v1-rsa-oaep-256.properties"), "blob");
    int header = blob.length - WrappedBlob.NONCE_LENGTH - 32 - WrappedBlob.TAG_LENGTH;

    for (int i = 0; i < header; i++) {
      for (int bit = 0; bit < 8; bit++) {
        byte[] t = blob.clone();
        t[i] ^= (byte) (1 << bit);
        assertThatThrownBy(() -> WrappedBlob.parse(t))
            .as("byte %d bit %d", i, bit)
            .isInstanceOf(InvalidCiphertextException.class);
      }
    }
  }

  @Test
  void everyBodyByteFlippedFailsAuthentication() throws IOException {
    Properties p = vector("azure-kv-v1-rsa-oaep-256.properties");
    byte[] blob = hex(p, "blob");
    int header = blob.length - WrappedBlob.NONCE_LENGTH - 32 - WrappedBlob.TAG_LENGTH;

    for (int i = header; i < blob.length; i++) {
      byte[] t = blob.clone();
      t[i] ^= 0x01;
      WrappedBlob parsed = WrappedBlob.parse(t);
      assertThatThrownBy(() -> parsed.open(hex(p, "intermediateKey"), context(p)))
          .as("byte %d", i)
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("did not authenticate");
    }
  }

  @Test
  void everyTruncationFails() throws IOException {
    Properties p = vector("azure-kv-v1-a256kw.properties");
    byte[] blob = hex(p, "blob");

    for (int len = 0; len < blob.length; len++) {
      byte[] t = Arrays.copyOf(blob, len);
      assertThatThrownBy(() -> WrappedBlob.parse(t).open(hex(p, "intermediateKey"), context(p)))
          .as("%d of %d bytes", len, blob.length)
          .isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void unknownFormatVersionAndAlgorithmAreNamed() throws IOException {
    byte[] blob = hex(vector("azure-kv-v1-a256kw.properties"), "blob");
    byte[] v2 = blob.clone();
    v2[2] = 2;
    byte[] alg9 = blob.clone();
    alg9[3] = 9;

    assertThatThrownBy(() -> WrappedBlob.parse(v2))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("unknown format version 2");
    assertThatThrownBy(() -> WrappedBlob.parse(alg9))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("unknown algorithm id 9");
  }

  @Test
  void versionsThatWouldEscapeTheRequestPathCannotBeEncodedOrParsed() {
    byte[] ik = new byte[32];
    for (String version : new String[] {"../secrets", "v1/unwrapkey", "v?x=1", "v%2F", ""}) {
      assertThatThrownBy(
              () ->
                  WrappedBlob.seal(
                      Algorithm.A256KW,
                      "k",
                      version,
                      new byte[40],
                      ik,
                      new byte[12],
                      new byte[1],
                      KeyContext.empty()))
          .as(version)
          .isInstanceOf(IllegalArgumentException.class);
    }
    // A forged blob with a valid CRC but a path-escaping version is refused by parse.
    byte[] forged = forgeWithVersion("..%2F");
    assertThatThrownBy(() -> WrappedBlob.parse(forged))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("malformed key name or version");
  }

  private static byte[] forgeWithVersion(String version) {
    byte[] name = "k".getBytes(StandardCharsets.US_ASCII);
    byte[] ver = version.getBytes(StandardCharsets.US_ASCII);
    java.nio.ByteBuffer b =
        java.nio.ByteBuffer.allocate(8 + name.length + ver.length + 1 + 4 + 12 + 16);
    b.put((byte) 'A').put((byte) 'Z').put((byte) 1).put((byte) 2);
    b.put((byte) name.length).put(name).put((byte) ver.length).put(ver);
    b.putShort((short) 1).put((byte) 7);
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    crc.update(b.array(), 0, b.position());
    b.putInt((int) crc.getValue());
    return b.array();
  }
}
