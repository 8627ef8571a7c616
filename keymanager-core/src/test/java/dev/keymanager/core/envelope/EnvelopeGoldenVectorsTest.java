package dev.keymanager.core.envelope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Payloads written by format 1 keep decrypting: see {@code golden/envelope-v1.properties}, made
 * once by {@link EnvelopeGoldenVectors}. The KEK record is restored into a fresh store, so the
 * whole path runs: FakeKms unwraps the KEK, the key manager unwraps each DEK, the envelope
 * decrypts.
 */
class EnvelopeGoldenVectorsTest {
  private static final HexFormat HEX = HexFormat.of();

  private Properties v;
  private KekStore store;
  private KeyManager keys;
  private EnvelopeCipher cipher;
  private KeyContext context;

  @BeforeEach
  void restoreTheKek() throws IOException {
    v = new Properties();
    try (InputStream in = getClass().getResourceAsStream("/golden/envelope-v1.properties")) {
      v.load(in);
    }
    store = KekStores.inMemory();
    store.create(
        KeyEncryptionKey.builder()
            .id(v.getProperty("kek.id"))
            .version(Integer.parseInt(v.getProperty("kek.version")))
            .cmkUri(URI.create(v.getProperty("kek.cmk")))
            .wrappedMaterial(HEX.parseHex(v.getProperty("kek.wrapped")))
            .createdAt(Instant.parse("2026-11-27T00:00:00Z"))
            .build());
    keys = EnvelopeGoldenVectors.keyManager(store);
    cipher = EnvelopeCipher.of(keys, v.getProperty("kek.id"));
    context = EnvelopeGoldenVectors.context(v.getProperty("context"));
  }

  @AfterEach
  void close() {
    keys.close();
  }

  private byte[] payload(String name) {
    return HEX.parseHex(v.getProperty(name + ".payload"));
  }

  @Test
  void oneShotPayloadsFromFormatOneStillDecrypt() {
    for (int i = 1; i <= 2; i++) {
      byte[] payload = payload("one-shot." + i);
      byte[] expected = HEX.parseHex(v.getProperty("one-shot." + i + ".plaintext"));

      assertThat(cipher.decrypt(payload, context)).as("vector %d", i).isEqualTo(expected);
      ByteBuffer out = cipher.decrypt(ByteBuffer.wrap(payload), context);
      assertThat(out.remaining()).isEqualTo(expected.length);
      assertThat(payload).startsWith(0x4B, 0x45, 1, 1);
      assertThat(EnvelopeCipher.kekOf(payload)).isEqualTo(new KekRef("tenant-42/orders", 1));
    }
  }

  @Test
  void streamingPayloadsFromFormatOneStillDecryptAsStreamsAndWithRandomAccess() throws IOException {
    for (int i = 1; i <= 3; i++) {
      byte[] payload = payload("streaming." + i);
      byte[] expected =
          EnvelopeGoldenVectors.counting(
              Integer.parseInt(v.getProperty("streaming." + i + ".plaintext-counting")));

      try (InputStream in =
          cipher.newDecryptingStream(new ByteArrayInputStream(payload), context)) {
        assertThat(in.readAllBytes()).as("vector %d", i).isEqualTo(expected);
      }
      try (SeekableByteChannel in =
          cipher.newSeekableDecryptingChannel(new BytesChannel(payload), context)) {
        assertThat(in.size()).isEqualTo(expected.length);
        int from = expected.length / 3;
        ByteBuffer b = ByteBuffer.allocate(expected.length - from);
        in.position(from);
        while (b.hasRemaining() && in.read(b) >= 0) {
          // keep reading
        }
        assertThat(b.array()).isEqualTo(Arrays.copyOfRange(expected, from, expected.length));
      }
    }
  }

  @Test
  void theRecordedSegmentSizesAreThoseTheFormatDescribes() {
    for (int i = 1; i <= 3; i++) {
      byte[] payload = payload("streaming." + i);
      PayloadHeader header = PayloadHeader.parse(payload, 0, payload.length);
      assertThat(header.kind()).isEqualTo(PayloadHeader.Kind.STREAMING);
      assertThat(header.segmentSize()).isEqualTo(i == 3 ? 65536 : 4096);
      assertThat(payload[header.length()]).as("Tink header length byte").isEqualTo((byte) 40);
    }
  }
}
