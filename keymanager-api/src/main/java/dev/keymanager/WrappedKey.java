package dev.keymanager;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import dev.keymanager.internal.ApiBridge;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.util.Arrays;

/**
 * A DEK wrapped under one KEK version: self-describing, versioned bytes that callers store beside
 * their data.
 *
 * <p>Encoding, format version 1 (all integers big-endian):
 *
 * <pre>
 * offset  size  field
 * 0       2     magic "KW" (0x4B 0x57)
 * 2       1     format version (1)
 * 3       1     algorithm id ({@link WrapAlgorithm#id()})
 * 4       1     KEK id length L (1..255)
 * 5       L     KEK id, UTF-8
 * 5+L     4     KEK version (&gt;= 1)
 * 9+L     P     algorithm parameters ({@link WrapAlgorithm#parametersLength()} bytes)
 * 9+L+P   rest  ciphertext and tag
 * </pre>
 *
 * <p>Everything before the ciphertext is the <em>header</em>. The header and the canonical {@link
 * KeyContext} encoding are authenticated together, so a wrapped key whose header was edited (to
 * point at another KEK) or that is presented with another context fails to unwrap.
 *
 * <p>Immutable and thread-safe; bytes are copied in and out. {@link #toString()} shows the header
 * fields only.
 */
public final class WrappedKey {
  /** The format version this library writes. */
  public static final int FORMAT_VERSION = 1;

  private static final byte MAGIC_0 = 0x4B;
  private static final byte MAGIC_1 = 0x57;
  private static final int FIXED_HEADER = 5 + 4; // magic, version, algorithm, id length; version

  static {
    ApiBridge.registerWrappedKeys(
        new ApiBridge.WrappedKeys() {
          @Override
          public byte[] encoding(WrappedKey key) {
            return key.encoded;
          }

          @Override
          public WrappedKey adopt(byte[] encoded) {
            return parse(encoded);
          }

          @Override
          public WrappedKey adopt(byte[] encoded, WrapAlgorithm algorithm, KekRef kek) {
            return new WrappedKey(encoded, algorithm, kek, FIXED_HEADER + (encoded[4] & 0xFF));
          }

          @Override
          public int parametersOffset(WrappedKey key) {
            return key.parametersOffset;
          }

          @Override
          public int ciphertextOffset(WrappedKey key) {
            return key.ciphertextOffset;
          }

          @Override
          public byte[] header(WrapAlgorithm algorithm, KekRef kek) {
            return WrappedKey.newEncoding(algorithm, kek, 0, 0);
          }

          @Override
          public byte[] newEncoding(WrapAlgorithm algorithm, KekRef kek, int ciphertextLength) {
            return WrappedKey.newEncoding(
                algorithm, kek, algorithm.parametersLength(), ciphertextLength);
          }
        });
  }

  private final byte[] encoded;
  private final WrapAlgorithm algorithm;
  private final KekRef kek;
  private final int parametersOffset;
  private final int ciphertextOffset;

  private WrappedKey(byte[] encoded, WrapAlgorithm algorithm, KekRef kek, int parametersOffset) {
    this.encoded = encoded;
    this.algorithm = algorithm;
    this.kek = kek;
    this.parametersOffset = parametersOffset;
    this.ciphertextOffset = parametersOffset + algorithm.parametersLength();
  }

  /**
   * Parses an encoded wrapped key. The structure is checked here; authenticity is checked only when
   * a key manager unwraps it.
   *
   * @throws InvalidCiphertextException if the bytes are truncated, have a bad magic, an unknown
   *     format version or algorithm, a malformed KEK id or version, or no ciphertext
   */
  public static WrappedKey decode(byte[] encoded) {
    requireNonNull(encoded, "encoded");
    return parse(encoded.clone());
  }

  private static WrappedKey parse(byte[] b) {
    if (b.length < FIXED_HEADER) {
      throw invalid("too short to be a wrapped key: " + b.length + " bytes");
    }
    if (b[0] != MAGIC_0 || b[1] != MAGIC_1) {
      throw invalid("not a keymanager wrapped key (bad magic)");
    }
    int version = b[2] & 0xFF;
    if (version != FORMAT_VERSION) {
      throw invalid("unknown wrapped key format version " + version);
    }
    int algorithmId = b[3] & 0xFF;
    WrapAlgorithm algorithm =
        WrapAlgorithm.byId(algorithmId)
            .orElseThrow(() -> invalid("unknown wrap algorithm id " + algorithmId));
    int idLength = b[4] & 0xFF;
    if (idLength == 0) {
      throw invalid("empty KEK id");
    }
    int versionOffset = 5 + idLength;
    int parametersOffset = versionOffset + 4;
    int minimum = parametersOffset + algorithm.parametersLength() + algorithm.tagLength();
    if (b.length <= minimum) {
      throw invalid("truncated wrapped key: " + b.length + " bytes, need more than " + minimum);
    }
    KekRef kek = interned(b, 5, parametersOffset);
    if (kek == null) {
      kek = kekRef(b, idLength, versionOffset);
      intern(b, 5, parametersOffset, kek);
    }
    return new WrappedKey(b, algorithm, kek, parametersOffset);
  }

