package dev.keymanager;

import static java.util.Objects.requireNonNull;

/**
 * Names one version of a KEK.
 *
 * <p><b>Ids.</b> A KEK id is well-formed Unicode text: 1 to {@value #MAX_ID_BYTES} UTF-8 bytes, no
 * control characters, no unpaired UTF-16 surrogate (which no UTF-8 encoder, database driver or file
 * name can carry, so two such ids could collapse into one stored id). Ids are <em>not</em>
 * normalised: two ids are the same KEK exactly when they are equal as Java strings, code point for
 * code point. {@code "caf\u00e9"} (precomposed) and {@code "cafe\u0301"} (decomposed) are two
 * different KEKs, as are {@code "Tenant"} and {@code "tenant"}, and {@code "a"} and {@code "a "}.
 * An application that takes ids from people should normalise them itself (for example with {@link
 * java.text.Normalizer} to NFC) before passing them in. Every {@link dev.keymanager.spi.KekStore}
 * must keep ids exactly so; the test kit's contract checks it.
 *
 * @param id the KEK's id, as above
 * @param version the KEK version, from 1
 */
public record KekRef(String id, int version) {
  /** The longest KEK id, in UTF-8 bytes. */
  public static final int MAX_ID_BYTES = 255;

  /**
   * Validates the id and version.
   *
   * @throws IllegalArgumentException if the id is empty, too long, holds control characters or an
   *     unpaired surrogate, or the version is below 1
   */
  public KekRef {
    checkId(id);
    if (version < 1) {
      throw new IllegalArgumentException("KEK version must be >= 1: " + version);
    }
  }

  /**
   * Checks that {@code id} is a valid KEK id and returns it.
   *
   * @throws IllegalArgumentException if the id is empty, longer than {@value #MAX_ID_BYTES} UTF-8
   *     bytes, or holds a control character or an unpaired UTF-16 surrogate
   */
  public static String checkId(String id) {
    requireNonNull(id, "id");
    if (id.isEmpty()) {
      throw new IllegalArgumentException("KEK id must not be empty");
    }
    // Checked before the length: getBytes(UTF_8) silently turns a lone surrogate into '?'.
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      if (Character.isISOControl(c)) {
        throw new IllegalArgumentException("KEK id holds a control character at index " + i);
      }
      if (Character.isHighSurrogate(c)
          && i + 1 < id.length()
          && Character.isLowSurrogate(id.charAt(i + 1))) {
        i++; // a well-formed pair: one supplementary code point
      } else if (Character.isSurrogate(c)) {
        throw new IllegalArgumentException(
            "KEK id holds an unpaired UTF-16 surrogate at index "
                + i
                + " (U+"
                + Integer.toHexString(c).toUpperCase(java.util.Locale.ROOT)
                + "): ids must be well-formed Unicode");
      }
    }
    if (id.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_ID_BYTES) {
      throw new IllegalArgumentException("KEK id longer than " + MAX_ID_BYTES + " UTF-8 bytes");
    }
    return id;
  }

  @Override
  public String toString() {
    return id + " v" + version;
  }
}
