package dev.keymanager.core.envelope;

import dev.keymanager.KeyContext;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.util.Random;

/**
 * Measures what the segment size costs: sequential encrypt and decrypt throughput, and the latency
 * of a random 4 KiB read through the seekable channel, for 4 KiB, 64 KiB and 1 MiB segments. A
 * plain timing loop after warm-up on one thread (not JMH): read the numbers as ratios. Run as
 * {@link EnvelopeGoldenVectors} is run, with this class's name.
 */
final class SegmentSizeMeasurement {
  private SegmentSizeMeasurement() {}

  public static void main(String[] args) throws IOException {
    int size = 16 << 20;
    byte[] plaintext = Fixture.pattern(size, 1);
    KeyContext context = KeyContext.of("measure", "segments");
    try (Fixture f = new Fixture()) {
      f.keys.admin().createKek("measure", Fixture.CMK);
      for (int round = 0; round < 2; round++) {
        System.out.println(round == 0 ? "warm-up" : "measured");
        for (int segment : new int[] {4 << 10, 64 << 10, 1 << 20}) {
          EnvelopeCipher cipher =
              EnvelopeCipher.builder(f.keys, "measure").segmentSize(segment).build();
          long t0 = System.nanoTime();
          byte[] ciphertext = Fixture.encryptStreaming(cipher, plaintext, context);
          long t1 = System.nanoTime();
          try (InputStream in =
              cipher.newDecryptingStream(new ByteArrayInputStream(ciphertext), context)) {
            in.readAllBytes();
          }
          long t2 = System.nanoTime();
          int reads = 2000;
          Random random = new Random(7);
          ByteBuffer b = ByteBuffer.allocate(4096);
          long t3;
          long t4;
          try (SeekableByteChannel ch =
              cipher.newSeekableDecryptingChannel(new BytesChannel(ciphertext), context)) {
            t3 = System.nanoTime();
            for (int i = 0; i < reads; i++) {
              b.clear();
              ch.position(random.nextInt(size - 4096));
              while (b.hasRemaining()) {
                ch.read(b);
              }
            }
            t4 = System.nanoTime();
          }
          System.out.printf(
              "segment %7d B: encrypt %6.0f MB/s, decrypt %6.0f MB/s, random 4 KiB read %7.1f us,"
                  + " overhead %.3f%%%n",
              segment,
              size / 1e6 / ((t1 - t0) / 1e9),
              size / 1e6 / ((t2 - t1) / 1e9),
              (t4 - t3) / 1e3 / reads,
              100.0 * (ciphertext.length - size) / size);
        }
      }
    }
  }
}
