package dev.keymanager.spi;

import static java.util.Objects.requireNonNull;

import java.util.List;

/**
 * What {@link KekStore#listKekIds()} found: the id of every KEK whose records can be read, and a
 * description of each stored record that cannot.
 *
 * @param ids the readable KEK ids, sorted in natural {@link String} order, each once
 * @param unreadable one line per record (or group of records) that could not be read: where it is
 *     (a file, a row key) and why, never key material; empty when every record was read
 */
public record KekIdListing(List<String> ids, List<String> unreadable) {
  /** Copies both lists. */
  public KekIdListing {
    ids = List.copyOf(requireNonNull(ids, "ids"));
    unreadable = List.copyOf(requireNonNull(unreadable, "unreadable"));
  }
}
