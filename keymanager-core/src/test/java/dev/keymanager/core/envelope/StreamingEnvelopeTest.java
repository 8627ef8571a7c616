package dev.keymanager.core.envelope;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StreamingEnvelopeTest {
  private static final KeyContext CONTEXT = KeyContext.of("file", "segment-0001");
  private static final int SEGMENT = 4096;

  @TempDir Path dir;

  private final Fixture f = new Fixture();
  private EnvelopeCipher cipher;

  @BeforeEach
  void createKek() {
    f.keys.admin().createKek("tenant-42", Fixture.CMK);
    cipher = EnvelopeCipher.builder(f.keys, "tenant-42").segmentSize(SEGMENT).build();
  }

  @AfterEach
  void close() {
    f.close();
  }

  private byte[] decryptAll(byte[] ciphertext, KeyContext context) throws IOException {
    try (InputStream in =
        cipher.newDecryptingStream(new ByteArrayInputStream(ciphertext), context)) {
      return in.readAllBytes();
    }
  }

  private SeekableByteChannel seekable(byte[] ciphertext) throws IOException {
    return cipher.newSeekableDecryptingChannel(new BytesChannel(ciphertext), CONTEXT);
  }

  private static byte[] readAt(SeekableByteChannel channel, long position, int length)
      throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    channel.position(position);
    while (b.hasRemaining() && channel.read(b) >= 0) {
      // keep reading
    }
    return Arrays.copyOf(b.array(), b.position());
  }

  /** Segment boundaries in a payload: segment i >= 1 starts at i * SEGMENT. */
  private static byte[] segment(byte[] ciphertext, int i) {
    return Arrays.copyOfRange(
        ciphertext, i * SEGMENT, Math.min(ciphertext.length, (i + 1) * SEGMENT));
  }

  @Test
  void streamsRoundTripAcrossSegmentBoundaries() throws IOException {
    int plaintextPerSegment = SEGMENT - 16;
    for (int length :
        new int[] {0, 1, 3000, plaintextPerSegment, 3 * plaintextPerSegment, 50_000}) {
      byte[] plaintext = Fixture.pattern(length, length);

      byte[] ciphertext = Fixture.encryptStreaming(cipher, plaintext, CONTEXT);

      assertThat(decryptAll(ciphertext, CONTEXT)).as("length %d", length).isEqualTo(plaintext);
      try (SeekableByteChannel in = seekable(ciphertext)) {
        assertThat(in.size()).isEqualTo(length);
        assertThat(readAt(in, 0, length)).isEqualTo(plaintext);
      }
    }
  }

  @Test
  void theChannelWriterAndTheDefaultSegmentSizeRoundTripThroughAFile() throws IOException {
    EnvelopeCipher defaults = EnvelopeCipher.of(f.keys, "tenant-42");
    byte[] plaintext = Fixture.pattern(300_000, 11);
    Path file = dir.resolve("payload.kes");
    try (WritableByteChannel out =
        defaults.newEncryptingChannel(
            FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
            CONTEXT)) {
      ByteBuffer src = ByteBuffer.wrap(plaintext);
      while (src.hasRemaining()) {
        ByteBuffer slice = src.slice().limit(Math.min(src.remaining(), 10_000));
        out.write(slice);
        src.position(src.position() + slice.position());
      }
      assertThat(out.isOpen()).isTrue();
    }

    byte[] ciphertext = Files.readAllBytes(file);
    assertThat(ciphertext[6 + ((ciphertext[4] & 0xFF) << 8 | ciphertext[5] & 0xFF)])
        .isEqualTo((byte) 16);
    try (SeekableByteChannel in =
        defaults.newSeekableDecryptingChannel(FileChannel.open(file), CONTEXT)) {
      Random random = new Random(5);
      for (int i = 0; i < 200; i++) {
        int at = random.nextInt(plaintext.length);
        int n = random.nextInt(9000);
        assertThat(readAt(in, at, n))
            .isEqualTo(Arrays.copyOfRange(plaintext, at, Math.min(plaintext.length, at + n)));
      }
      assertThat(readAt(in, plaintext.length + 5, 10)).isEmpty();
    }
    try (InputStream in = defaults.newDecryptingStream(Files.newInputStream(file), CONTEXT)) {
      assertThat(in.readAllBytes()).isEqualTo(plaintext);
    }
  }

  @Test
  void truncationIsDetectedAtASegmentBoundaryAndInsideASegment() throws IOException {
    byte[] ciphertext = Fixture.encryptStreaming(cipher, Fixture.pattern(20_000, 12), CONTEXT);
    for (int cut : new int[] {2 * SEGMENT, 3 * SEGMENT, 3 * SEGMENT + 100, ciphertext.length - 1}) {
      byte[] truncated = Arrays.copyOf(ciphertext, cut);

      assertThatThrownBy(() -> decryptAll(truncated, CONTEXT))
          .as("stream cut at %d", cut)
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("failed authentication")
          .hasMessageContaining("truncated");
      assertThatThrownBy(() -> seekable(truncated))
          .as("channel cut at %d", cut)
          .isInstanceOf(InvalidCiphertextException.class);
    }
    assertThatThrownBy(() -> decryptAll(Arrays.copyOf(ciphertext, 100), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class);
  }

  @Test
  void reorderedSegmentsAreDetected() throws IOException {
    byte[] ciphertext = Fixture.encryptStreaming(cipher, Fixture.pattern(20_000, 13), CONTEXT);
    byte[] swapped = ciphertext.clone();
    System.arraycopy(segment(ciphertext, 2), 0, swapped, SEGMENT, SEGMENT);
    System.arraycopy(segment(ciphertext, 1), 0, swapped, 2 * SEGMENT, SEGMENT);

    assertThatThrownBy(() -> decryptAll(swapped, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("reordered");
    try (SeekableByteChannel in = seekable(swapped)) {
      assertThat(readAt(in, 0, 100)).hasSize(100); // segment 0 is intact
      assertThatThrownBy(() -> readAt(in, SEGMENT + 10, 10))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("reading at plaintext offset " + (SEGMENT + 10));
    }
  }

  @Test
  void appendedBytesAreDetected() throws IOException {
    byte[] ciphertext = Fixture.encryptStreaming(cipher, Fixture.pattern(10_000, 14), CONTEXT);
    for (byte[] tail : new byte[][] {{0}, new byte[SEGMENT], segment(ciphertext, 1)}) {
      byte[] extended = Arrays.copyOf(ciphertext, ciphertext.length + tail.length);
      System.arraycopy(tail, 0, extended, ciphertext.length, tail.length);

      assertThatThrownBy(() -> decryptAll(extended, CONTEXT))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("extended");
      assertThatThrownBy(() -> seekable(extended)).isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void anAlteredSegmentFailsOnlyTheReadsThatTouchIt() throws IOException {
    byte[] plaintext = Fixture.pattern(20_000, 15);
    byte[] ciphertext = Fixture.encryptStreaming(cipher, plaintext, CONTEXT);
    ciphertext[2 * SEGMENT + 7] ^= 1;

    try (SeekableByteChannel in = seekable(ciphertext)) {
      int perSegment = SEGMENT - 16;
      int segmentTwoStart = 2 * perSegment - (ciphertext.length - 16 * 5 - plaintext.length);
      assertThat(readAt(in, 0, 1000)).isEqualTo(Arrays.copyOf(plaintext, 1000));
      assertThat(readAt(in, 19_000, 1000)).isEqualTo(Arrays.copyOfRange(plaintext, 19_000, 20_000));
      assertThatThrownBy(() -> readAt(in, segmentTwoStart + 5, 1))
          .isInstanceOf(InvalidCiphertextException.class);
    }
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    assertThatThrownBy(
            () -> {
              try (InputStream in =
                  cipher.newDecryptingStream(new ByteArrayInputStream(ciphertext), CONTEXT)) {
                byte[] b = new byte[1000];
                for (int n; (n = in.read(b)) >= 0; ) {
                  got.write(b, 0, n);
                }
              }
            })
        .isInstanceOf(InvalidCiphertextException.class);
    // Only authenticated segments came out, and they are the right bytes.
    assertThat(got.toByteArray()).isEqualTo(Arrays.copyOf(plaintext, got.size()));
    assertThat(got.size()).isLessThan(2 * SEGMENT);
  }

  @Test
  void wrongContextAndWrongKekFailWhenOpening() throws IOException {
    byte[] ciphertext = Fixture.encryptStreaming(cipher, new byte[100], CONTEXT);
    KeyContext other = KeyContext.of("file", "segment-0002");

    assertThatThrownBy(
            () -> cipher.newDecryptingStream(new ByteArrayInputStream(ciphertext), other))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("key context differs");
    assertThatThrownBy(
            () -> cipher.newSeekableDecryptingChannel(new BytesChannel(ciphertext), other))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("key context differs");
    f.keys.admin().createKek("tenant-43", Fixture.OTHER_CMK);
    assertThatThrownBy(
            () ->
                EnvelopeCipher.of(f.keys, "tenant-43")
                    .newDecryptingStream(new ByteArrayInputStream(ciphertext), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("wrong KEK");
  }

  @Test
  void aOneShotPayloadIsNotAStreamingPayload() {
    byte[] oneShot = cipher.encrypt(new byte[10], CONTEXT);

    assertThatThrownBy(() -> cipher.newDecryptingStream(new ByteArrayInputStream(oneShot), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("this is a one-shot payload");
  }

  @Test
  void aFailingSourceStaysAnIoExceptionAndIsClosedWhenOpeningFails() throws IOException {
    byte[] ciphertext = Fixture.encryptStreaming(cipher, Fixture.pattern(20_000, 16), CONTEXT);
    try (SeekableByteChannel in =
        cipher.newSeekableDecryptingChannel(
            new BytesChannel(ciphertext).failAfter(10_000), CONTEXT)) {
      assertThat(readAt(in, 0, 10)).hasSize(10);
      assertThatThrownBy(() -> readAt(in, 15_000, 10))
          .isInstanceOf(IOException.class)
          .hasMessage("disk gone (injected)");
    }
    AtomicBoolean closed = new AtomicBoolean();
    InputStream failing =
        new FilterInputStream(new ByteArrayInputStream(ciphertext, 0, 9000)) {
          @Override
          public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n < 0) {
              throw new IOException("network gone (injected)");
            }
            return n;
          }

          @Override
          public void close() {
            closed.set(true);
          }
        };
    try (InputStream in = cipher.newDecryptingStream(failing, CONTEXT)) {
      assertThatThrownBy(in::readAllBytes)
          .isInstanceOf(IOException.class)
          .hasMessage("network gone (injected)");
    }
    assertThat(closed).isTrue();

    BytesChannel source = new BytesChannel(ciphertext);
    assertThatThrownBy(
            () -> cipher.newSeekableDecryptingChannel(source, KeyContext.of("file", "x")))
        .isInstanceOf(InvalidCiphertextException.class);
    assertThat(source.isOpen()).isFalse();
  }

  @Test
  void aChannelReturningFewBytesPerReadStillWorks() throws IOException {
    byte[] plaintext = Fixture.pattern(12_000, 17);
    byte[] ciphertext = Fixture.encryptStreaming(cipher, plaintext, CONTEXT);

    try (SeekableByteChannel in =
        cipher.newSeekableDecryptingChannel(new BytesChannel(ciphertext, 777), CONTEXT)) {
      assertThat(readAt(in, 5000, 7000)).isEqualTo(Arrays.copyOfRange(plaintext, 5000, 12_000));
    }
    try (InputStream in =
        cipher.newDecryptingStream(
            Channels.newInputStream(new BytesChannel(ciphertext, 777)), CONTEXT)) {
      assertThat(in.readAllBytes()).isEqualTo(plaintext);
    }
  }

  @Test
  void closedStreamsAndChannelsRefuseUse() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    var out = cipher.newEncryptingStream(bytes, CONTEXT);
    out.write(1);
    out.close();
    out.close();
    assertThatThrownBy(() -> out.write(2)).isInstanceOf(IOException.class);

    SeekableByteChannel in = seekable(bytes.toByteArray());
    in.close();
    assertThat(in.isOpen()).isFalse();
    assertThatThrownBy(() -> in.read(ByteBuffer.allocate(1)))
        .isInstanceOf(java.nio.channels.ClosedChannelException.class);
    assertThatThrownBy(() -> in.write(ByteBuffer.allocate(1)))
        .isInstanceOf(java.nio.channels.NonWritableChannelException.class);
  }
}
