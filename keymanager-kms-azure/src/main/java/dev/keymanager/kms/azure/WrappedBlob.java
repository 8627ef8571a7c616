package dev.keymanager.kms.azure;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.zip.CRC32C;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * The wrapped form this module hands to the key manager (format 1): Key Vault wraps a random
 * 256-bit intermediate key, and AES-256-GCM under that key seals the caller's plaintext with the
 * header and the canonical {@link KeyContext} encoding as associated data.
 *
 * <pre>
 * offset  size  field
 * 0       2     magic "AZ" (0x41 0x5A)
 * 2       1     format version, 1
 * 3       1     Key Vault algorithm: 1 = RSA-OAEP-256, 2 = A256KW
 * 4       1     n, length of the key name (1..127)
 * 5       n     key name, ASCII [0-9A-Za-z-]
 * 5+n     1     v, length of the key version (1..64)
 * 6+n     v     key version used for the wrap, ASCII [0-9A-Za-z]
 * 6+n+v   2     m, length of Key Vault's wrapKey output, unsigned big-endian (1..1024)
 * 8+n+v   m     Key Vault's wrapKey output (the wrapped intermediate key)
 * 8+n+v+m 4     CRC32C of bytes [0, 8+n+v+m), big-endian
 * 12+n+v+m 12   AES-GCM nonce
 * 24+n+v+m rest AES-256-GCM ciphertext of the plaintext, then the 16-byte tag
 * </pre>
 *
 * The GCM associated data is every byte before the nonce (so algorithm, key name, version and the
 * Key Vault output are authenticated) followed by {@link KeyContext#encode()}.
 *
 * <p>The CRC is not a security measure (anyone can recompute it; the GCM tag is what
 * authenticates). It lets a corrupted header fail here as {@link InvalidCiphertextException} before
 * any Key Vault call, instead of sending a garbled key version that Key Vault would answer with
 * 404, which means "denied" in this module's error mapping. Key names and versions are restricted
 * to URL-safe characters because they become part of the request path.
 */
final class WrappedBlob {
  static final int FORMAT_VERSION = 1;
  static final int NONCE_LENGTH = 12;
  static final int TAG_LENGTH = 16;
  static final int INTERMEDIATE_KEY_LENGTH = 32;
  static final int MAX_KEY_NAME = 127;
  static final int MAX_VERSION = 64;
  static final int MAX_WRAPPED = 1024;
  private static final byte M0 = 'A';
  private static final byte M1 = 'Z';

  private final Algorithm algorithm;
  private final String keyName;
  private final String keyVersion;
  private final byte[] wrappedKey;
  private final byte[] header; // bytes [0, nonce)
  private final byte[] nonce;
  private final byte[] sealed;

  /** The Key Vault key-wrap algorithms this format records. */
  enum Algorithm {
    RSA_OAEP_256(1, "RSA-OAEP-256"),
    A256KW(2, "A256KW");

    final int id;
    final String jwaName;

    Algorithm(int id, String jwaName) {
      this.id = id;
      this.jwaName = jwaName;
    }

    static Algorithm of(int id) {
      for (Algorithm a : values()) {
        if (a.id == id) {
          return a;
        }
      }
      throw new InvalidCiphertextException(
          "Azure Key Vault wrapped key names unknown algorithm id " + id);
    }
  }

  private WrappedBlob(
      Algorithm algorithm,
      String keyName,
      String keyVersion,
      byte[] wrappedKey,
      byte[] header,
      byte[] nonce,
      byte[] sealed) {
    this.algorithm = algorithm;
    this.keyName = keyName;
    this.keyVersion = keyVersion;
    this.wrappedKey = wrappedKey;
    this.header = header;
    this.nonce = nonce;
    this.sealed = sealed;
  }

  Algorithm algorithm() {
    return algorithm;
  }

  String keyName() {
    return keyName;
  }

  String keyVersion() {
    return keyVersion;
  }

  /** Key Vault's wrapKey output; a copy. */
  byte[] wrappedKey() {
    return wrappedKey.clone();
  }

  static boolean isValidKeyName(String s) {
    return s.length() >= 1
        && s.length() <= MAX_KEY_NAME
        && s.chars().allMatch(c -> isAlnum(c) || c == '-');
  }

  static boolean isValidVersion(String s) {
    return s.length() >= 1 && s.length() <= MAX_VERSION && s.chars().allMatch(WrappedBlob::isAlnum);
  }

  private static boolean isAlnum(int c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  /**
   * Seals {@code plaintext} under {@code intermediateKey} and returns the encoded blob. The caller
   * keeps ownership of both arrays.
   */
  static byte[] seal(
      Algorithm algorithm,
      String keyName,
      String keyVersion,
      byte[] wrappedKey,
      byte[] intermediateKey,
      byte[] nonce,
      byte[] plaintext,
      KeyContext context) {
    if (!isValidKeyName(keyName) || !isValidVersion(keyVersion)) {
      throw new IllegalArgumentException("key name or version not encodable");
    }
    if (wrappedKey.length < 1 || wrappedKey.length > MAX_WRAPPED) {
      throw new IllegalArgumentException("wrapped key length " + wrappedKey.length);
    }
    if (nonce.length != NONCE_LENGTH || intermediateKey.length != INTERMEDIATE_KEY_LENGTH) {
      throw new IllegalArgumentException("nonce or intermediate key length");
    }
    byte[] name = keyName.getBytes(US_ASCII);
    byte[] version = keyVersion.getBytes(US_ASCII);
    int prefix = 8 + name.length + version.length + wrappedKey.length;
    ByteBuffer h = ByteBuffer.allocate(prefix + 4);
    h.put(M0).put(M1).put((byte) FORMAT_VERSION).put((byte) algorithm.id);
    h.put((byte) name.length).put(name);
    h.put((byte) version.length).put(version);
    h.putShort((short) wrappedKey.length).put(wrappedKey);
    h.putInt(crc(h.array(), prefix));
    byte[] header = h.array();
    byte[] sealed = gcm(Cipher.ENCRYPT_MODE, intermediateKey, nonce, header, context, plaintext);
    ByteBuffer out = ByteBuffer.allocate(header.length + NONCE_LENGTH + sealed.length);
    return out.put(header).put(nonce).put(sealed).array();
  }

  /**
   * Parses an encoded blob without any Key Vault call.
   *
   * @throws InvalidCiphertextException if it is truncated, has trailing garbage in a length field,
   *     an unknown magic, version or algorithm, a bad name or version, or a CRC mismatch
   */
  static WrappedBlob parse(byte[] blob) {
    try {
      ByteBuffer in = ByteBuffer.wrap(blob);
      if (in.remaining() < 4 || in.get() != M0 || in.get() != M1) {
        throw invalid("not an Azure Key Vault wrapped key (bad magic)");
      }
      int format = Byte.toUnsignedInt(in.get());
      if (format != FORMAT_VERSION) {
        throw invalid("unknown format version " + format);
      }
      Algorithm algorithm = Algorithm.of(Byte.toUnsignedInt(in.get()));
      String name = ascii(in, Byte.toUnsignedInt(in.get()));
      String version = ascii(in, Byte.toUnsignedInt(in.get()));
      int m = Short.toUnsignedInt(in.getShort());
      if (m < 1 || m > MAX_WRAPPED) {
        throw invalid("wrapped intermediate key length " + m + " out of range");
      }
      byte[] wrapped = new byte[m];
      in.get(wrapped);
      int prefix = in.position();
      int storedCrc = in.getInt();
      if (storedCrc != crc(blob, prefix)) {
        throw invalid("header checksum mismatch (corrupted)");
      }
      if (!isValidKeyName(name) || !isValidVersion(version)) {
        throw invalid("malformed key name or version");
      }
      byte[] header = Arrays.copyOf(blob, prefix + 4);
      byte[] nonce = new byte[NONCE_LENGTH];
      in.get(nonce);
      if (in.remaining() < TAG_LENGTH) {
        throw invalid("truncated: no room for the authentication tag");
      }
      byte[] sealed = new byte[in.remaining()];
      in.get(sealed);
      return new WrappedBlob(algorithm, name, version, wrapped, header, nonce, sealed);
    } catch (java.nio.BufferUnderflowException e) {
      throw new InvalidCiphertextException(
          "Azure Key Vault wrapped key is truncated (" + blob.length + " bytes)", e);
    }
  }

  /**
   * Opens the sealed plaintext with the intermediate key Key Vault unwrapped.
   *
   * @throws InvalidCiphertextException if authentication fails: another context, or tampering
   */
  byte[] open(byte[] intermediateKey, KeyContext context) {
    if (intermediateKey.length != INTERMEDIATE_KEY_LENGTH) {
      throw invalid("Key Vault unwrapped " + intermediateKey.length + " bytes, expected 32");
    }
    return gcm(Cipher.DECRYPT_MODE, intermediateKey, nonce, header, context, sealed);
  }

  private static byte[] gcm(
      int mode, byte[] key, byte[] nonce, byte[] header, KeyContext context, byte[] input) {
    try {
      Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
      c.init(mode, new LentAesKey(key), new GCMParameterSpec(TAG_LENGTH * 8, nonce));
      c.updateAAD(header);
      c.updateAAD(context.encode());
      return c.doFinal(input);
    } catch (AEADBadTagException e) {
      throw new InvalidCiphertextException(
          "Azure Key Vault wrapped key did not authenticate: another key context, or tampered", e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM unavailable in this JDK", e);
    }
  }

  private static String ascii(ByteBuffer in, int length) {
    byte[] b = new byte[length];
    in.get(b);
    return new String(b, US_ASCII);
  }

  private static int crc(byte[] bytes, int length) {
    CRC32C crc = new CRC32C();
    crc.update(bytes, 0, length);
    return (int) crc.getValue();
  }

  private static InvalidCiphertextException invalid(String what) {
    return new InvalidCiphertextException("Azure Key Vault wrapped key: " + what);
  }

  @Override
  public String toString() {
    return "WrappedBlob[" + algorithm.jwaName + ", key " + keyName + "/" + keyVersion + "]";
  }
}
