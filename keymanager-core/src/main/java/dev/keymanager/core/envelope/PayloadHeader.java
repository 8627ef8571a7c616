package dev.keymanager.core.envelope;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.internal.ApiBridge;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.util.Arrays;

/**
 * The envelope header that starts every payload: parsing (from an array, a stream or a channel) and
 * encoding. The layout is in {@code package-info.java}; everything here is checked before any key
 * is touched, and every malformed input raises {@link InvalidCiphertextException}.
 */
final class PayloadHeader {
  static final byte MAGIC_0 = 'K';
  static final byte MAGIC_1 = 'E';
  static final int FORMAT_VERSION = 1;

  /** Magic, format version, kind and the wrapped DEK's length. */
  static final int FIXED_LENGTH = 6;

  /** Generous bound on a wrapped DEK: a 255-byte KEK id and a 64-byte DEK need under 400. */
  static final int MAX_WRAPPED_LENGTH = 1024;

  /** The longest header of either kind. */
  static final int MAX_LENGTH = FIXED_LENGTH + MAX_WRAPPED_LENGTH + Kind.ONE_SHOT.trailerLength;

  static final int NONCE_LENGTH = 12;
  static final int MIN_SEGMENT_LOG2 = 12; // 4 KiB
  static final int MAX_SEGMENT_LOG2 = 22; // 4 MiB

  /** The two payload formats, told apart by the byte after the format version. */
  enum Kind {
    /** AES-256-GCM of the whole payload; the trailer is the 12-byte nonce. */
    ONE_SHOT(1, NONCE_LENGTH),
    /** Tink's AES-GCM-HKDF segments; the trailer is log2 of the ciphertext segment size. */
    STREAMING(2, 1);

    final int id;
    final int trailerLength;

    Kind(int id, int trailerLength) {
      this.id = id;
      this.trailerLength = trailerLength;
    }

    static Kind byId(int id) {
      for (Kind k : values()) {
        if (k.id == id) {
          return k;
        }
      }
      throw invalid("unknown payload kind " + id);
    }
  }

  private final Kind kind;
  private final WrappedKey wrappedKey;
  private final byte[] encoded; // exactly the header, never handed out

  private PayloadHeader(Kind kind, WrappedKey wrappedKey, byte[] encoded) {
    this.kind = kind;
    this.wrappedKey = wrappedKey;
    this.encoded = encoded;
  }

  Kind kind() {
    return kind;
  }

  WrappedKey wrappedKey() {
    return wrappedKey;
  }

  /** The header's length: where the body starts. */
  int length() {
    return encoded.length;
  }

  /** The ciphertext segment size of a streaming payload. */
  int segmentSize() {
    return 1 << encoded[encoded.length - 1];
  }

  /** The one-shot nonce's offset in the header. */
  int nonceOffset() {
    return encoded.length - NONCE_LENGTH;
  }

  /** The header bytes (read only). */
  byte[] bytes() {
    return encoded;
  }

  /**
   * The associated data that binds the body: the whole header followed by the canonical context
   * encoding. A fresh array.
   */
  byte[] associatedData(KeyContext context) {
    byte[] c = ApiBridge.contextEncoding(context);
    byte[] aad = Arrays.copyOf(encoded, encoded.length + c.length);
    System.arraycopy(c, 0, aad, encoded.length, c.length);
    return aad;
  }

  /** A one-shot header for {@code wrapped} with a fresh random nonce. */
  static PayloadHeader oneShot(WrappedKey wrapped) {
    PayloadHeader h = encode(Kind.ONE_SHOT, wrapped);
    byte[] nonce = Randoms.bytes(NONCE_LENGTH);
    System.arraycopy(nonce, 0, h.encoded, h.nonceOffset(), NONCE_LENGTH);
    return h;
  }

  /** A streaming header for {@code wrapped} and a segment size of {@code 2^segmentLog2}. */
  static PayloadHeader streaming(WrappedKey wrapped, int segmentLog2) {
    if (segmentLog2 < MIN_SEGMENT_LOG2 || segmentLog2 > MAX_SEGMENT_LOG2) {
      throw new IllegalArgumentException("segment size exponent out of range: " + segmentLog2);
    }
    PayloadHeader h = encode(Kind.STREAMING, wrapped);
    h.encoded[h.encoded.length - 1] = (byte) segmentLog2;
    return h;
  }

  private static PayloadHeader encode(Kind kind, WrappedKey wrapped) {
    byte[] w = ApiBridge.wrappedKeys().encoding(wrapped);
    if (w.length > MAX_WRAPPED_LENGTH) {
      throw new IllegalArgumentException("wrapped DEK too long: " + w.length);
    }
    byte[] b = new byte[FIXED_LENGTH + w.length + kind.trailerLength];
    b[0] = MAGIC_0;
    b[1] = MAGIC_1;
    b[2] = FORMAT_VERSION;
    b[3] = (byte) kind.id;
    b[4] = (byte) (w.length >>> 8);
    b[5] = (byte) w.length;
    System.arraycopy(w, 0, b, FIXED_LENGTH, w.length);
    return new PayloadHeader(kind, wrapped, b);
  }

