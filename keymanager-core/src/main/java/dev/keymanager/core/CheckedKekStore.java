package dev.keymanager.core;

import dev.keymanager.KekRef;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekChangeListener;
import dev.keymanager.spi.KekChangeSubscription;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import java.util.List;
import java.util.Optional;

/**
 * The {@link KekStore} as the key manager sees it: every read is checked to return exactly what was
 * asked for, so that a store that maps two ids to one (a lossy encoding, a case-insensitive or
 * normalising collation, a bug) can never make one tenant's call use another tenant's KEK.
 *
 * <ul>
 *   <li>{@link #find}: the record carries the id and version asked for.
 *   <li>{@link #head}: the head carries the id asked for.
 *   <li>{@link #versions}: every record carries the id asked for, versions strictly ascending.
 *   <li>{@link #kekIds}: every id is a valid KEK id, greater than {@code after} and strictly
 *       ascending in {@link KekIdPage#ORDER} (sorted, each once); no more than {@code limit}, and a
 *       page short of it is the last.
 * </ul>
 *
 * A mismatch is a non-retryable {@link KekStoreException} naming the store and both ids (ids are
 * not secret; no record material is quoted). Writes pass through unchanged. Every read path of the
 * key manager (wrap, unwrap, the lifecycle, listing, rewrap) goes through this one wrapper.
 */
final class CheckedKekStore implements KekStore {
  private final KekStore store;

  private CheckedKekStore(KekStore store) {
    this.store = store;
  }

  /** {@code store}, checked; a store that is checked already is returned as it is. */
  static KekStore of(KekStore store) {
    return store instanceof CheckedKekStore ? store : new CheckedKekStore(store);
  }

  @Override
  public Optional<KeyEncryptionKey> find(String kekId, int version) {
    Optional<KeyEncryptionKey> found = store.find(kekId, version);
    if (found == null) {
      throw broken("find(" + kekId + ", " + version + ") returned null instead of an Optional");
    }
    found.ifPresent(
        record -> {
          if (!record.id().equals(kekId) || record.version() != version) {
            throw mismatch("find", new KekRef(kekId, version).toString(), record);
          }
        });
    return found;
  }

  @Override
  public List<KeyEncryptionKey> versions(String kekId) {
    List<KeyEncryptionKey> versions = store.versions(kekId);
    if (versions == null) {
      throw broken("versions(" + kekId + ") returned null instead of a list");
    }
    int previous = 0;
    for (KeyEncryptionKey record : versions) {
      if (!record.id().equals(kekId)) {
        throw mismatch("versions", kekId, record);
      }
      if (record.version() <= previous) {
        throw broken(
            "versions("
                + kekId
                + ") listed v"
                + record.version()
                + " after v"
                + previous
                + "; a store lists each version once, oldest first");
      }
      previous = record.version();
    }
    return versions;
  }

  @Override
  public KekIdPage kekIds(String after, int limit) {
    KekIdPage page = store.kekIds(after, limit);
    if (page == null) {
      throw broken("kekIds(\"" + after + "\", " + limit + ") returned null instead of a page");
    }
    if (page.ids().size() > limit) {
      throw broken(
          "kekIds(\""
              + after
              + "\", "
              + limit
              + ") returned "
              + page.ids().size()
              + " ids; a page holds at most the limit");
    }
    if (page.ids().size() < limit && page.hasMore()) {
      throw broken(
          "kekIds(\""
              + after
              + "\", "
              + limit
              + ") returned a short page that says more follow; a page is full unless it is the"
              + " last");
    }
    String previous = after;
    for (String id : page.ids()) {
      try {
        KekRef.checkId(id);
      } catch (IllegalArgumentException | NullPointerException e) {
        throw KekStoreException.permanent(
            "KEK store " + store + " listed an invalid KEK id: " + e.getMessage(), e);
      }
      if (KekIdPage.ORDER.compare(previous, id) >= 0) {
        throw broken(
            "kekIds(\""
                + after
                + "\", "
                + limit
                + ") listed \""
                + id
                + "\" after \""
                + previous
                + "\"; a page lists ids greater than after, in code point order, each once");
      }
      previous = id;
    }
    return page;
  }

  @Override
  public boolean create(KeyEncryptionKey record) {
    return store.create(record);
  }

  @Override
  public boolean compareAndSet(long expectedRevision, KeyEncryptionKey next) {
    return store.compareAndSet(expectedRevision, next);
  }

  @Override
  public Optional<KekHead> head(String kekId) {
    Optional<KekHead> head = store.head(kekId);
    if (head == null) {
      throw broken("head(" + kekId + ") returned null instead of an Optional");
    }
    head.ifPresent(
        h -> {
          if (!h.id().equals(kekId)) {
            throw KekStoreException.permanent(
                "KEK store "
                    + store
                    + " answered head for "
                    + kekId
                    + " with the head of "
                    + h.id()
                    + ": the store does not keep KEK ids apart. Nothing was used; fix the store"
                    + " before retrying",
                null);
          }
        });
    return head;
  }

  @Override
  public boolean createHead(KekHead head) {
    return store.createHead(head);
  }

  @Override
  public boolean compareAndSetHead(long expectedRevision, KekHead next) {
    return store.compareAndSetHead(expectedRevision, next);
  }

  /** The store's own feed: notices only name KEKs to drop, so there is nothing to check. */
  @Override
  public Optional<KekChangeSubscription> subscribe(KekChangeListener listener) {
    Optional<KekChangeSubscription> subscription = store.subscribe(listener);
    if (subscription == null) {
      throw broken("subscribe returned null instead of an Optional");
    }
    return subscription;
  }

  @Override
  public void close() {
    store.close();
  }

  @Override
  public String toString() {
    return store.toString();
  }

  private KekStoreException mismatch(String call, String asked, KeyEncryptionKey returned) {
    return KekStoreException.permanent(
        "KEK store "
            + store
            + " answered "
            + call
            + " for "
            + asked
            + " with the record of "
            + returned.ref()
            + ": the store does not keep KEK ids apart (a lossy encoding or a case-insensitive"
            + " or normalising collation?). Nothing was used; fix the store before retrying",
        null);
  }

  private KekStoreException broken(String what) {
    return KekStoreException.permanent("KEK store " + store + " is broken: " + what, null);
  }
}
