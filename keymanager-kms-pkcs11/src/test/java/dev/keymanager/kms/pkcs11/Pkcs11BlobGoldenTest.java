package dev.keymanager.kms.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import java.net.URI;
import java.security.SecureRandom;
import java.util.HexFormat;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Committed bytes of the wrapped format, version 1: a change that breaks them fails here. The key
 * {@code 00 01 .. 1f} is imported onto the token as {@code golden-v1} (the only key a test knows
 * the bytes of), the IVs come from a fixed source, and the vectors were made with the JDK's
 * software AES-GCM, so each test also checks the token against an independent implementation.
 */
class Pkcs11BlobGoldenTest {
  private static final HexFormat HEX = HexFormat.of();
  private static final byte[] KEY =
      HEX.parseHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  private static final URI CMK = SoftHsm.cmk("golden-v1");
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");

  /** 32 bytes 10..2f under context tenant=acme, IV a0..ab. */
  static final String VECTOR_1 =
      "01" // format version 1
          + "01" // AES-GCM, 96-bit IV, 128-bit tag
          + "0009" // label length
          + "676f6c64656e2d7631" // "golden-v1"
          + "a0a1a2a3a4a5a6a7a8a9aaab" // IV
          + "f6096e3e51de14a87a7c9dc81b67dec1508d7b33b692644bb4270cad53865b2e" // ciphertext
          + "fdf978f558549527373462c16eef27ee"; // tag

  /** 16 zero bytes under the empty context, IV all zero. */
  static final String VECTOR_2 =
      "01010009676f6c64656e2d7631"
          + "000000000000000000000000"
          + "0ebcb5deb52c83bd08a8a935182c9199"
          + "e2bab609058115dcf688fa21d178dd29";

  private static final Pkcs11KmsProvider PROVIDER = SoftHsm.builder().build();

  static {
    SoftHsm.importKey("golden-v1", KEY);
  }

  @AfterAll
  static void closeProvider() {
    PROVIDER.close();
  }

  @Test
  void wrapWithAFixedIvGivesTheCommittedBytes() {
    byte[] wrapped =
        PROVIDER.key(CMK, fixedIv("a0a1a2a3a4a5a6a7a8a9aaab")).wrap(plaintext1(), CONTEXT);
    assertThat(HEX.formatHex(wrapped)).isEqualTo(VECTOR_1);

    byte[] wrapped2 =
        PROVIDER
            .key(CMK, fixedIv("000000000000000000000000"))
            .wrap(new byte[16], KeyContext.empty());
    assertThat(HEX.formatHex(wrapped2)).isEqualTo(VECTOR_2);
  }

  @Test
  void theTokenUnwrapsTheCommittedBytes() {
    assertThat(PROVIDER.unwrapper(CMK).unwrap(HEX.parseHex(VECTOR_1), CONTEXT))
        .isEqualTo(plaintext1());
    assertThat(PROVIDER.unwrapper(CMK).unwrap(HEX.parseHex(VECTOR_2), KeyContext.empty()))
        .isEqualTo(new byte[16]);
  }

  @Test
  void theVectorsAreAesGcmOverHeaderAndContextAsTheFormatSays() throws Exception {
    byte[] v = HEX.parseHex(VECTOR_1);
    byte[] header = java.util.Arrays.copyOf(v, 13);
    Cipher software = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
    software.init(
        Cipher.DECRYPT_MODE,
        new SecretKeySpec(KEY, "AES"),
        new GCMParameterSpec(128, java.util.Arrays.copyOfRange(v, 13, 25)));
    software.updateAAD(header);
    software.updateAAD(CONTEXT.encode());
    assertThat(software.doFinal(v, 25, v.length - 25)).isEqualTo(plaintext1());
  }

  @Test
  void anUnknownVersionOrAlgorithmIsRejectedBeforeTheTokenIsAsked() {
    long before = PROVIDER.token(SoftHsm.MAIN).decrypts.get();
    byte[] v2 = HEX.parseHex(VECTOR_1);
    v2[0] = 2;
    assertThatThrownBy(() -> PROVIDER.unwrapper(CMK).unwrap(v2, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("unknown format version 2")
        .hasMessageContaining(CMK.toString());
    byte[] alg = HEX.parseHex(VECTOR_1);
    alg[1] = 9;
    assertThatThrownBy(() -> PROVIDER.unwrapper(CMK).unwrap(alg, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("unknown algorithm 9");
    assertThat(PROVIDER.token(SoftHsm.MAIN).decrypts.get()).isEqualTo(before);
  }

  @Test
  void aBlobOfAnotherKeyObjectIsNotTriedWithThisOne() {
    URI other = SoftHsm.cmk("golden-v2");
    assertThatThrownBy(() -> PROVIDER.unwrapper(other).unwrap(HEX.parseHex(VECTOR_1), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("another key object ('golden-v1')");
  }

  private static byte[] plaintext1() {
    byte[] p = new byte[32];
    for (int i = 0; i < p.length; i++) {
      p[i] = (byte) (0x10 + i);
    }
    return p;
  }

  /** A random source that gives {@code hex} once per call of nextBytes. */
  @SuppressWarnings("serial")
  private static SecureRandom fixedIv(String hex) {
    byte[] iv = HEX.parseHex(hex);
    return new SecureRandom() {
      @Override
      public void nextBytes(byte[] bytes) {
        System.arraycopy(iv, 0, bytes, 0, bytes.length);
      }
    };
  }
}
