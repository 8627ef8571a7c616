package dev.keymanager.core.envelope;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The fuzz targets of every payload decoder, shared by the bounded run of the normal build ({@link
 * EnvelopeFuzzTest}) and Jazzer's coverage-guided run ({@code EnvelopeJazzer*FuzzTest}, {@code
 * -Pfuzz}).
 *
 * <p>Each target reads its input as a little program: which valid payload to start from (or raw
 * bytes), which mutations to apply (bit flips, byte writes, truncation, appended bytes, deleted or
 * duplicated ranges, swapped segments, splices from another payload), which context to present and
 * how to read. It then checks the one property that matters: the decoder either returns exactly the
 * original plaintext (and only if the bytes and context are the original ones) or throws {@link
 * InvalidCiphertextException}; never another exception, never other bytes, never a hang (each input
 * runs under a {@link #TIMEOUT}). Any violation is an {@link AssertionError}.
 */
final class FuzzTargets implements AutoCloseable {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  static final KeyContext CONTEXT = KeyContext.of("fuzz", "right");
  static final KeyContext WRONG_CONTEXT = KeyContext.of("fuzz", "wrong");
  static final int SEGMENT = 4096;

  private final Fixture fixture = new Fixture();
  private final EnvelopeCipher cipher;
  private final List<byte[]> plaintexts;
  private final List<byte[]> oneShot;
  private final List<byte[]> streaming;
  private final ExecutorService worker =
      Executors.newSingleThreadExecutor(
          r -> {
            Thread t = new Thread(r, "fuzz-target");
            t.setDaemon(true); // a hung input must not keep the test JVM alive
            return t;
          });

  final AtomicLong inputs = new AtomicLong();
  final AtomicLong rejected = new AtomicLong();
  final AtomicLong decrypted = new AtomicLong();

  FuzzTargets() {
    fixture.keys.admin().createKek("fuzz", Fixture.CMK);
    cipher = EnvelopeCipher.builder(fixture.keys, "fuzz").segmentSize(SEGMENT).build();
    plaintexts =
        List.of(
            new byte[0],
            Fixture.pattern(1, 1),
            Fixture.pattern(700, 2),
            Fixture.pattern(13_000, 3));
    try {
      oneShot = plaintexts.stream().map(p -> cipher.encrypt(p, CONTEXT)).toList();
      streaming = plaintexts.stream().map(this::encryptStreaming).toList();
    } catch (UncheckedIOException e) {
      throw new IllegalStateException(e);
    }
  }

  private byte[] encryptStreaming(byte[] plaintext) {
    try {
      return Fixture.encryptStreaming(cipher, plaintext, CONTEXT);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A fuzz input read as a sequence of choices; past its end every choice is 0. */
  static final class Choices {
    private final byte[] b;
    private int at;

    Choices(byte[] b) {
      this.b = b;
    }

    int next() {
      return at < b.length ? b[at++] & 0xFF : 0;
    }

    /** A choice in [0, bound). */
    int next(int bound) {
      int v = (next() << 24) | (next() << 16) | (next() << 8) | next();
      return Math.floorMod(v, bound);
    }

    byte[] rest() {
      byte[] r = Arrays.copyOfRange(b, Math.min(at, b.length), b.length);
      at = b.length;
      return r;
    }
  }

  /**
   * A payload to decode: the seed it was mutated from (or -1 for raw bytes), the final bytes and
   * the context to present.
   */
  record Case(int seed, byte[] bytes, KeyContext context) {
    /**
     * The seed whose bytes these are exactly, or -1. A splice can turn one seed into another (the
     * wrapped DEKs of one KEK cache load share their salt and nonce prefix), so it is not always
     * {@link #seed}.
     */
    int identical(List<byte[]> seeds) {
      for (int i = 0; i < seeds.size(); i++) {
        if (Arrays.equals(bytes, seeds.get(i))) {
          return i;
        }
      }
      return -1;
    }

    /**
     * The plaintext that any bytes which authenticate must come from: that of the streaming seed
     * whose keys these bytes name (its envelope header and Tink header, which fix the payload key,
     * are this input's prefix), or null if none. Mutations can splice one seed into another, so
     * this is not always {@link #seed}.
     */
    byte[] source(List<byte[]> seeds, List<byte[]> plaintexts) {
      for (int i = 0; i < seeds.size(); i++) {
        byte[] s = seeds.get(i);
        int keyed = PayloadHeader.parse(s, 0, s.length).length() + Streaming.TINK_HEADER_LENGTH;
        if (bytes.length >= keyed && Arrays.equals(bytes, 0, keyed, s, 0, keyed)) {
          return plaintexts.get(i);
        }
      }
      return null;
    }
  }

  private Case choose(Choices c, List<byte[]> seeds, int alignment) {
    int mode = c.next();
    KeyContext context = c.next() < 16 ? WRONG_CONTEXT : CONTEXT;
    if (mode < 32) {
      return new Case(-1, c.rest(), context);
    }
    int seed = c.next(seeds.size());
    byte[] b = seeds.get(seed).clone();
    int mutations = c.next() % 5;
    for (int i = 0; i < mutations; i++) {
      b = mutate(b, c, seeds, alignment);
    }
    return new Case(seed, b, context);
  }

  private static byte[] mutate(byte[] b, Choices c, List<byte[]> seeds, int alignment) {
    int n = Math.max(b.length, 1);
    switch (c.next() % 8) {
      case 0: // flip a bit
        if (b.length > 0) {
          b[c.next(n)] ^= (byte) (1 << c.next(8));
        }
        return b;
      case 1: // write a byte
        if (b.length > 0) {
          b[c.next(n)] = (byte) c.next();
        }
        return b;
      case 2: // truncate
        return Arrays.copyOf(b, c.next(n));
      case 3: // append bytes
        {
          int extra = c.next() < 200 ? c.next(64) + 1 : c.next(2 * alignment) + 1;
          byte[] r = Arrays.copyOf(b, b.length + extra);
          for (int i = b.length; i < r.length; i++) {
            r[i] = (byte) c.next();
          }
          return r;
        }
      case 4: // delete a range
        {
          int from = c.next(n);
          int to = Math.min(b.length, from + c.next(2 * alignment) + 1);
          byte[] r = new byte[b.length - (to - from)];
          System.arraycopy(b, 0, r, 0, Math.min(from, b.length));
          System.arraycopy(b, to, r, from, b.length - to);
          return r;
        }
      case 5: // duplicate a range in place
        {
          int from = c.next(n);
          int len = Math.min(b.length - from, c.next(alignment) + 1);
          if (len <= 0) {
            return b;
          }
          byte[] r = new byte[b.length + len];
          System.arraycopy(b, 0, r, 0, from + len);
          System.arraycopy(b, from, r, from + len, b.length - from);
          return r;
        }
      case 6: // swap two aligned chunks (segments of a streaming payload)
        {
          int chunks = b.length / alignment;
          if (chunks >= 2) {
            int i = c.next(chunks);
            int j = c.next(chunks);
            byte[] t = Arrays.copyOfRange(b, i * alignment, (i + 1) * alignment);
            System.arraycopy(b, j * alignment, b, i * alignment, alignment);
            System.arraycopy(t, 0, b, j * alignment, alignment);
          }
          return b;
        }
      default: // splice: the tail of another payload from the same offset on
        {
          byte[] other = seeds.get(c.next(seeds.size()));
          int from = Math.min(c.next(n), Math.min(b.length, other.length));
          byte[] r = Arrays.copyOf(b, other.length);
          System.arraycopy(other, from, r, from, other.length - from);
          return r;
        }
    }
  }

  /** Runs {@code target} on the worker thread under {@link #TIMEOUT}. */
  void run(ThrowingTarget target, byte[] input) {
    inputs.incrementAndGet();
    Future<?> f =
        worker.submit(
            () -> {
              target.run(input);
              return null;
            });
    try {
      f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      f.cancel(true);
      throw new AssertionError("input hung for " + TIMEOUT + ": " + hex(input), e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof InvalidCiphertextException) {
        rejected.incrementAndGet();
        return;
      }
      throw new AssertionError(
          "unexpected " + cause.getClass().getName() + " for input " + hex(input), cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  @FunctionalInterface
  interface ThrowingTarget {
    void run(byte[] input) throws Exception;
  }

  private static String hex(byte[] input) {
    String h = java.util.HexFormat.of().formatHex(input, 0, Math.min(input.length, 256));
    return input.length > 256 ? h + "... (" + input.length + " bytes)" : h;
  }

  private void accepted(Case k, List<byte[]> seeds, byte[] plaintext) {
    int i = k.identical(seeds);
    if (i < 0 || k.context() != CONTEXT) {
      throw new AssertionError("altered payload or wrong context decrypted without an error");
    }
    if (!Arrays.equals(plaintext, plaintexts.get(i))) {
      throw new AssertionError("wrong plaintext for seed " + i);
    }
    decrypted.incrementAndGet();
  }

  // ---- the targets ----

  /**
   * The header parser, on raw or mutated payloads of both kinds, through the array, stream and
   * channel readers, which must agree.
   */
  void header(byte[] fuzz) throws IOException {
    Choices c = new Choices(fuzz);
    byte[] input = choose(c, (c.next() & 1) == 0 ? oneShot : streaming, 16).bytes();
    PayloadHeader fromArray = null;
    try {
      fromArray = PayloadHeader.parse(input, 0, input.length);
      if (!Arrays.equals(fromArray.bytes(), Arrays.copyOf(input, fromArray.length()))) {
        throw new AssertionError("parsed header differs from the input's prefix");
      }
      if (!EnvelopeCipher.kekOf(input).equals(fromArray.wrappedKey().kek())) {
        throw new AssertionError("kekOf disagrees with the parser");
      }
    } catch (InvalidCiphertextException e) {
      // expected for most inputs; the stream and channel readers must agree below
    }
    PayloadHeader fromStream = null;
    try {
      fromStream = PayloadHeader.read(new ByteArrayInputStream(input));
    } catch (InvalidCiphertextException e) {
      // checked below
    }
    PayloadHeader fromChannel = null;
    try {
      fromChannel = PayloadHeader.read(new BytesChannel(input));
    } catch (InvalidCiphertextException e) {
      // checked below
    }
    if ((fromArray == null) != (fromStream == null)
        || (fromArray == null) != (fromChannel == null)) {
      throw new AssertionError("header readers disagree on whether the input is valid");
    }
    if (fromArray == null) {
      throw new InvalidCiphertextException("rejected by all readers");
    }
    decrypted.incrementAndGet();
  }

  /** One-shot decryption, of arrays or buffers. */
  void oneShot(byte[] input) {
    Choices c = new Choices(input);
    boolean buffer = (c.next() & 1) == 1;
    Case k = choose(c, oneShot, 16);
    byte[] plaintext;
    if (buffer) {
      ByteBuffer out = cipher.decrypt(ByteBuffer.wrap(k.bytes()), k.context());
      plaintext = new byte[out.remaining()];
      out.get(plaintext);
    } else {
      plaintext = cipher.decrypt(k.bytes(), k.context());
    }
    accepted(k, oneShot, plaintext);
  }

  /** Streaming decryption through the input stream, read in chosen chunk sizes. */
  void stream(byte[] input) throws IOException {
    Choices c = new Choices(input);
    int chunk = c.next(9000) + 1;
    Case k = choose(c, streaming, SEGMENT);
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    try (InputStream in =
        cipher.newDecryptingStream(new ByteArrayInputStream(k.bytes()), k.context())) {
      byte[] b = new byte[chunk];
      for (int n; (n = in.read(b)) >= 0; ) {
        got.write(b, 0, n);
      }
    } catch (InvalidCiphertextException e) {
      // Whatever came out before the failure must be a prefix of a real plaintext.
      byte[] p = k.source(streaming, plaintexts);
      if (p != null) {
        byte[] g = got.toByteArray();
        if (g.length > p.length || !Arrays.equals(g, Arrays.copyOf(p, g.length))) {
          throw new AssertionError("stream returned bytes that are not the plaintext", e);
        }
      } else if (got.size() > 0) {
        throw new AssertionError("stream returned bytes of a raw (unauthenticated) input", e);
      }
      throw e;
    }
    accepted(k, streaming, got.toByteArray());
  }

  /** Random-access reads through the seekable channel at chosen positions. */
  void seekable(byte[] input) throws IOException {
    Choices c = new Choices(input);
    int reads = c.next(6) + 1;
    int[][] plan = new int[reads][2];
    for (int[] r : plan) {
      r[0] = c.next(16_000);
      r[1] = c.next(6000) + 1;
    }
    Case k = choose(c, streaming, SEGMENT);
    byte[] original = k.source(streaming, plaintexts);
    boolean allSucceeded = true;
    InvalidCiphertextException first = null;
    try (SeekableByteChannel in =
        cipher.newSeekableDecryptingChannel(new BytesChannel(k.bytes()), k.context())) {
      if (original == null || k.context() != CONTEXT || in.size() != original.length) {
        throw new AssertionError("channel opened on bytes that do not authenticate");
      }
      for (int[] r : plan) {
        ByteBuffer dst = ByteBuffer.allocate(r[1]);
        in.position(r[0]);
        try {
          while (dst.hasRemaining() && in.read(dst) >= 0) {
            // keep reading
          }
        } catch (InvalidCiphertextException e) {
          allSucceeded = false;
          first = first == null ? e : first;
        }
        int from = Math.min(r[0], original.length);
        byte[] expected =
            Arrays.copyOfRange(original, from, Math.min(original.length, from + dst.position()));
        if (!Arrays.equals(Arrays.copyOf(dst.array(), dst.position()), expected)) {
          throw new AssertionError("seekable read at " + r[0] + " returned wrong bytes");
        }
      }
    }
    if (!allSucceeded) {
      throw first;
    }
    if (k.identical(streaming) < 0) {
      // Reads that avoid an altered segment may succeed; they returned the right bytes (above).
      throw new InvalidCiphertextException("altered payload: untouched segments read correctly");
    }
    decrypted.incrementAndGet();
  }

  String summary(String target) {
    return String.format(
        "fuzz %s: %d inputs, %d rejected with InvalidCiphertextException, %d accepted and checked",
        target, inputs.get(), rejected.get(), decrypted.get());
  }

  @Override
  public void close() {
    worker.shutdownNow();
    fixture.close();
  }
}
