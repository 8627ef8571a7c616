package dev.keymanager.core.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;
import java.net.URI;
import java.time.Instant;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class KekRecordCodecTest {
  /**
   * Format version 1 of {@link #golden()}: a change that alters these bytes breaks old stores. The
   * fields and CRC32C were checked by hand against the layout in {@link KekRecordCodec}.
   */
  private static final String GOLDEN_HEX =
      "4b454b520001000974656e616e742fc3a90000000303000000000000002a0000"
          + "00336177732d6b6d733a2f2f61726e3a6177733a6b6d733a65752d776573742d"
          + "313a3131313132323232333333333a6b65792f6b310000000065bdbb72000000"
          + "070000000065e556bf000000000100000000660f3f0000000000000000050001"
          + "02feffb67c5109";

  private static KeyEncryptionKey golden() {
    return KeyEncryptionKey.builder()
        .id("tenant/é")
        .version(3)
        .state(KekState.PENDING_DESTRUCTION)
        .cmkUri(URI.create("aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k1"))
        .wrappedMaterial(new byte[] {0, 1, 2, (byte) 0xfe, (byte) 0xff})
        .createdAt(Instant.parse("2024-02-03T04:05:06.000000007Z"))
        .updatedAt(Instant.parse("2024-03-04T05:06:07Z"))
        .destroyAt(Instant.parse("2024-04-05T00:00:00Z"))
        .revision(42)
        .build();
  }

  /**
   * Head format version 1 ({@code KEKH}) of {@link #goldenHead()}: a change that alters these bytes
   * breaks every store written since heads exist. Computed independently of {@link KekRecordCodec}
   * from the layout in its javadoc (fields big-endian, CRC32C over the rest).
   */
  private static final String GOLDEN_HEAD_HEX =
      "4b454b480001000974656e616e742fc3a9030000000300000002000000000000"
          + "0007000000336177732d6b6d733a2f2f61726e3a6177733a6b6d733a65752d77"
          + "6573742d313a3131313132323232333333333a6b65792f6b310000000065e556"
          + "bf000000090100000000660f3f0000000000b950869d";

  private static KekHead goldenHead() {
    return KekHead.builder()
        .id("tenant/é")
        .state(KekState.PENDING_DESTRUCTION)
        .primaryVersion(3)
        .minimumDecryptionVersion(2)
        .cmkUri(URI.create("aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k1"))
        .updatedAt(Instant.parse("2024-03-04T05:06:07.000000009Z"))
        .destroyAt(Instant.parse("2024-04-05T00:00:00Z"))
        .revision(7)
        .build();
  }

  @Test
  void encodesGoldenHeadVector() {
    assertThat(HexFormat.of().formatHex(KekRecordCodec.encodeHead(goldenHead())))
        .isEqualTo(GOLDEN_HEAD_HEX);
  }

  @Test
  void decodesGoldenHeadVector() {
    assertThat(KekRecordCodec.decodeHead(HexFormat.of().parseHex(GOLDEN_HEAD_HEX), "golden"))
        .isEqualTo(goldenHead());
  }

  @Test
  void aHeadIsNotAVersionRecordNorTheOtherWayRound() {
    byte[] head = HexFormat.of().parseHex(GOLDEN_HEAD_HEX);
    byte[] record = HexFormat.of().parseHex(GOLDEN_HEX);

    assertThatThrownBy(() -> KekRecordCodec.decode(head, "head.kek"))
        .isInstanceOf(KekStoreException.class)
        .hasMessageContaining("bad magic");
    assertThatThrownBy(() -> KekRecordCodec.decodeHead(record, "v3.kek"))
        .isInstanceOf(KekStoreException.class)
        .hasMessageContaining("bad magic");
  }

  @Test
  void rejectsAHeadWithAFlippedBitByItsChecksum() {
    byte[] head = HexFormat.of().parseHex(GOLDEN_HEAD_HEX);
    head[20] ^= 1;

    assertThatThrownBy(() -> KekRecordCodec.decodeHead(head, "head.kek"))
        .isInstanceOfSatisfying(KekStoreException.class, e -> assertThat(e.isRetryable()).isFalse())
        .hasMessageContaining("checksum mismatch");
  }

  @Test
  void encodesGoldenVector() {
    assertThat(HexFormat.of().formatHex(KekRecordCodec.encode(golden()))).isEqualTo(GOLDEN_HEX);
  }

  @Test
  void decodesGoldenVector() {
    assertThat(KekRecordCodec.decode(HexFormat.of().parseHex(GOLDEN_HEX), "golden"))
        .isEqualTo(golden());
  }

  @Test
  void roundTripsDestroyedRecordWithEmptyMaterial() {
    KeyEncryptionKey destroyed =
        golden().toBuilder()
            .state(KekState.DESTROYED)
            .destroyAt(null)
            .wrappedMaterial(new byte[0])
            .build();

    assertThat(KekRecordCodec.decode(KekRecordCodec.encode(destroyed), "x")).isEqualTo(destroyed);
  }

  @Test
  void rejectsUnknownFormatVersionNamingIt() {
    byte[] bytes = KekRecordCodec.encode(golden());
    bytes[5] = 9;

    assertThatThrownBy(() -> KekRecordCodec.decode(bytes, "some/file"))
        .isInstanceOfSatisfying(KekStoreException.class, e -> assertThat(e.isRetryable()).isFalse())
        .hasMessageContaining("some/file")
        .hasMessageContaining("unsupported format version 9");
  }

  @Test
  void rejectsBytesThatAreNotARecord() {
    byte[] bytes = "not a record at all".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    assertThatThrownBy(() -> KekRecordCodec.decode(bytes, "some/file"))
        .isInstanceOf(KekStoreException.class)
        .hasMessageContaining("bad magic");
  }
}
