package dev.keymanager.cli;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.envelope.EnvelopeCipher;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Decodes what {@code inspect} is given: a wrapped key ({@code KW...}) or the header of an envelope
 * payload ({@code KE...}), raw or as hex or Base64 text. Reports format fields and lengths only,
 * never key bytes; anything else is a {@link CliException} with exit code 2 and a one-line reason.
 */
final class Inspector {
  /** Enough bytes for every header: 6 fixed, 1024 wrapped key, 1 + 40 streaming or 12 nonce. */
  static final int HEADER_BYTES = 6 + 1024 + 41;

  private static final Pattern HEX = Pattern.compile("(?i)(0x)?[0-9a-f]+");
  private static final Pattern BASE64 = Pattern.compile("[A-Za-z0-9+/_-]+={0,2}");

  private Inspector() {}

  /**
   * Interprets input bytes: binary if they start with a keymanager magic, else text holding hex or
   * Base64 of such bytes.
   */
  static byte[] decodeInput(byte[] raw) {
    if (hasMagic(raw)) {
      return raw;
    }
    String text = new String(raw, StandardCharsets.ISO_8859_1).strip();
    if (text.isEmpty()) {
      throw CliException.invalidInput("empty input: nothing to inspect");
    }
    return decodeText(text);
  }

  static byte[] decodeText(String text) {
    String t = text.replaceAll("\\s+", "");
    if (HEX.matcher(t).matches() && (t.length() % 2 == 0)) {
      return HexFormat.of().parseHex(t.startsWith("0x") || t.startsWith("0X") ? t.substring(2) : t);
    }
    if (BASE64.matcher(t).matches()) {
      try {
        return t.indexOf('-') >= 0 || t.indexOf('_') >= 0
            ? Base64.getUrlDecoder().decode(t)
            : Base64.getDecoder().decode(t);
      } catch (IllegalArgumentException e) {
        throw CliException.invalidInput("input is not valid Base64: " + e.getMessage());
      }
    }
    throw CliException.invalidInput(
        "input is neither a wrapped key nor an envelope payload, in binary, hex or Base64");
  }

  static byte[] decodeHex(String text) {
    String t = text.strip();
    if (!HEX.matcher(t).matches() || t.length() % 2 != 0) {
      throw CliException.invalidInput("--hex: not an even number of hex digits");
    }
    return HexFormat.of().parseHex(t.startsWith("0x") || t.startsWith("0X") ? t.substring(2) : t);
  }

  static byte[] decodeBase64(String text) {
    try {
      return Base64.getMimeDecoder().decode(text.strip().replace('-', '+').replace('_', '/'));
    } catch (IllegalArgumentException e) {
      throw CliException.invalidInput("--base64: " + e.getMessage());
    }
  }

  static boolean hasMagic(byte[] b) {
    return b.length >= 2 && b[0] == 'K' && (b[1] == 'W' || b[1] == 'E');
  }

  /**
   * The fields of {@code bytes}, the start of a wrapped key or payload; {@code totalLength} is the
   * whole input's length (a payload may be longer than the bytes read).
   */
  static Map<String, Object> inspect(byte[] bytes, long totalLength) {
    if (bytes.length >= 2 && bytes[0] == 'K' && bytes[1] == 'W') {
      return wrappedKey(bytes, "wrapped-key");
    }
    if (bytes.length >= 2 && bytes[0] == 'K' && bytes[1] == 'E') {
      return envelope(bytes, totalLength);
    }
    throw CliException.invalidInput(
        "not a keymanager wrapped key (magic KW) or envelope payload (magic KE)");
  }

  private static Map<String, Object> wrappedKey(byte[] bytes, String format) {
    WrappedKey w;
    try {
      w = WrappedKey.decode(bytes);
    } catch (InvalidCiphertextException e) {
      throw CliException.invalidInput(ExitCodes.describe(e));
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", format);
    m.put("formatVersion", w.formatVersion());
    m.put("algorithm", w.algorithm().name());
    m.put("kekId", w.kek().id());
    m.put("kekVersion", w.kek().version());
    m.put("length", w.length());
    // Offsets from the documented layout: magic, version, algorithm, id length, id, version.
    int header = 5 + (bytes[4] & 0xFF) + 4;
    int parameters = w.algorithm().parametersLength();
    m.put("headerLength", header);
    m.put("parametersLength", parameters);
    m.put("ciphertextLength", w.length() - header - parameters);
    return m;
  }

  private static Map<String, Object> envelope(byte[] bytes, long totalLength) {
    KekRef ref;
    try {
      ref = EnvelopeCipher.kekOf(bytes);
    } catch (InvalidCiphertextException e) {
      throw CliException.invalidInput(ExitCodes.describe(e));
    }
    // kekOf checked magic, version, kind and the wrapped key's bounds and structure.
    int kind = bytes[3] & 0xFF;
    int w = ((bytes[4] & 0xFF) << 8) | (bytes[5] & 0xFF);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", "envelope-payload");
    m.put("formatVersion", bytes[2] & 0xFF);
    m.put("kind", kind == 1 ? "one-shot" : "streaming");
    Map<String, Object> dek = wrappedKey(Arrays.copyOfRange(bytes, 6, 6 + w), "wrapped-key");
    m.put("algorithm", kind == 1 ? "AES256_GCM" : "AES256_GCM_HKDF_STREAMING");
    m.put("kekId", ref.id());
    m.put("kekVersion", ref.version());
    m.put("wrappedDekAlgorithm", dek.get("algorithm"));
    m.put("wrappedDekLength", w);
    m.put("totalLength", totalLength);
    if (kind == 1) {
      long header = 6L + w + 12;
      long body = totalLength - header - 16;
      if (body < 0) {
        throw CliException.invalidInput(
            "Invalid payload: truncated one-shot payload (" + totalLength + " bytes)");
      }
      m.put("headerLength", header);
      m.put("plaintextLength", body);
    } else {
      if (bytes.length < 6 + w + 1) {
        throw CliException.invalidInput("Invalid payload: truncated streaming header");
      }
      int log2 = bytes[6 + w] & 0xFF;
      if (log2 < 12 || log2 > 22) {
        throw CliException.invalidInput(
            "Invalid payload: segment size 2^" + log2 + " outside 4 KiB..4 MiB");
      }
      long header = 6L + w + 1 + 40;
      if (totalLength < header) {
        throw CliException.invalidInput("Invalid payload: truncated streaming header");
      }
      int segment = 1 << log2;
      m.put("headerLength", header);
      m.put("segmentSize", segment);
      long rest = totalLength - header;
      long firstSegment = segment - header;
      long segments = rest <= firstSegment ? 1 : 1 + ceilDiv(rest - firstSegment, segment);
      m.put("segments", segments);
      m.put("plaintextLength", Math.max(0, rest - 16L * segments));
    }
    return m;
  }

  private static long ceilDiv(long a, long b) {
    return (a + b - 1) / b;
  }

  /** The human-readable lines of {@link #inspect}'s result. */
  static String text(Map<String, Object> fields) {
    StringBuilder b = new StringBuilder();
    for (Map.Entry<String, Object> e : fields.entrySet()) {
      if (b.length() > 0) {
        b.append(System.lineSeparator());
      }
      b.append(String.format("%-20s %s", e.getKey(), e.getValue()));
    }
    return b.toString();
  }
}
