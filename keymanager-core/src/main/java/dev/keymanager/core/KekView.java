package dev.keymanager.core;

import dev.keymanager.KekDescription;
import dev.keymanager.KekNotFoundException;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekStore;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One KEK as core reads it: its head (stored, or derived from a store of the layout before heads)
 * and its version records. The head alone decides the KEK's state, primary version, minimum
 * decryption version and destruction time; a version record above the primary version is never
 * used.
 *
 * <p>The head is read before the version records: a rotation writes its version record before it
 * moves the head, so every version a head names is among the records read after it.
 *
 * @param head the head; revision 1 and not stored when {@code stored} is false
 * @param stored whether the head is stored; if not, the first write creates it (migration)
 * @param records every stored version record, oldest first, orphans above the primary included
 */
record KekView(KekHead head, boolean stored, List<KeyEncryptionKey> records) {
  KekView {
    records = List.copyOf(records);
  }

  /** The KEK's current view, or empty if it does not exist. */
  static Optional<KekView> read(KekStore store, String kekId) {
    for (int attempt = 1; ; attempt++) {
      Optional<KekHead> head = store.head(kekId);
      List<KeyEncryptionKey> records = store.versions(kekId);
      if (head.isPresent()) {
        check(head.get(), records);
        return Optional.of(new KekView(head.get(), true, records));
      }
      if (records.isEmpty()) {
        return Optional.empty();
      }
      // The layout before heads, or a creation that has not written its head yet. A head created
      // after the first read may have let a rotation add a version record: look once more.
      if (store.head(kekId).isEmpty()) {
        return Optional.of(new KekView(legacyHead(records), false, records));
      }
      KekLifecycle.checkAttempts(attempt, kekId, "read");
    }
  }

  /** The KEK's current view; {@link KekNotFoundException} if it does not exist. */
  static KekView existing(KekStore store, String kekId) {
    return read(store, kekId)
        .orElseThrow(() -> new KekNotFoundException(kekId, "No KEK with id " + kekId + " exists"));
  }

  /**
   * Writes {@code next} (built from this view's head, revision not yet set) as the next head: a
   * compare-and-set on the stored head, or the creation of the first head of a KEK of the layout
   * before heads.
   *
   * @return the head written, or empty if another writer changed the head first
   */
  Optional<KekHead> write(KekStore store, KekHead.Builder next) {
    KekHead written;
    if (stored) {
      written = next.revision(head.revision() + 1).build();
      return store.compareAndSetHead(head.revision(), written)
          ? Optional.of(written)
          : Optional.empty();
    }
    written = next.revision(1).build();
    return store.createHead(written) ? Optional.of(written) : Optional.empty();
  }

  /** The head a KEK of the layout before heads has, derived from its version records' states. */
  static KekHead legacyHead(List<KeyEncryptionKey> records) {
    KeyEncryptionKey primary = records.get(records.size() - 1);
    if (primary.state() == KekState.RETIRED) {
      throw KekStoreException.corrupt(
          "KEK " + primary.ref() + " is the newest version but RETIRED; restore from a backup",
          null);
    }
    int minimum = 1;
    for (KeyEncryptionKey v : records) {
      if (v.state() == KekState.RETIRED) {
        minimum = v.version() + 1;
      }
    }
    return KekHead.builder()
        .id(primary.id())
        .state(primary.state())
        .primaryVersion(primary.version())
        .minimumDecryptionVersion(minimum)
        .cmkUri(primary.cmkUri())
        .destroyAt(primary.destroyAt().orElse(null))
        .updatedAt(primary.updatedAt())
        .build();
  }

  private static void check(KekHead head, List<KeyEncryptionKey> records) {
    for (KeyEncryptionKey r : records) {
      if (r.version() == head.primaryVersion()) {
        return;
      }
    }
    throw KekStoreException.corrupt(
        "The head of KEK "
            + head.id()
            + " names primary version "
            + head.primaryVersion()
            + " but the store holds no record of it; restore the store from a backup",
        null);
  }

  /** The version records the head names (up to the primary version), oldest first. */
  List<KeyEncryptionKey> named() {
    List<KeyEncryptionKey> named = new ArrayList<>();
    for (KeyEncryptionKey r : records) {
      if (r.version() <= head.primaryVersion()) {
        named.add(r);
      }
    }
    return named;
  }

  /** The primary version's record. */
  KeyEncryptionKey primaryRecord() {
    for (KeyEncryptionKey r : records) {
      if (r.version() == head.primaryVersion()) {
        return r;
      }
    }
    throw new IllegalStateException("checked on read");
  }

  /** The highest stored version, orphans included. */
  int highestStored() {
    return records.isEmpty() ? 0 : records.get(records.size() - 1).version();
  }

  /** Whether DEKs under this named version may be wrapped (primary only) or unwrapped now. */
  boolean usable(KeyEncryptionKey record) {
    return record.version() <= head.primaryVersion() && stateOf(record).isUsable();
  }

  /** The state {@code version} has under this head, as {@link KekDescription} shows it. */
  KekState stateOf(KeyEncryptionKey record) {
    if (record.state() == KekState.DESTROYED || head.state() == KekState.DESTROYED) {
      return KekState.DESTROYED;
    }
    if (record.version() < head.minimumDecryptionVersion()) {
      return KekState.RETIRED;
    }
    return head.state();
  }

  /**
   * The description users see: every version the head names, each with the state the head gives it
   * (the stored records' own states are those of the layout before heads, or {@code ENABLED}).
   */
  KekDescription describe() {
    List<KeyEncryptionKey> shown = new ArrayList<>();
    for (KeyEncryptionKey r : named()) {
      shown.add(effective(r));
    }
    return new KekDescription(shown);
  }

  /** {@code record} with the state, destruction time and update time this head gives it. */
  KeyEncryptionKey effective(KeyEncryptionKey record) {
    KekState state = stateOf(record);
    Optional<Instant> destroyAt =
        state == KekState.PENDING_DESTRUCTION ? head.destroyAt() : Optional.empty();
    if (state == record.state() && destroyAt.equals(record.destroyAt())) {
      return record;
    }
    KeyEncryptionKey.Builder b = record.toBuilder().state(state).destroyAt(destroyAt.orElse(null));
    if (state == KekState.DESTROYED) {
      b.wrappedMaterial(new byte[0]);
    }
    Instant updated = head.updatedAt();
    if (updated.isAfter(record.updatedAt())) {
      b.updatedAt(updated);
    }
    return b.build();
  }

  /** The reference of the primary version. */
  KekRef primary() {
    return head.primary();
  }
}
