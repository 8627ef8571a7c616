package dev.keymanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.internal.ApiBridge;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class WrappedKeyTest {
  private static final KekRef KEK = new KekRef("orders", 3);

  private static byte[] sample() {
    byte[] b =
        ApiBridge.wrappedKeys().newEncoding(WrapAlgorithm.AES256_GCM_HKDF_SHA256, KEK, 32 + 16);
    Arrays.fill(b, b.length - 48 - 44, b.length, (byte) 0x5A);
    return b;
  }

  @Test
  void decodeReadsTheHeader() {
    WrappedKey key = WrappedKey.decode(sample());

    assertThat(key.kek()).isEqualTo(KEK);
    assertThat(key.formatVersion()).isEqualTo(1);
    assertThat(key.algorithm()).isEqualTo(WrapAlgorithm.AES256_GCM_HKDF_SHA256);
    assertThat(key.parametersOffset()).isEqualTo(5 + "orders".length() + 4);
    assertThat(key.ciphertextOffset()).isEqualTo(key.parametersOffset() + 44);
    assertThat(key.encode()).isEqualTo(sample());
  }

  @Test
  void adoptingAnEncodingBuiltFromTheHeaderMatchesDecode() {
    WrapAlgorithm algorithm = WrapAlgorithm.AES256_GCM_HKDF_SHA256;
    KekRef kek = new KekRef("tenant é/42", 7); // a multi-byte UTF-8 id
    byte[] header = ApiBridge.wrappedKeys().header(algorithm, kek);
    byte[] encoded = Arrays.copyOf(header, header.length + algorithm.parametersLength() + 48);
    Arrays.fill(encoded, header.length, encoded.length, (byte) 0x3C);

    WrappedKey adopted = ApiBridge.wrappedKeys().adopt(encoded.clone(), algorithm, kek);
    WrappedKey decoded = WrappedKey.decode(encoded);

    assertThat(adopted.kek()).isEqualTo(decoded.kek()).isEqualTo(kek);
    assertThat(adopted.parametersOffset()).isEqualTo(decoded.parametersOffset());
    assertThat(adopted.parametersOffset()).isEqualTo(header.length);
    assertThat(adopted.ciphertextOffset()).isEqualTo(decoded.ciphertextOffset());
    assertThat(adopted.encode()).isEqualTo(decoded.encode());
  }

  @Test
  void decodeCopiesItsInput() {
    byte[] bytes = sample();
    WrappedKey key = WrappedKey.decode(bytes);
    bytes[bytes.length - 1] ^= 1;

    assertThat(key.encode()).isEqualTo(sample());
  }

  @Test
  void everyTruncationIntoTheTagIsRejected() {
    // Shorter ciphertexts are structurally valid and fail authentication when unwrapped.
    byte[] full = sample();
    int minimum = WrappedKey.decode(full).ciphertextOffset() + 16;
    for (int n = 0; n <= minimum; n++) {
      byte[] truncated = Arrays.copyOf(full, n);
      assertThatThrownBy(() -> WrappedKey.decode(truncated))
          .as("truncated to %d bytes", n)
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageStartingWith("Invalid wrapped key");
    }
  }

  @Test
  void unknownFormatVersionIsRejectedByName() {
    byte[] b = sample();
    b[2] = 7;

    assertThatThrownBy(() -> WrappedKey.decode(b))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("unknown wrapped key format version 7");
  }

  // Issue 15: decode reuses the KEK reference of a header it decoded recently; no two headers are
  // ever confused, including those that share a slot of the table, and bad ones stay rejected.
  @Test
  void aRecentlyDecodedHeaderIsReusedAndNeverConfusedWithAnother() {
    int n = 2000; // far more than the table holds: slots are shared and overwritten
    byte[][] encodings = new byte[n][];
    for (int i = 0; i < n; i++) {
      KekRef ref = new KekRef("tenant-" + i, 1 + i % 5);
      encodings[i] =
          ApiBridge.wrappedKeys().newEncoding(WrapAlgorithm.AES256_GCM_HKDF_SHA256, ref, 48);
      KekRef first = WrappedKey.decode(encodings[i]).kek();
      assertThat(first).isEqualTo(ref);
      assertThat(WrappedKey.decode(encodings[i]).kek()).as("reused").isSameAs(first);
    }
    for (int i = 0; i < n; i++) {
      assertThat(WrappedKey.decode(encodings[i]).kek())
          .isEqualTo(new KekRef("tenant-" + i, 1 + i % 5));
    }
    byte[] badUtf8 = sample();
    WrappedKey.decode(sample()); // the good header of the same length is in the table
    badUtf8[5] = (byte) 0xFF;
    assertThatThrownBy(() -> WrappedKey.decode(badUtf8))
        .isInstanceOf(InvalidCiphertextException.class);
  }

  @Test
  void badMagicUnknownAlgorithmAndBadIdsAreRejected() {
    byte[] magic = sample();
    magic[0] = 0;
    byte[] algorithm = sample();
    algorithm[3] = 99;
    byte[] emptyId = sample();
    emptyId[4] = 0;
    byte[] badUtf8 = sample();
    badUtf8[5] = (byte) 0xFF;
    byte[] zeroVersion = sample();
    Arrays.fill(zeroVersion, 5 + 6, 5 + 6 + 4, (byte) 0);

    for (byte[] b : new byte[][] {magic, algorithm, emptyId, badUtf8, zeroVersion}) {
      assertThatThrownBy(() -> WrappedKey.decode(b)).isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void toStringShowsHeaderOnly() {
    assertThat(WrappedKey.decode(sample()).toString())
        .contains("orders v3")
        .doesNotContain("5A")
        .doesNotContain("5a");
  }
}
