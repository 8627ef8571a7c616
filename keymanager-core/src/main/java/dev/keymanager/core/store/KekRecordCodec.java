package dev.keymanager.core.store;

import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.Instant;
import java.util.zip.CRC32C;

/**
 * Encodes one {@link KeyEncryptionKey} as the bytes of a record file, and decodes and checks them.
 *
 * <p>Format version 1, big-endian:
 *
 * <pre>
 * magic        4 bytes  "KEKR"
 * format       u16      1
 * id           u16 length + UTF-8
 * version      i32
 * state        u8       1 ENABLED, 2 DISABLED, 3 PENDING_DESTRUCTION, 4 DESTROYED, 5 RETIRED
 * revision     i64
 * cmkUri       i32 length + UTF-8 of URI.toString()
 * createdAt    i64 epoch seconds + i32 nanos
 * updatedAt    i64 epoch seconds + i32 nanos
 * destroyAt    u8 0 (absent) or 1 followed by i64 epoch seconds + i32 nanos
 * material     i32 length + bytes
 * crc32c       u32 over every byte before it
 * </pre>
 *
 * <p>A KEK's head ({@link KekHead}) has its own magic and format version 1:
 *
 * <pre>
 * magic        4 bytes  "KEKH"
 * format       u16      1
 * id           u16 length + UTF-8
 * state        u8       as above (never 5 RETIRED)
 * primary      i32      primary version
 * minimum      i32      minimum decryption version
 * revision     i64
 * cmkUri       i32 length + UTF-8 of URI.toString()
 * updatedAt    i64 epoch seconds + i32 nanos
 * destroyAt    u8 0 (absent) or 1 followed by i64 epoch seconds + i32 nanos
 * crc32c       u32 over every byte before it
 * </pre>
 *
 * <p>State codes are spelled out rather than taken from {@code ordinal()} so that reordering the
 * enum can never change the meaning of stored bytes. Decoding failures name the source and what was
 * wrong, never the material.
 */
final class KekRecordCodec {
  static final int FORMAT_VERSION = 1;
  static final int HEAD_FORMAT_VERSION = 1;
  private static final byte[] MAGIC = {'K', 'E', 'K', 'R'};
  private static final byte[] HEAD_MAGIC = {'K', 'E', 'K', 'H'};
  private static final int HEADER_BYTES = MAGIC.length + 2;
  private static final int CRC_BYTES = 4;

  private KekRecordCodec() {}

  /** The bytes of a record file holding {@code record}. */
  static byte[] encode(KeyEncryptionKey record) {
    byte[] id = record.id().getBytes(StandardCharsets.UTF_8);
    byte[] uri = record.cmkUri().toString().getBytes(StandardCharsets.UTF_8);
    byte[] material = record.wrappedMaterial();
    boolean hasDestroyAt = record.destroyAt().isPresent();
    int size =
        HEADER_BYTES
            + 2
            + id.length
            + 4 // version
            + 1 // state
            + 8 // revision
            + 4
            + uri.length
            + 12 // createdAt
            + 12 // updatedAt
            + 1
            + (hasDestroyAt ? 12 : 0)
            + 4
            + material.length
            + CRC_BYTES;
    ByteBuffer out = ByteBuffer.allocate(size);
    out.put(MAGIC).putShort((short) FORMAT_VERSION);
    out.putShort((short) id.length).put(id); // KekRef bounds ids to 255 bytes
    out.putInt(record.version());
    out.put(stateCode(record.state()));
    out.putLong(record.revision());
    out.putInt(uri.length).put(uri);
    putInstant(out, record.createdAt());
    putInstant(out, record.updatedAt());
    if (hasDestroyAt) {
      out.put((byte) 1);
      putInstant(out, record.destroyAt().get());
    } else {
      out.put((byte) 0);
    }
    out.putInt(material.length).put(material);
    out.putInt((int) crc(out.array(), size - CRC_BYTES));
    return out.array();
  }

