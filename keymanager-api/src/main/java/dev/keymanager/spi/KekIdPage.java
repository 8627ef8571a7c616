package dev.keymanager.spi;

import static java.util.Objects.requireNonNull;

import java.util.Comparator;
import java.util.List;

/**
 * One page of {@link KekStore#kekIds(String, int)}: the ids of the KEKs that follow {@code after}
 * in {@link #ORDER}, and a description of each stored record met on this page that cannot be read.
 *
 * @param ids the readable KEK ids of this page, strictly ascending in {@link #ORDER}, each greater
 *     than the {@code after} asked for; at most the {@code limit} asked for
 * @param unreadable one line per record (or group of records) on this page that could not be read:
 *     where it is (a file, a row key) and why, never key material; empty when every record was read
 * @param hasMore {@code false} if no KEK id follows the last of {@code ids}; {@code true} if one
 *     may (the next page starts after the last id)
 */
public record KekIdPage(List<String> ids, List<String> unreadable, boolean hasMore) {
  /**
   * The order of KEK ids in every store: by Unicode code point, which is the order of their UTF-8
   * bytes (PostgreSQL {@code COLLATE "C"} on a UTF-8 database, a byte-wise sort of file names). It
   * differs from {@link String#compareTo}, which compares UTF-16 code units, only where one id has
   * a supplementary character (U+10000 and up) and the other a character from U+E000 to U+FFFF at
   * the same place: code point order puts the supplementary character last.
   */
  public static final Comparator<String> ORDER = KekIdPage::compareCodePoints;

  /** Copies both lists. */
  public KekIdPage {
    ids = List.copyOf(requireNonNull(ids, "ids"));
    unreadable = List.copyOf(requireNonNull(unreadable, "unreadable"));
  }

  /**
   * Compares by code point without decoding: UTF-16 code unit order is code point order except that
   * surrogates (U+D800 to U+DFFF, which encode U+10000 and up) sort below U+E000 to U+FFFF; moving
   * them above that range at the first difference corrects it for well-formed strings.
   */
  private static int compareCodePoints(String a, String b) {
    int n = Math.min(a.length(), b.length());
    for (int i = 0; i < n; i++) {
      char x = a.charAt(i);
      char y = b.charAt(i);
      if (x != y) {
        return fixUp(x) - fixUp(y);
      }
    }
    return a.length() - b.length();
  }

  private static int fixUp(char c) {
    if (c >= 0xD800) {
      return c < 0xE000 ? c + 0x2000 : c - 0x800;
    }
    return c;
  }
}
