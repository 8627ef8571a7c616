package dev.keymanager;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.Objects.requireNonNull;

import dev.keymanager.internal.ApiBridge;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A set of string pairs that a wrapped key is bound to, such as {@code tenant=acme, table=orders}.
 *
 * <p>The context is not secret and not stored inside a wrapped key; it is authenticated as
 * associated data, so a wrapped key presented with any other context fails to unwrap. Callers keep
 * the context beside the data or derive it from where the data lives.
 *
 * <p>The canonical encoding is what gets authenticated: version byte {@code 1}, the entry count as
 * an unsigned 16-bit big-endian integer, then for each entry, sorted by the unsigned bytes of the
 * UTF-8 key, a 16-bit key length, the key, a 32-bit value length and the value. Two contexts with
 * equal entries have equal encodings regardless of insertion order.
 *
 * <p>Values may be sensitive (customer names, paths), so {@link #toString()} shows the keys only.
 * Instances are immutable and thread-safe.
 */
public final class KeyContext {
  /** The most entries a context may hold. */
  public static final int MAX_ENTRIES = 256;

  /** The longest UTF-8 key or value, in bytes. */
  public static final int MAX_LENGTH = 4096;

  private static final KeyContext EMPTY = new KeyContext(Map.of(), new byte[] {1, 0, 0});

  static {
    ApiBridge.registerContextEncoding(context -> context.encoded);
  }

  private final Map<String, String> entries; // in canonical order, unmodifiable
  private final byte[] encoded; // never handed out without a copy

  private KeyContext(Map<String, String> entries, byte[] encoded) {
    this.entries = entries;
    this.encoded = encoded;
  }

  /** The context with no entries. */
  public static KeyContext empty() {
    return EMPTY;
  }

  /**
   * A context holding a copy of {@code entries}.
   *
   * @throws IllegalArgumentException if a key is empty, a key or value is longer than {@link
   *     #MAX_LENGTH} UTF-8 bytes, or there are more than {@link #MAX_ENTRIES} entries
   * @throws NullPointerException if the map, a key or a value is null
   */
  public static KeyContext of(Map<String, String> entries) {
    requireNonNull(entries, "entries");
    if (entries.isEmpty()) {
      return EMPTY;
    }
    if (entries.size() > MAX_ENTRIES) {
      throw new IllegalArgumentException(
          "a key context holds at most " + MAX_ENTRIES + " entries: " + entries.size());
    }
    List<byte[][]> encodedEntries = new ArrayList<>(entries.size());
    for (Map.Entry<String, String> e : entries.entrySet()) {
      String key = requireNonNull(e.getKey(), "context key");
      String value = requireNonNull(e.getValue(), "context value for key " + key);
      byte[] k = key.getBytes(UTF_8);
      byte[] v = value.getBytes(UTF_8);
      if (k.length == 0) {
        throw new IllegalArgumentException("context keys must not be empty");
      }
      if (k.length > MAX_LENGTH || v.length > MAX_LENGTH) {
        throw new IllegalArgumentException(
            "context key or value longer than " + MAX_LENGTH + " UTF-8 bytes: key " + key);
      }
      encodedEntries.add(new byte[][] {k, v});
    }
    encodedEntries.sort((a, b) -> Arrays.compareUnsigned(a[0], b[0]));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(1);
    writeShort(out, encodedEntries.size());
    Map<String, String> ordered = new LinkedHashMap<>();
    for (byte[][] kv : encodedEntries) {
      writeShort(out, kv[0].length);
      out.writeBytes(kv[0]);
      writeInt(out, kv[1].length);
      out.writeBytes(kv[1]);
      ordered.put(new String(kv[0], UTF_8), new String(kv[1], UTF_8));
    }
    return new KeyContext(Collections.unmodifiableMap(ordered), out.toByteArray());
  }

  /** A context of one entry. */
  public static KeyContext of(String key, String value) {
    return of(Map.of(key, value));
  }

  /**
   * A builder for a context of several entries, in any order:
   *
   * <pre>{@code
   * KeyContext context = KeyContext.builder().put("tenant", "acme").put("table", "orders").build();
   * }</pre>
   */
  public static Builder builder() {
    return new Builder();
  }

  /** Collects the entries of a {@link KeyContext}; not thread-safe, reusable. */
  public static final class Builder {
    private final Map<String, String> entries = new LinkedHashMap<>();

    private Builder() {}

    /**
     * Adds an entry.
     *
     * @throws IllegalArgumentException if {@code key} was put already (a context cannot hold one
     *     key twice, and silently keeping either value would hide a bug)
     */
    public Builder put(String key, String value) {
      requireNonNull(key, "key");
      requireNonNull(value, "value for key " + key);
      if (entries.putIfAbsent(key, value) != null) {
        throw new IllegalArgumentException("context key put twice: " + key);
      }
      return this;
    }

    /**
     * The context of the entries put so far.
     *
     * @throws IllegalArgumentException as {@link KeyContext#of(Map)}
     */
    public KeyContext build() {
      return of(entries);
    }
  }

  /** The entries, in canonical order; unmodifiable. */
  public Map<String, String> entries() {
    return entries;
  }

  /** The canonical encoding described in the class comment; a fresh copy on each call. */
  public byte[] encode() {
    return encoded.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof KeyContext other && Arrays.equals(encoded, other.encoded);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(encoded);
  }

  /** The keys only: values may be sensitive and never reach logs through this method. */
  @Override
  public String toString() {
    return "KeyContext" + entries.keySet();
  }

  private static void writeShort(ByteArrayOutputStream out, int v) {
    out.write(v >>> 8);
    out.write(v);
  }

  private static void writeInt(ByteArrayOutputStream out, int v) {
    out.write(v >>> 24);
    out.write(v >>> 16);
    out.write(v >>> 8);
    out.write(v);
  }
}