  /**
   * The record that {@code bytes} encode.
   *
   * @param source names where the bytes came from (a file path), for error messages
   * @throws KekStoreException (not retryable) if the bytes are truncated, fail their checksum, have
   *     an unknown magic or format version, or hold fields that do not form a valid record
   */
  static KeyEncryptionKey decode(byte[] bytes, String source) {
    ByteBuffer in = checkFrame(bytes, source, MAGIC, FORMAT_VERSION, "a KEK record");
    try {
      KeyEncryptionKey.Builder b = KeyEncryptionKey.builder();
      b.id(utf8(in, Short.toUnsignedInt(in.getShort())));
      b.version(in.getInt());
      b.state(state(in.get()));
      b.revision(in.getLong());
      b.cmkUri(new URI(utf8(in, in.getInt())));
      b.createdAt(getInstant(in));
      b.updatedAt(getInstant(in));
      byte destroyFlag = in.get();
      if (destroyFlag == 1) {
        b.destroyAt(getInstant(in));
      } else if (destroyFlag != 0) {
        throw new IllegalArgumentException("bad destroyAt flag " + destroyFlag);
      }
      int materialLength = in.getInt();
      if (materialLength < 0 || materialLength > in.remaining()) {
        throw new IllegalArgumentException("bad material length " + materialLength);
      }
      byte[] material = new byte[materialLength];
      in.get(material);
      b.wrappedMaterial(material);
      if (in.hasRemaining()) {
        throw new IllegalArgumentException(in.remaining() + " unexpected trailing bytes");
      }
      return b.build();
    } catch (BufferUnderflowException e) {
      throw corrupt(source, "truncated field", e);
    } catch (IllegalArgumentException
        | URISyntaxException
        | CharacterCodingException
        | DateTimeException e) {
      // Messages of these name fields and ids only: the record type never prints its material.
      throw corrupt(source, "invalid field: " + e.getMessage(), e);
    }
  }

  /** The bytes of a head file holding {@code head}. */
  static byte[] encodeHead(KekHead head) {
    byte[] id = head.id().getBytes(StandardCharsets.UTF_8);
    byte[] uri = head.cmkUri().toString().getBytes(StandardCharsets.UTF_8);
    boolean hasDestroyAt = head.destroyAt().isPresent();
    int size =
        HEADER_BYTES
            + 2
            + id.length
            + 1 // state
            + 4 // primary
            + 4 // minimum
            + 8 // revision
            + 4
            + uri.length
            + 12 // updatedAt
            + 1
            + (hasDestroyAt ? 12 : 0)
            + CRC_BYTES;
    ByteBuffer out = ByteBuffer.allocate(size);
    out.put(HEAD_MAGIC).putShort((short) HEAD_FORMAT_VERSION);
    out.putShort((short) id.length).put(id);
    out.put(stateCode(head.state()));
    out.putInt(head.primaryVersion());
    out.putInt(head.minimumDecryptionVersion());
    out.putLong(head.revision());
    out.putInt(uri.length).put(uri);
    putInstant(out, head.updatedAt());
    if (hasDestroyAt) {
      out.put((byte) 1);
      putInstant(out, head.destroyAt().get());
    } else {
      out.put((byte) 0);
    }
    out.putInt((int) crc(out.array(), size - CRC_BYTES));
    return out.array();
  }

  /**
   * The head that {@code bytes} encode.
   *
   * @throws KekStoreException (not retryable) as {@link #decode} does
   */
  static KekHead decodeHead(byte[] bytes, String source) {
    ByteBuffer in = checkFrame(bytes, source, HEAD_MAGIC, HEAD_FORMAT_VERSION, "a KEK head");
    try {
      KekHead.Builder b = KekHead.builder();
      b.id(utf8(in, Short.toUnsignedInt(in.getShort())));
      b.state(state(in.get()));
      b.primaryVersion(in.getInt());
      b.minimumDecryptionVersion(in.getInt());
      b.revision(in.getLong());
      b.cmkUri(new URI(utf8(in, in.getInt())));
      b.updatedAt(getInstant(in));
      byte destroyFlag = in.get();
      if (destroyFlag == 1) {
        b.destroyAt(getInstant(in));
      } else if (destroyFlag != 0) {
        throw new IllegalArgumentException("bad destroyAt flag " + destroyFlag);
      }
      if (in.hasRemaining()) {
        throw new IllegalArgumentException(in.remaining() + " unexpected trailing bytes");
      }
      return b.build();
    } catch (BufferUnderflowException e) {
      throw corrupt(source, "truncated field", e);
    } catch (IllegalArgumentException
        | URISyntaxException
        | CharacterCodingException
        | DateTimeException e) {
      throw corrupt(source, "invalid field: " + e.getMessage(), e);
    }
  }

