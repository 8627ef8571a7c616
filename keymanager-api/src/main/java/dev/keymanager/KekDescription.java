package dev.keymanager;

import static java.util.Objects.requireNonNull;

import java.net.URI;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Every stored version of one KEK, and what follows from them: the KEK's state, its primary version
 * and its minimum decryption version. Holds no plaintext.
 *
 * @param versions every version, oldest first; not empty
 */
public record KekDescription(List<KeyEncryptionKey> versions) {
  /**
   * Copies the list.
   *
   * @throws IllegalArgumentException if it is empty, mixes KEK ids, or is not ordered by version
   */
  public KekDescription {
    versions = List.copyOf(requireNonNull(versions, "versions"));
    if (versions.isEmpty()) {
      throw new IllegalArgumentException("a KEK has at least one version");
    }
    for (int i = 1; i < versions.size(); i++) {
      KeyEncryptionKey previous = versions.get(i - 1);
      KeyEncryptionKey v = versions.get(i);
      if (!v.id().equals(previous.id()) || v.version() <= previous.version()) {
        throw new IllegalArgumentException(
            "versions must be of one KEK, oldest first: " + versions);
      }
    }
  }

  /** The KEK id. */
  public String id() {
    return primary().id();
  }

  /** The primary (newest) version's record: the one new DEKs are wrapped under. */
  public KeyEncryptionKey primary() {
    return versions.get(versions.size() - 1);
  }

  /** The KEK's state: its primary version's state. */
  public KekState state() {
    return primary().state();
  }

  /** The primary version's number. */
  public int primaryVersion() {
    return primary().version();
  }

  /** The URI of the CMK that wraps the primary version. */
  public URI cmkUri() {
    return primary().cmkUri();
  }

  /** When a scheduled destruction falls due; present while the KEK is pending destruction. */
  public Optional<Instant> destroyAt() {
    return primary().destroyAt();
  }

  /**
   * The lowest version whose DEKs may still unwrap: one above the highest {@link KekState#RETIRED}
   * version, or 1 if none is retired.
   */
  public int minimumDecryptionVersion() {
    int min = 1;
    for (KeyEncryptionKey v : versions) {
      if (v.state() == KekState.RETIRED) {
        min = v.version() + 1;
      }
    }
    return min;
  }
}
