package dev.keymanager;

import static java.util.Objects.requireNonNull;

/**
 * Names one version of a KEK.
 *
 * @param id the KEK's id: 1 to {@value #MAX_ID_BYTES} UTF-8 bytes, no control characters
 * @param version the KEK version, from 1
 */
public record KekRef(String id, int version) {
  /** The longest KEK id, in UTF-8 bytes. */
  public static final int MAX_ID_BYTES = 255;

  /**
   * Validates the id and version.
   *
   * @throws IllegalArgumentException if the id is empty, too long or holds control characters, or
   *     the version is below 1
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
   *     bytes, or holds control characters
   */
  public static String checkId(String id) {
    requireNonNull(id, "id");
    if (id.isEmpty()) {
      throw new IllegalArgumentException("KEK id must not be empty");
    }
    if (id.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_ID_BYTES) {
      throw new IllegalArgumentException("KEK id longer than " + MAX_ID_BYTES + " UTF-8 bytes");
    }
    for (int i = 0; i < id.length(); i++) {
      if (Character.isISOControl(id.charAt(i))) {
        throw new IllegalArgumentException("KEK id holds a control character at index " + i);
      }
    }
    return id;
  }

  @Override
  public String toString() {
    return id + " v" + version;
  }
}
