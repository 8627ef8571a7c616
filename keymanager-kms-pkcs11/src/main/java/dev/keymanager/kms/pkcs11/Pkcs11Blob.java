package dev.keymanager.kms.pkcs11;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.InvalidCiphertextException;
import java.net.URI;
import java.util.Arrays;

/**
 * The wrapped form of a KEK under a PKCS#11 key, version 1:
 *
 * <pre>
 *   offset  size  field
 *   0       1     format version, 0x01
 *   1       1     algorithm, 0x01 = AES-GCM with a 96-bit IV and a 128-bit tag (CKM_AES_GCM)
 *   2       2     L, the length of the key object's label, unsigned big-endian, 1..255
 *   4       L     the key object's label (CKA_LABEL), UTF-8
 *   4+L     12    IV, fresh from a SecureRandom for every wrap
 *   16+L    n+16  AES-GCM ciphertext of the n-byte KEK, then the tag
 * </pre>
 *
 * The associated data of the GCM operation is the header (bytes {@code 0 .. 4+L}) followed by the
 * canonical encoding of the {@link dev.keymanager.KeyContext}, so the label, the version and the
 * context are all authenticated by the token. The token label is deliberately not in the header: an
 * HSM cluster or a restored backup may present the same key under another token label.
 *
 * <p>Random 96-bit IVs keep the GCM collision probability below 2^-32 for 2^32 wraps under one key
 * object (NIST SP 800-38D, section 8.3); a key manager wraps once per KEK version it creates, so
 * this bound is far out of reach.
 */
final class Pkcs11Blob {
  static final byte VERSION = 1;
  static final byte AES_GCM = 1;
  static final int IV_LENGTH = 12;
  static final int TAG_LENGTH = 16;

  private final byte[] header; // version, algorithm, label length, label
  private final byte[] iv;
  private final byte[] ciphertext; // with the tag
  private final String label;

  private Pkcs11Blob(byte[] header, String label, byte[] iv, byte[] ciphertext) {
    this.header = header;
    this.label = label;
    this.iv = iv;
    this.ciphertext = ciphertext;
  }

  /** A blob about to be made under {@code label} with {@code iv}; ciphertext comes later. */
  static byte[] header(String label) {
    byte[] l = label.getBytes(UTF_8);
    byte[] header = new byte[4 + l.length];
    header[0] = VERSION;
    header[1] = AES_GCM;
    header[2] = (byte) (l.length >>> 8);
    header[3] = (byte) l.length;
    System.arraycopy(l, 0, header, 4, l.length);
    return header;
  }

  /** The associated data for a blob with {@code header}, under {@code encodedContext}. */
  static byte[] aad(byte[] header, byte[] encodedContext) {
    byte[] aad = Arrays.copyOf(header, header.length + encodedContext.length);
    System.arraycopy(encodedContext, 0, aad, header.length, encodedContext.length);
    return aad;
  }

  static byte[] encode(byte[] header, byte[] iv, byte[] ciphertext) {
    byte[] out = new byte[header.length + iv.length + ciphertext.length];
    System.arraycopy(header, 0, out, 0, header.length);
    System.arraycopy(iv, 0, out, header.length, iv.length);
    System.arraycopy(ciphertext, 0, out, header.length + iv.length, ciphertext.length);
    return out;
  }

  /**
   * Parses {@code bytes}, wrapped under the CMK {@code cmk} (named in errors).
   *
   * @throws InvalidCiphertextException if truncated or of an unknown version or algorithm
   */
  static Pkcs11Blob parse(byte[] bytes, URI cmk) {
    if (bytes.length < 4) {
      throw invalid(cmk, "truncated: " + bytes.length + " bytes");
    }
    if (bytes[0] != VERSION) {
      throw invalid(cmk, "unknown format version " + (bytes[0] & 0xff));
    }
    if (bytes[1] != AES_GCM) {
      throw invalid(cmk, "unknown algorithm " + (bytes[1] & 0xff));
    }
    int labelLength = (bytes[2] & 0xff) << 8 | (bytes[3] & 0xff);
    if (labelLength < 1 || labelLength > Pkcs11Uri.MAX_OBJECT_LABEL) {
      throw invalid(cmk, "label length " + labelLength + " out of range");
    }
    int headerLength = 4 + labelLength;
    if (bytes.length < headerLength + IV_LENGTH + TAG_LENGTH + 1) {
      throw invalid(cmk, "truncated: " + bytes.length + " bytes");
    }
    byte[] header = Arrays.copyOf(bytes, headerLength);
    String label = new String(header, 4, labelLength, UTF_8);
    byte[] iv = Arrays.copyOfRange(bytes, headerLength, headerLength + IV_LENGTH);
    byte[] ciphertext = Arrays.copyOfRange(bytes, headerLength + IV_LENGTH, bytes.length);
    return new Pkcs11Blob(header, label, iv, ciphertext);
  }

  String label() {
    return label;
  }

  byte[] header() {
    return header;
  }

  byte[] iv() {
    return iv;
  }

  byte[] ciphertext() {
    return ciphertext;
  }

  static InvalidCiphertextException invalid(URI cmk, String why) {
    return new InvalidCiphertextException(
        "Wrapped KEK for pkcs11 CMK " + cmk + " is not valid: " + why);
  }
}