  /** Checks magic, format and checksum; returns a buffer over the fields after the header. */
  private static ByteBuffer checkFrame(
      byte[] bytes, String source, byte[] magic, int expectedFormat, String what) {
    if (bytes.length < HEADER_BYTES + CRC_BYTES) {
      throw corrupt(source, "truncated to " + bytes.length + " bytes", null);
    }
    for (int i = 0; i < magic.length; i++) {
      if (bytes[i] != magic[i]) {
        throw corrupt(source, "not " + what + " (bad magic)", null);
      }
    }
    ByteBuffer in = ByteBuffer.wrap(bytes, 0, bytes.length - CRC_BYTES);
    in.position(magic.length);
    int format = Short.toUnsignedInt(in.getShort());
    if (format != expectedFormat) {
      throw corrupt(
          source,
          "unsupported format version " + format + " (expected " + expectedFormat + ")",
          null);
    }
    long stored = Integer.toUnsignedLong(ByteBuffer.wrap(bytes).getInt(bytes.length - CRC_BYTES));
    long computed = crc(bytes, bytes.length - CRC_BYTES);
    if (stored != computed) {
      throw corrupt(
          source,
          String.format("checksum mismatch (stored %08x, computed %08x)", stored, computed),
          null);
    }
    return in;
  }

  private static KekStoreException corrupt(String source, String what, Throwable cause) {
    return KekStoreException.corrupt(
        "Corrupt KEK record file " + source + ": " + what + "; restore the file from a backup",
        cause);
  }

  private static long crc(byte[] bytes, int length) {
    CRC32C crc = new CRC32C();
    crc.update(bytes, 0, length);
    return crc.getValue();
  }

  private static String utf8(ByteBuffer in, int length) throws CharacterCodingException {
    if (length < 0 || length > in.remaining()) {
      throw new IllegalArgumentException("bad string length " + length);
    }
    ByteBuffer slice = in.slice();
    slice.limit(length);
    in.position(in.position() + length);
    // Strict decoding: a record is ours and well-formed, so malformed UTF-8 means corruption.
    return StandardCharsets.UTF_8
        .newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT)
        .decode(slice)
        .toString();
  }

  private static void putInstant(ByteBuffer out, Instant t) {
    out.putLong(t.getEpochSecond()).putInt(t.getNano());
  }

  private static Instant getInstant(ByteBuffer in) {
    long seconds = in.getLong();
    int nanos = in.getInt();
    if (nanos < 0 || nanos > 999_999_999) {
      throw new IllegalArgumentException("bad nanoseconds " + nanos);
    }
    return Instant.ofEpochSecond(seconds, nanos);
  }

  private static byte stateCode(KekState state) {
    return switch (state) {
      case ENABLED -> 1;
      case DISABLED -> 2;
      case PENDING_DESTRUCTION -> 3;
      case DESTROYED -> 4;
      case RETIRED -> 5;
    };
  }

  private static KekState state(byte code) {
    return switch (code) {
      case 1 -> KekState.ENABLED;
      case 2 -> KekState.DISABLED;
      case 3 -> KekState.PENDING_DESTRUCTION;
      case 4 -> KekState.DESTROYED;
      case 5 -> KekState.RETIRED;
      default -> throw new IllegalArgumentException("unknown state code " + code);
    };
  }
}