  /**
   * The total header length announced by its first {@link #FIXED_LENGTH} bytes, after checking
   * them.
   */
  private static int announcedLength(byte[] b, int offset, int available) {
    if (available < FIXED_LENGTH) {
      throw invalid("truncated header: " + available + " bytes, need at least " + FIXED_LENGTH);
    }
    if (b[offset] != MAGIC_0 || b[offset + 1] != MAGIC_1) {
      throw invalid("not a keymanager payload (bad magic)");
    }
    int version = b[offset + 2] & 0xFF;
    if (version != FORMAT_VERSION) {
      throw invalid("unknown payload format version " + version);
    }
    Kind kind = Kind.byId(b[offset + 3] & 0xFF);
    int w = ((b[offset + 4] & 0xFF) << 8) | (b[offset + 5] & 0xFF);
    if (w == 0 || w > MAX_WRAPPED_LENGTH) {
      throw invalid("wrapped DEK length " + w + " out of range [1, " + MAX_WRAPPED_LENGTH + "]");
    }
    return FIXED_LENGTH + w + kind.trailerLength;
  }

  /**
   * The length of the one-shot header at the start of {@code b[0, available)} if its fixed fields
   * are well formed and a tag's worth of body follows it, else -1 (then {@link #parse} says what is
   * wrong). Checks no more than that: the wrapped DEK it frames is not parsed.
   */
  static int oneShotLength(byte[] b, int available) {
    if (available < FIXED_LENGTH
        || b[0] != MAGIC_0
        || b[1] != MAGIC_1
        || b[2] != FORMAT_VERSION
        || b[3] != Kind.ONE_SHOT.id) {
      return -1;
    }
    int w = ((b[4] & 0xFF) << 8) | (b[5] & 0xFF);
    int length = FIXED_LENGTH + w + NONCE_LENGTH;
    return w == 0 || w > MAX_WRAPPED_LENGTH || available - length < OneShot.TAG_LENGTH
        ? -1
        : length;
  }

  /**
   * Parses the header at the start of {@code b[offset, offset + available)}.
   *
   * @throws InvalidCiphertextException if it is malformed or truncated
   */
  static PayloadHeader parse(byte[] b, int offset, int available) {
    int length = announcedLength(b, offset, available);
    if (available < length) {
      throw invalid("truncated header: " + available + " bytes, need " + length);
    }
    byte[] encoded = Arrays.copyOfRange(b, offset, offset + length);
    Kind kind = Kind.byId(encoded[3] & 0xFF);
    WrappedKey wrapped;
    try {
      wrapped =
          ApiBridge.wrappedKeys()
              .adopt(Arrays.copyOfRange(encoded, FIXED_LENGTH, length - kind.trailerLength));
    } catch (InvalidCiphertextException e) {
      throw new InvalidCiphertextException("Invalid payload header: " + e.getMessage(), e);
    }
    if (kind == Kind.STREAMING) {
      int log2 = encoded[length - 1] & 0xFF;
      if (log2 < MIN_SEGMENT_LOG2 || log2 > MAX_SEGMENT_LOG2) {
        throw invalid(
            "segment size 2^"
                + log2
                + " out of range [2^"
                + MIN_SEGMENT_LOG2
                + ", 2^"
                + MAX_SEGMENT_LOG2
                + "]");
      }
    }
    return new PayloadHeader(kind, wrapped, encoded);
  }

  /** Reads and parses the header from the current position of {@code in}. */
  static PayloadHeader read(InputStream in) throws IOException {
    byte[] b = new byte[MAX_LENGTH];
    int got = in.readNBytes(b, 0, FIXED_LENGTH);
    int length = announcedLength(b, 0, got);
    got += in.readNBytes(b, FIXED_LENGTH, length - FIXED_LENGTH);
    return parse(b, 0, got);
  }

  /** Reads and parses the header at position 0 of {@code channel}; leaves the position after it. */
  static PayloadHeader read(SeekableByteChannel channel) throws IOException {
    channel.position(0);
    ByteBuffer b = ByteBuffer.allocate(MAX_LENGTH);
    b.limit(FIXED_LENGTH);
    readFully(channel, b);
    int length = announcedLength(b.array(), 0, b.position());
    b.limit(length);
    readFully(channel, b);
    return parse(b.array(), 0, b.position());
  }

  private static void readFully(SeekableByteChannel channel, ByteBuffer b) throws IOException {
    int idle = 0;
    while (b.hasRemaining()) {
      int n = channel.read(b);
      if (n < 0) {
        return;
      }
      if (n == 0 && ++idle > 1000) {
        throw new IOException("ciphertext channel returned no bytes 1000 times in a row");
      }
    }
  }

  static InvalidCiphertextException invalid(String what) {
    return new InvalidCiphertextException("Invalid payload: " + what);
  }
}