  private static KekRef kekRef(byte[] b, int idLength, int versionOffset) {
    String id;
    try {
      id =
          UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(b, 5, idLength))
              .toString();
    } catch (CharacterCodingException e) {
      throw invalid("KEK id is not valid UTF-8");
    }
    int kekVersion =
        ((b[versionOffset] & 0xFF) << 24)
            | ((b[versionOffset + 1] & 0xFF) << 16)
            | ((b[versionOffset + 2] & 0xFF) << 8)
            | (b[versionOffset + 3] & 0xFF);
    try {
      return new KekRef(id, kekVersion);
    } catch (IllegalArgumentException e) {
      throw invalid("bad KEK reference in header: " + e.getMessage());
    }
  }

  /**
   * KEK references recently decoded, by the bytes of their id and version in a header, so that a
   * hot KEK's header is decoded (UTF-8 check, id validation, a new {@code String}) once, not on
   * every {@link #decode}: a decode that hits reads one slot and compares the bytes, and writes
   * nothing shared. Direct-mapped, {@value #INTERN_SLOTS} slots, a miss overwrites its slot; the
   * entries are immutable, so a racy read sees a whole entry or an older one. Only well-formed
   * references are entered, so a hit is exactly what the slow path would have decoded.
   */
  private static final int INTERN_SLOTS = 256; // a power of two

  private static final Interned[] INTERNED = new Interned[INTERN_SLOTS];

  private record Interned(byte[] header, KekRef kek) {}

  private static int internSlot(byte[] b, int from, int to) {
    int h = 1;
    for (int i = from; i < to; i++) {
      h = 31 * h + b[i];
    }
    return (h ^ (h >>> 16)) & (INTERN_SLOTS - 1);
  }

  private static KekRef interned(byte[] b, int from, int to) {
    Interned e = INTERNED[internSlot(b, from, to)];
    if (e != null && Arrays.equals(e.header, 0, e.header.length, b, from, to)) {
      return e.kek;
    }
    return null;
  }

  private static void intern(byte[] b, int from, int to, KekRef kek) {
    INTERNED[internSlot(b, from, to)] = new Interned(Arrays.copyOfRange(b, from, to), kek);
  }

  private static byte[] newEncoding(
      WrapAlgorithm algorithm, KekRef kek, int parametersLength, int ciphertextLength) {
    byte[] id = kek.id().getBytes(UTF_8);
    int parametersOffset = FIXED_HEADER + id.length;
    byte[] b = new byte[parametersOffset + parametersLength + ciphertextLength];
    b[0] = MAGIC_0;
    b[1] = MAGIC_1;
    b[2] = FORMAT_VERSION;
    b[3] = (byte) algorithm.id();
    b[4] = (byte) id.length;
    System.arraycopy(id, 0, b, 5, id.length);
    int v = kek.version();
    int o = 5 + id.length;
    b[o] = (byte) (v >>> 24);
    b[o + 1] = (byte) (v >>> 16);
    b[o + 2] = (byte) (v >>> 8);
    b[o + 3] = (byte) v;
    return b;
  }

  private static InvalidCiphertextException invalid(String what) {
    return new InvalidCiphertextException("Invalid wrapped key: " + what);
  }

  /** A copy of the encoding described in the class comment. */
  public byte[] encode() {
    return encoded.clone();
  }

  /** The format version of the encoding. */
  public int formatVersion() {
    return encoded[2] & 0xFF;
  }

  /** How the DEK was wrapped. */
  public WrapAlgorithm algorithm() {
    return algorithm;
  }

  /** The KEK id and version that wrap the DEK. */
  public KekRef kek() {
    return kek;
  }

  /** Where the algorithm parameters start in {@link #encode()}. */
  int parametersOffset() {
    return parametersOffset;
  }

  /** Where the ciphertext starts in {@link #encode()}; everything before it is the header. */
  int ciphertextOffset() {
    return ciphertextOffset;
  }

  /** The length of the encoding. */
  public int length() {
    return encoded.length;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof WrappedKey w && Arrays.equals(encoded, w.encoded);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(encoded);
  }

  @Override
  public String toString() {
    return "WrappedKey[" + kek + ", " + algorithm + ", " + encoded.length + " bytes]";
  }
}
